"""One-segment SMS invitations, the sender id, and production refusing development secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from palaute_collector.settings import CollectorSettings
from palaute_consent.settings import ConsentSettings
from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.sms import report_sms_cost, segments
from palaute_dispatcher.templates import render
from palaute_runtime import i18n

LANGUAGES = i18n.languages().tags()


def test_gsm7_counts_extension_characters_twice_and_anything_else_makes_it_ucs2() -> None:
    assert segments("a" * 160).count == 1
    assert segments("a" * 161).count == 2
    assert segments("a" * 306).count == 2
    assert segments("a" * 307).count == 3
    assert segments("€" * 80).units == 160
    assert segments("€" * 80 + "a").count == 2
    assert segments("Hyvää päivää, Åsa!").encoding == "GSM-7"
    assert segments("Kiitos 🙂").encoding == "UCS-2"
    assert segments("õ" * 70).count == 1
    assert segments("õ" * 71).count == 2
    assert segments("🙂" * 35).units == 70


@pytest.mark.parametrize("organization", ["Palaute", "Kymenlaakson Sähkö", "OP Osuuspankki 12345"])
def test_every_sms_invitation_and_reminder_is_one_gsm7_segment_with_a_real_organisation_name(
    organization: str,
) -> None:
    for language in LANGUAGES:
        for reminder in (False, True):
            text = render(
                "sms",
                language,
                organization=organization,
                survey_url=None,
                valid_days=14,
                reminder=reminder,
            )
            cost = segments(text.text)
            assert (cost.encoding, cost.count) == ("GSM-7", 1), (language, reminder, cost)


def test_a_long_organisation_name_is_reported_with_its_cost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    costs = report_sms_cost("Pohjois-Pohjanmaan Sairaanhoitopiirin Kuntayhtymä")
    assert all(cost.count == 2 for cost in costs.values())
    assert "sms_invitation_longer_than_one_segment" in capsys.readouterr().out


@pytest.mark.parametrize("sender", ["Palaute", "OP", "Kotka 2", "+358401234567"])
def test_a_valid_sender_id_is_taken(sender: str) -> None:
    assert DispatcherSettings(sms_sender=sender).sms_sender == sender


@pytest.mark.parametrize("sender", ["Palautekysely", "12345", "Pal@ute", "", "+0123", "Sähkö"])
def test_an_invalid_sender_id_is_refused(sender: str) -> None:
    with pytest.raises(ValidationError, match="alphanumeric id of at most 11"):
        DispatcherSettings(sms_sender=sender)


def test_production_refuses_every_development_secret() -> None:
    with pytest.raises(ValidationError) as refused:
        DispatcherSettings(env="production", local_testing=True)
    for name in (
        "RECIPIENT_PEPPER",
        "UNSUBSCRIBE_KEY",
        "PARTNER_API_KEY",
        "PARTNER_RECEIPT_SECRET",
        "TOKEN_SECRET",
    ):
        assert f"PALAUTE_{name}" in str(refused.value)
    own = {
        "recipient_pepper": "own-pepper",
        "unsubscribe_key": "own-key",
        "staff_api_token": "own-staff-token",
    }
    with pytest.raises(ValidationError, match="PALAUTE_STAFF_API_TOKEN still has its"):
        CollectorSettings(
            env="production",
            local_testing=True,
            partner_webhook_secret="own-secret",
            answer_seal_key="own-seal-key",
            recipient_pepper="own-pepper",
            unsubscribe_key="own-key",
        )
    with pytest.raises(ValidationError, match="PALAUTE_ANSWER_SEAL_KEY still has its"):
        CollectorSettings(
            env="production", local_testing=True, partner_webhook_secret="own-secret", **own
        )
    with pytest.raises(ValidationError, match="PALAUTE_PARTNER_WEBHOOK_SECRET still has its"):
        CollectorSettings(
            env="production", local_testing=True, answer_seal_key="own-seal-key", **own
        )
    with pytest.raises(ValidationError, match="PALAUTE_RECIPIENT_PEPPER"):
        ConsentSettings(env="production", local_testing=True)
    chain = {"audit_chain_key": "own-chain-key"}
    with pytest.raises(ValidationError, match="PALAUTE_REGISTER_AUDIT_KEY still has its"):
        ConsentSettings(
            env="production",
            local_testing=True,
            officer_session_key="own-session-key",
            **own,
            **chain,
        )
    with pytest.raises(ValidationError, match="PALAUTE_OFFICER_SESSION_KEY still has its"):
        ConsentSettings(
            env="production", local_testing=True, register_audit_key="own-audit-key", **own, **chain
        )
    with pytest.raises(ValidationError, match="PALAUTE_AUDIT_CHAIN_KEY still has its"):
        ConsentSettings(
            env="production",
            local_testing=True,
            register_audit_key="own-audit-key",
            officer_session_key="own-session-key",
            **own,
        )
    assert (
        ConsentSettings(
            env="production",
            local_testing=True,
            register_audit_key="own-audit-key",
            officer_session_key="own-session-key",
            **own,
            **chain,
        ).env
        == "production"
    )
    assert DispatcherSettings().env == "development", "development defaults work at home"


PRODUCTION = {
    "env": "production",
    "recipient_pepper": "own-pepper",
    "unsubscribe_key": "own-key",
    "token_secret": "own-token-secret",
    "sms_sender": "+358405550100",
}
TWILIO_OWN = {"twilio_account_sid": "AC1", "twilio_auth_token": "own-token"}


def test_production_refuses_the_sandbox_and_a_relay_on_this_machine_in_one_sentence() -> None:
    with pytest.raises(ValidationError, match="PALAUTE_SMS_PROVIDER is sandbox, a stand-in"):
        DispatcherSettings(**PRODUCTION, partner_smtp_host="smtp.example.fi")
    with pytest.raises(ValidationError, match="PALAUTE_PARTNER_SMTP_HOST is 'sandbox'"):
        DispatcherSettings(
            **PRODUCTION, **TWILIO_OWN, sms_provider="twilio", partner_smtp_host="sandbox"
        )
    with pytest.raises(ValidationError, match="PALAUTE_PARTNER_SMTP_SECURITY=none in production"):
        DispatcherSettings(
            **PRODUCTION,
            **TWILIO_OWN,
            sms_provider="twilio",
            partner_smtp_host="smtp.example.fi",
            partner_smtp_security="none",
        )
    real = DispatcherSettings(
        **PRODUCTION,
        **TWILIO_OWN,
        sms_provider="twilio",
        partner_smtp_host="smtp.example.fi",
        partner_smtp_security="starttls",
    )
    assert real.partner_api_key == "sandbox-key", "the sandbox's own key is not asked for"
    assert DispatcherSettings(
        **PRODUCTION, local_testing=True, partner_api_key="k", partner_receipt_secret="r"
    ).local_testing


ELKS = {"sms_provider": "46elks", "elks_username": "u", "elks_password": "p"}
ELKS |= {"elks_webhook_secret": "w"}
TWILIO = {"sms_provider": "twilio", "twilio_account_sid": "AC1", "twilio_auth_token": "t"}


@pytest.mark.parametrize("provider", [ELKS, TWILIO], ids=["46elks", "twilio"])
def test_a_real_provider_refuses_a_sender_that_cannot_take_the_replies_the_sms_asks_for(
    provider: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match=r"default programme \(PALAUTE_SMS_SENDER\) sends"):
        DispatcherSettings(**provider)  # "Palaute": one-way at both
    path = tmp_path / "p.toml"
    path.write_text('[programmes.kouvola]\nunits = ["Kouvola"]\nsms_sender = "KSS Kouvola"\n')
    with pytest.raises(ValidationError, match="programme 'kouvola' sends SMS from 'KSS Kouvola'"):
        DispatcherSettings(**provider, sms_sender="+358405550100", programmes_file=path)
    assert DispatcherSettings(**provider, sms_sender="+358405550100").sms_sender.startswith("+")
    # The development sandbox takes any sender; Twilio's Messaging Service sends from its pool.
    assert DispatcherSettings(sms_sender="Palaute").sms_provider == "sandbox"
    if provider is TWILIO:
        assert DispatcherSettings(**provider, twilio_messaging_service_sid="MG1").sms_sender
