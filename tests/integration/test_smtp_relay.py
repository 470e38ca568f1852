"""Email through a relay as real relays are: the sandbox's SMTP server with STARTTLS
required (or TLS from the first byte) and AUTH required over TLS, its certificate signed by
a CA made for the test and trusted by a setting. A relay that refuses our login, offers no
STARTTLS while it is required, or presents a certificate we do not trust is an
infrastructure fault: a clear error, retried, nothing lost."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from palaute_dispatcher import tables
from palaute_dispatcher.partner import Outgoing, PartnerError, SmtpEmailPartner
from palaute_dispatcher.service import DispatcherService
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.database import create_engine
from palaute_runtime.local_broker import free_port
from palaute_runtime.migrations import migrate
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import sms_requests, wait_until
from tests.tls import Certificates, make_certificates

USER, PASSWORD = "palaute-relay-user", "relay-password-0123"
Security = Literal["starttls", "tls", "none"]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("smtp-tls"))


@asynccontextmanager
async def relay(certificates: Certificates, security: Security) -> AsyncIterator[PartnerSandbox]:
    """The sandbox's SMTP server as a relay with TLS and a login (plain: no TLS, no login)."""
    tls: dict[str, Any] = {
        "sandbox_smtp_security": security,
        "sandbox_smtp_cert_file": certificates.cert,
        "sandbox_smtp_key_file": certificates.key,
        "sandbox_smtp_username": USER,
        "sandbox_smtp_password": PASSWORD,
    }
    sandbox = PartnerSandbox(
        SandboxSettings(
            sandbox_http_port=free_port(),
            sandbox_smtp_port=free_port(),
            **(tls if security != "none" else {}),
        )
    )
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


def outgoing(address: str = "vastaaja@example.fi") -> Outgoing:
    return Outgoing(
        address=address,
        subject="Miten onnistuimme?",
        text="Vastaa kyselyyn.",
        idempotency_key=str(uuid.uuid4()),
    )


def partner(sandbox: PartnerSandbox, security: Security, **overrides: Any) -> SmtpEmailPartner:
    options: dict[str, Any] = {
        "security": security,
        "ca_file": None,
        "username": USER if security != "none" else None,
        "password": PASSWORD,
    }
    return SmtpEmailPartner(
        "127.0.0.1",
        sandbox.settings.sandbox_smtp_port,
        "Palaute <kysely@palaute.invalid>",
        timeout=5,
        **(options | overrides),
    )


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_mail_goes_over_tls_with_a_login_to_a_relay_we_trust(
    certificates: Certificates, security: Security
) -> None:
    async with relay(certificates, security) as sandbox:
        sent = outgoing()
        message_id = await partner(sandbox, security, ca_file=certificates.ca).send(sent)
        (got,) = sandbox.recorder.email
    assert got["to"] == [sent.address]
    assert got["headers"]["Message-ID"] == message_id


@pytest.mark.parametrize(
    ("security", "relay_security", "overrides", "said"),
    [
        ("starttls", "starttls", {"password": "wrong-password-0"}, "refused our login (535)"),
        ("starttls", "starttls", {"ca_file": None}, "certificate trusted"),
        ("tls", "tls", {"ca_file": None}, "certificate trusted"),
        ("starttls", "none", {"username": None}, "offers no STARTTLS"),
    ],
)
async def test_a_relay_we_cannot_use_safely_is_an_infrastructure_fault_said_clearly(
    certificates: Certificates,
    security: Security,
    relay_security: Security,
    overrides: dict[str, Any],
    said: str,
) -> None:
    trusted = {"ca_file": certificates.ca}
    async with relay(certificates, relay_security) as sandbox:
        with pytest.raises(PartnerError) as refused:
            await partner(sandbox, security, **(trusted | overrides)).send(outgoing())
        assert sandbox.recorder.email == [], "nothing went, in clear or otherwise"
    assert refused.value.transient, "retried: not the message's fault"
    assert said in str(refused.value)


def test_a_login_without_tls_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="password would cross the network in clear"):
        DispatcherSettings(partner_smtp_security="none", partner_smtp_username="user")


async def test_an_invitation_waits_through_a_refused_login_and_goes_once_it_is_fixed(
    certificates: Certificates, tmp_path: Path
) -> None:
    """The dispatcher with a wrong password: the email stays pending with the reason, and
    goes (once) after the password is right, on its own backoff."""
    async with relay(certificates, "starttls") as sandbox:
        settings = DispatcherSettings(
            dispatcher_database_url=f"sqlite+aiosqlite:///{tmp_path}/dispatcher.db",
            partner_sms_url=sandbox.http.url,
            # Any hour: the send window has tests of its own (this one failed after 20:00).
            **LOCAL_RELEASE_RULES,
        )
        engine = create_engine(settings.database_url)
        await migrate(engine, tables.MIGRATIONS)
        wrong = partner(sandbox, "starttls", ca_file=certificates.ca, password="wrong-one-00")
        service = DispatcherService(engine, settings, {"email": wrong})
        (request,) = sms_requests("Relay", 1, 408300000)
        email_request = request.model_copy(update={"channel": "email", "address": "a@ex.fi"})
        try:
            await service.handle_survey_requests([email_request])
            await service.deliver_due()
            (row,) = await rows(engine)
            assert (row.status, row.attempts) == ("pending", 1)
            assert "refused our login" in row.last_error
            (lane,) = service.delivery.lanes["email"]
            lane.partner = partner(sandbox, "starttls", ca_file=certificates.ca)

            async def delivered() -> bool:
                await service.deliver_due()
                return bool(sandbox.recorder.email)

            await wait_until(delivered, within=30, what="the email after the fix")
            (row,) = await rows(engine)
            assert row.status == "sent"
            assert len(sandbox.recorder.email) == 1
        finally:
            await engine.dispose()


async def rows(engine: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(sa.select(tables.invitations))).all())
