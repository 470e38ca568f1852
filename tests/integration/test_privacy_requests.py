"""Consent's part of erasure and access requests, on SQLite and PostgreSQL: the person's
rows go, their objection stays as a keyed hash only (and still forbids surveys), the audit
chain records it and holds, and the other services' answers are recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_consent import audit, privacy
from palaute_consent.service import ConsentService
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import (
    access_parts,
    opt_outs,
    outbox,
    privacy_requests,
    released,
)
from palaute_runtime.clock import Clock
from palaute_schemas import (
    ACCESS_REQUESTED,
    ERASURE_REQUESTED,
    SURVEY_WITHDRAWN,
    AccessReported,
    ErasureCompleted,
    ErasureRequested,
    SurveyWithdrawn,
)

PHONE = "+358401112233"


@pytest.fixture
def consent(consent_db: AsyncEngine) -> ConsentService:
    return ConsentService(consent_db, ConsentSettings(), Clock())


async def test_an_erasure_keeps_the_objection_hashed_and_audited(consent: ConsentService) -> None:
    async with consent.engine.begin() as connection:
        await consent.register_opt_out(
            connection, "phone", PHONE, source="sms_stop", reason="STOP", actor="sms_stop"
        )
    person = privacy.Person(customer_id="C-poistettava", phone=PHONE)
    request_id = await consent.file_privacy_request(
        "erasure", person, reason="by letter", actor="officer:anna"
    )
    async with consent.engine.connect() as connection:
        values = list(await connection.scalars(sa.select(opt_outs.c.value)))
        register = consent.register(connection)
        assert await register.forbids(phone=PHONE)
        assert await register.forbids(customer_id="C-poistettava"), "made for every identifier"
        kept = await register.find("phone", PHONE)
        assert kept is not None, "the officer's lookup still finds the hashed entry"
        verdict = await audit.verify(connection, ConsentSettings().chain_keys)
        trail = await register.audit_trail("phone", PHONE)
        (payload,) = await connection.scalars(
            sa.select(outbox.c.payload).where(outbox.c.topic == ERASURE_REQUESTED.name)
        )
        (row,) = (await connection.execute(sa.select(privacy_requests))).all()
    assert len(values) == 2
    assert all(value.startswith("h:") for value in values), "hashed, never the value"
    assert verdict.broken_at is None
    assert [r["action"] for r in trail] == ["add", "erase"]
    assert trail[-1]["actor"] == "officer:anna"
    sent = ErasureRequested.model_validate_json(payload)
    assert (sent.request_id, sent.phone, sent.customer_id) == (request_id, PHONE, "C-poistettava")
    assert "C-poistettava" not in repr(tuple(row))
    assert PHONE not in repr(tuple(row))
    async with consent.engine.begin() as connection:
        await privacy.record_erasure(
            connection,
            ErasureCompleted(request_id=request_id, service="dispatcher", erased={"x": 1}),
        )
        filed = await privacy.request(connection, request_id)
    assert filed is not None
    assert filed["services"]["dispatcher"] == {"erased": {"x": 1}, "partner_deleted": None}
    assert filed["services"]["consent"]["erased"]["opt_outs_kept_hashed"] == 2
    assert filed["complete"] is False, "the collector has not answered"
    # Adding the same identifier again finds the hashed entry: no second, plaintext row.
    async with consent.engine.begin() as connection:
        await consent.register_opt_out(
            connection, "phone", PHONE, source="privacy_officer", reason="again", actor="x:y"
        )
        assert len(list(await connection.scalars(sa.select(opt_outs.c.value)))) == 2


async def test_a_person_named_by_email_only_gets_the_customer_id_consent_knows(
    consent: ConsentService,
) -> None:
    async with consent.engine.begin() as connection:
        await connection.execute(
            released.insert().values(
                contact_id="K-1",
                customer_id="C-tunnettu",
                email="Vain.Sahkoposti@example.fi",
                released_at=datetime.now(UTC),
            )
        )
    await consent.file_privacy_request(
        "erasure", privacy.Person(email="vain.sahkoposti@example.fi"), reason="r", actor="a:b"
    )
    async with consent.engine.connect() as connection:
        (payload,) = await connection.scalars(
            sa.select(outbox.c.payload).where(outbox.c.topic == ERASURE_REQUESTED.name)
        )
        left = await connection.scalar(sa.select(sa.func.count()).select_from(released))
        withdrawn = list(
            await connection.scalars(
                sa.select(outbox.c.payload).where(outbox.c.topic == SURVEY_WITHDRAWN.name)
            )
        )
    assert ErasureRequested.model_validate_json(payload).customer_id == "C-tunnettu"
    assert left == 0
    # The survey released to the person may still be on its way to the dispatcher: withdrawn.
    assert [SurveyWithdrawn.model_validate_json(p).contact_id for p in withdrawn] == ["K-1"]


async def test_an_access_document_gathers_every_service_part(consent: ConsentService) -> None:
    person = privacy.Person(email="Tieto.Pyynto@example.fi")
    request_id = await consent.file_privacy_request(
        "access", person, reason="art. 15", actor="token:desk"
    )
    async with consent.engine.begin() as connection:
        assert await connection.scalar(
            sa.select(sa.func.count()).where(outbox.c.topic == ACCESS_REQUESTED.name)
        )
        for service in ("dispatcher", "collector"):
            await privacy.record_access(
                connection,
                AccessReported(
                    request_id=request_id, service=service, held={"invitations": [{"a": 1}]}
                ),
                now=consent.clock.now(),
            )
        document = await privacy.access_document(connection, request_id)
        assert await privacy.access_document(connection, uuid.uuid4()) is None
        parts = await connection.scalar(sa.select(sa.func.count()).select_from(access_parts))
    assert document is not None
    assert document["complete"] is True
    assert set(document["held_by"]) == {"consent", "dispatcher", "collector"}
    assert document["held_by"]["collector"] == {"invitations": [{"a": 1}]}
    assert parts == 3
    with pytest.raises(ValueError, match="names the person"):
        privacy.Person()
