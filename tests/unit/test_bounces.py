"""Bounces as the dispatcher reads them: VERP return paths and RFC 3464 delivery status
notifications in the forms real mail systems send (the RFC's own example, Postfix,
Exchange Online), and the settings that turn reading on."""

from __future__ import annotations

import base64
import re
import uuid

import pytest
from pydantic import ValidationError

from palaute_consent.rules import Reachable, Suppress, Survey, choose_channel
from palaute_dispatcher.bounces import Bounce, Verp, _action, read_dsn
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.keys import Keyring

INVITATION = uuid.UUID("0b7d1f52-6f4e-4c71-9d3a-1c2b3d4e5f60")
VERP = Verp("Bounces@Palaute.Example", Keyring.parse("2:new-key,1:old-key"))
RETURN_PATH = VERP.return_path(INVITATION)


def test_a_return_path_names_its_invitation_under_every_listed_key_and_nothing_else() -> None:
    assert RETURN_PATH.startswith(f"bounces+{INVITATION.hex}-")
    assert RETURN_PATH.endswith("@palaute.example")
    assert len(RETURN_PATH.partition("@")[0]) <= 64
    assert VERP.invitation_of(RETURN_PATH) == INVITATION
    assert VERP.invitation_of(RETURN_PATH.upper()) == INVITATION  # case folded on the way
    # Made under the old key (before a rotation): still read.
    before = Verp("bounces@palaute.example", Keyring.parse("1:old-key")).return_path(INVITATION)
    assert before != RETURN_PATH
    assert VERP.invitation_of(before) == INVITATION
    # A key not listed, a changed tag, another domain or local part: not ours.
    stranger = Verp("bounces@palaute.example", Keyring.parse("9:someone-else"))
    assert VERP.invitation_of(stranger.return_path(INVITATION)) is None
    tag = RETURN_PATH.partition("@")[0][-16:]
    forged = RETURN_PATH.replace(tag, "0" * 16)
    assert VERP.invitation_of(forged) is None
    assert VERP.invitation_of(RETURN_PATH.replace("palaute.example", "evil.example")) is None
    assert VERP.invitation_of(RETURN_PATH.replace("bounces+", "other+")) is None
    assert VERP.invitation_of("bounces@palaute.example") is None


def report(recipient_fields: str, *, to: str = RETURN_PATH, extra_headers: str = "") -> bytes:
    """A multipart/report DSN as a mailbox holds it."""
    return (
        f"Return-Path: <>\r\n{extra_headers}"
        "From: MAILER-DAEMON@mx.example.net\r\n"
        f"To: {to}\r\n"
        "Subject: Returned mail: see transcript for details\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type="delivery-status";\r\n'
        '\tboundary="RAA14128.773615765/CS.UTK.EDU"\r\n'
        "\r\n"
        "--RAA14128.773615765/CS.UTK.EDU\r\n"
        "\r\n"
        "The original message was received, but could not be delivered.\r\n"
        "\r\n"
        "--RAA14128.773615765/CS.UTK.EDU\r\n"
        "content-type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; cs.utk.edu\r\n"
        "\r\n"
        f"{recipient_fields}"
        "\r\n"
        "--RAA14128.773615765/CS.UTK.EDU\r\n"
        "content-type: message/rfc822\r\n"
        "\r\n"
        f"Message-ID: <{INVITATION}@palaute.example>\r\n"
        "Subject: Miten onnistuimme?\r\n"
        "\r\n"
        "...\r\n"
        "--RAA14128.773615765/CS.UTK.EDU--\r\n"
    ).encode()


def test_the_rfcs_own_example_a_permanent_failure_is_a_hard_bounce() -> None:
    # RFC 3464, appendix: "Simple DSN" (a status with its comment).
    found = read_dsn(
        report(
            "Original-Recipient: rfc822;louisa@larry.slip.umd.edu\r\n"
            "Final-Recipient: rfc822;louisa@larry.slip.umd.edu\r\n"
            "Action: failed\r\n"
            "Status: 4.0.0 (unknown temporary failure)\r\n"
            "Diagnostic-Code: smtp; 426 connection timed out\r\n"
        ),
        VERP,
    )
    assert found == Bounce(INVITATION, "failed", "4.0.0", "426 connection timed out")
    assert found.kind == "soft"


def test_postfix_user_unknown_is_hard_and_no_address_survives_in_the_reason() -> None:
    found = read_dsn(
        report(
            "Final-Recipient: rfc822; asiakas@example.fi\r\n"
            "Original-Recipient: rfc822;asiakas@example.fi\r\n"
            "Action: failed\r\n"
            "Status: 5.1.1\r\n"
            "Remote-MTA: dns; mx.example.fi\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <asiakas@example.fi>: Recipient address\r\n"
            "    rejected: User unknown in virtual mailbox table\r\n",
            to="undisclosed",
            extra_headers=f"Delivered-To: {RETURN_PATH}\r\nX-Original-To: {RETURN_PATH}\r\n",
        ),
        VERP,
    )
    assert isinstance(found, Bounce)
    assert found.kind == "hard"
    assert found.status == "5.1.1"
    assert "asiakas" not in found.reason
    assert found.reason.startswith("hard bounce 5.1.1: 550 5.1.1 <address>: Recipient")


def test_exchange_online_three_part_status_and_delayed_warnings() -> None:
    found = read_dsn(
        report(
            "Final-Recipient: rfc822;kuka@example.fi\r\n"
            "Action: failed\r\n"
            "Status: 5.1.10\r\n"
            "Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient "
            "kuka@example.fi not found by SMTP address lookup\r\n"
        ),
        VERP,
    )
    assert isinstance(found, Bounce)
    assert (found.kind, found.status) == ("hard", "5.1.10")
    assert "kuka@" not in found.reason
    warning = read_dsn(
        report("Final-Recipient: rfc822;x@example.fi\r\nAction: delayed\r\nStatus: 4.4.7\r\n"),
        VERP,
    )
    assert isinstance(warning, Bounce)
    assert warning.kind is None  # only a warning: nothing to record


def test_what_is_not_a_dsn_of_ours_is_said_so() -> None:
    assert read_dsn(b"Subject: Out of office\r\n\r\nBack on Monday.\r\n", VERP) == "not_a_bounce"
    plain_report = report("Action: failed\r\nStatus: 5.1.1\r\n").replace(
        b"delivery-status", b"disposition-notification", 1
    )
    assert read_dsn(plain_report, VERP) == "not_a_bounce"
    assert read_dsn(report("Action: failed\r\nStatus: 5.1.1\r\n", to="x@y.z"), VERP) == "not_ours"
    assert read_dsn(report("Action: failed\r\n"), VERP) == "not_a_bounce"  # no status


def test_an_address_that_bounced_is_not_mailed_but_a_mobile_still_gets_its_sms() -> None:
    both = Reachable("+358401234567", "a@example.fi", False, False)
    email_only = Reachable(None, "a@example.fi", False, False)
    assert choose_channel(both, undeliverable_email=True) == Survey("sms", "+358401234567")
    assert choose_channel(email_only, undeliverable_email=True) == Suppress("undeliverable_address")
    assert choose_channel(email_only) == Survey("email", "a@example.fi")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"bounce_address": "no-at-sign"}, "like bounces@example.fi"),
        ({"bounce_address": "a+b@example.fi"}, r"no '\+'"),
        ({"bounce_address": "a-very-long-local-part@example.fi"}, "14 characters"),
        ({"bounce_address": "b@example.fi"}, "needs PALAUTE_BOUNCE_SECRET"),
        ({"bounce_imap_host": "imap.example.fi"}, "needs PALAUTE_BOUNCE_ADDRESS"),
        (
            {
                "bounce_imap_host": "imap.example.fi",
                "bounce_address": "b@example.fi",
                "bounce_secret": "k",
            },
            "USERNAME and",
        ),
        (
            {
                "bounce_imap_host": "imap.example.fi",
                "bounce_address": "b@example.fi",
                "bounce_secret": "k",
                "bounce_imap_username": "u",
                "bounce_imap_password": "p",
                "bounce_imap_security": "none",
            },
            "in clear",
        ),
    ],
)
def test_bounce_settings_that_cannot_work_are_refused_at_start(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        DispatcherSettings(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "action",
    ["failed (bad destination mailbox address)", "Failed", "error", "error (smtpd rejected)"],
)
def test_a_failure_with_a_comment_or_openmsmtpds_error_is_a_bounce(action: str) -> None:
    # Comments are allowed in DSN fields (RFC 3464 2.1.1); OpenSMTPD writes `error`.
    found = read_dsn(
        report(f"Final-Recipient: rfc822; x@example.fi\r\nAction: {action}\r\nStatus: 5.1.1\r\n"),
        VERP,
    )
    assert isinstance(found, Bounce)
    assert (found.kind, found.settled) == ("hard", True)


def test_an_action_nobody_knows_is_left_for_a_person_not_deleted() -> None:
    found = read_dsn(
        report("Final-Recipient: rfc822; x@example.fi\r\nAction: bounced\r\nStatus: 5.1.1\r\n"),
        VERP,
    )
    assert isinstance(found, Bounce)
    assert (found.kind, found.settled) == (None, False)


def test_a_global_dsn_of_rfc_6533_is_read_like_a_plain_one() -> None:
    raw = report(
        "Final-Recipient: utf-8; käyttäjä@esimerkki.fi\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <käyttäjä@esimerkki.fi>: no such user\r\n"
    )
    raw = raw.replace(b"message/delivery-status", b"message/global-delivery-status")
    raw = raw.replace(b'report-type="delivery-status"', b'report-type="global-delivery-status"')
    found = read_dsn(raw, VERP)
    assert isinstance(found, Bounce)
    assert (found.kind, found.status) == ("hard", "5.1.1")
    assert "käyttäjä" not in found.reason


QMAIL = (
    "Return-Path: <>\r\n"
    "Delivered-To: {to}\r\n"
    "From: MAILER-DAEMON@mx.example.net\r\n"
    "To: {to}\r\n"
    "Subject: failure notice\r\n"
    "\r\n"
    "Hi. This is the qmail-send program at mx.example.net.\r\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
    "This is a permanent error; I've given up. Sorry it didn't work out.\r\n"
    "\r\n"
    "<asiakas@example.fi>:\r\n"
    "Sorry, no mailbox here by that name. (#5.1.1)\r\n"
    "\r\n"
    "--- Below this line is a copy of the message.\r\n"
    "\r\n"
    "Subject: Miten onnistuimme?\r\n"
)


def test_a_qmail_bounce_under_our_tag_is_hard_and_a_forged_tag_is_not_ours() -> None:
    found = read_dsn(QMAIL.format(to=RETURN_PATH).encode(), VERP)
    assert isinstance(found, Bounce)
    assert (found.invitation_id, found.kind) == (INVITATION, "hard")
    assert "asiakas" not in found.reason
    forged = RETURN_PATH.replace(RETURN_PATH.partition("@")[0][-16:], "0" * 16)
    assert read_dsn(QMAIL.format(to=forged).encode(), VERP) == "not_a_bounce"


def test_a_return_path_is_the_local_part_the_invitation_and_a_64_bit_tag() -> None:
    assert re.fullmatch(r"bounces\+[0-9a-f]{32}-[0-9a-f]{16}@palaute\.example", RETURN_PATH)
    assert len(RETURN_PATH.partition("@")[0]) == len("bounces") + 50


def test_an_action_is_its_first_word_without_comments() -> None:
    assert _action("Failed (mailbox full) after retries") == "failed"
    assert _action("(why) delayed") == "delayed"
    assert _action("  ") == ""


def test_a_reason_and_its_diagnostic_are_cut_to_their_lengths() -> None:
    long = Bounce(INVITATION, "failed", "5.1.1", "x" * 300)
    assert len(long.reason) == 200
    found = read_dsn(
        report(
            "Final-Recipient: rfc822; x@example.fi\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            f"Diagnostic-Code: smtp; 550 {'y' * 300}\r\n"
        ),
        VERP,
    )
    assert isinstance(found, Bounce)
    assert found.diagnostic == "550 " + "y" * 146, "150 characters of it"


def test_a_bounce_names_its_invitation_in_any_envelope_header() -> None:
    """A mail server that rewrote X-Original-To to someone else's still has our return path
    in Delivered-To: the next header is read."""
    raw = QMAIL.format(to=RETURN_PATH).replace(
        "Delivered-To:", "X-Original-To: postmaster@palaute.example\r\nDelivered-To:"
    )
    found = read_dsn(raw.encode(), VERP)
    assert isinstance(found, Bounce)
    assert found.invitation_id == INVITATION


def test_a_global_dsn_sent_in_base64_is_decoded_before_it_is_read() -> None:
    fields = (
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: utf-8; käyttäjä@esimerkki.fi\r\nAction: failed\r\nStatus: 5.2.2\r\n"
    )
    encoded = base64.encodebytes(fields.encode()).decode()
    raw = (
        f"Return-Path: <>\r\nTo: {RETURN_PATH}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type="global-delivery-status"; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
        "--B\r\nContent-Type: message/global-delivery-status\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--B--\r\n"
    )
    found = read_dsn(raw.encode(), VERP)
    assert isinstance(found, Bounce)
    assert (found.kind, found.status) == ("hard", "5.2.2")


def test_field_like_lines_in_the_prose_are_not_read_as_the_reports_fields() -> None:
    raw = report(
        "Final-Recipient: rfc822; x@example.fi\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    ).replace(
        b"The original message was received, but could not be delivered.\r\n",
        b"The original message was received, but could not be delivered.\r\n\r\n"
        b"Action: delivered\r\nStatus: 2.0.0\r\n",
    )
    found = read_dsn(raw, VERP)
    assert isinstance(found, Bounce)
    assert (found.action, found.status) == ("failed", "5.1.1")


def test_an_8bit_global_dsn_is_read_as_it_stands_and_a_report_without_fields_is_none() -> None:
    raw = report(
        "Final-Recipient: utf-8; x@example.fi\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 quota=80 exceeded\r\n"
    )
    raw = raw.replace(b"message/delivery-status", b"message/global-delivery-status")
    found = read_dsn(raw, VERP)
    assert isinstance(found, Bounce)
    assert found.diagnostic == "552 quota=80 exceeded", "no = sequence decoded in 8-bit text"
    fieldless = report("").replace(b"message/delivery-status", b"text/plain")
    assert read_dsn(fieldless, VERP) == "not_a_bounce"
