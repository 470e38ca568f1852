"""The comment reader on the running stack: a customer's comment (with a follow-up asked for)
reaches the staff's page through the collector's staff API; an analyst reads it without the
customer, a manager with the customer, an auditor is refused, and each read is an audit row
in consent's chain."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from palaute_consent.tables import register_audit
from palaute_runtime.database import create_engine
from palaute_schemas import FOLLOW_UP_REQUESTED
from tests.conftest import wait_until
from tests.e2e.conftest import LINK, Pipeline, add_staff, contact, staff_client

pytestmark = pytest.mark.e2e

UNIT = "Palautepiste Kommentti"
STAFF = {
    "ville": ("pitkä-salasana-ville", "analyst"),
    "maija": ("pitkä-salasana-maija", "manager"),
    "tuula": ("pitkä-salasana-tuula", "auditor"),
}
COMMENT = "Jonotin puhelimessa liian kauan"


@pytest.fixture(scope="module")
async def commented(pipeline: Pipeline) -> dict[str, Any]:
    """Staff accounts, and one named answer with a comment that asks for a follow-up."""
    await add_staff(pipeline, STAFF)
    address = f"kommentti-{id(pipeline.stack)}@example.fi"
    sent = contact(email=address, unit=UNIT, language="fi")
    await pipeline.publish(sent)
    (email,) = await pipeline.messages_to(address)
    (link,) = LINK.findall(email["text"])
    answered = await pipeline.http.post(
        link, data={"score": "3", "comment": COMMENT, "follow_up": "yes"}
    )
    assert answered.status_code == 200

    async def requested() -> dict[str, Any] | None:
        for record in await pipeline.records(FOLLOW_UP_REQUESTED.name):
            if record["value"]["customer_id"] == sent.customer_id:
                return dict(record["value"])
        return None

    follow_up = await wait_until(requested, what="the follow-up requested")
    return {"customer_id": sent.customer_id, "due": follow_up["due_date"]}


async def reads_of(pipeline: Pipeline, actor: str) -> list[str]:
    engine = create_engine(pipeline.stack.consent_settings.database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.scalars(
                sa.select(register_audit.c.reason).where(
                    register_audit.c.action == "read",
                    register_audit.c.kind == "comments",
                    register_audit.c.actor == actor,
                )
            )
            return list(rows)
    finally:
        await engine.dispose()


async def test_an_analyst_reads_the_comment_without_the_customer_and_each_read_is_audited(
    pipeline: Pipeline, commented: dict[str, Any]
) -> None:
    async with staff_client(pipeline, "ville", STAFF["ville"][0]) as client:
        page = await client.get("/comments", params={"unit": UNIT, "lang": "en"})
        assert page.status_code == 200
        assert COMMENT in page.text
        assert commented["due"] in page.text, "the follow-up's due date beside the comment"
        assert commented["customer_id"] not in page.text, "no customer for an analyst"
        assert "shown only when nothing narrows the list" in page.text
        again = await client.get("/comments", params={"unit": UNIT, "band": "detractor"})
        assert COMMENT in again.text
        promoters = await client.get("/comments", params={"unit": UNIT, "band": "promoter"})
        assert COMMENT not in promoters.text
        wrong = await client.get("/comments", params={"from": "yesterday"})
        assert wrong.status_code == 400
    reads = await reads_of(pipeline, "officer:ville")
    assert len(reads) == 3, reads
    assert any(re.search(rf"unit={UNIT}.*: 1 named, 0 anonymous", read) for read in reads)


async def test_a_manager_sees_the_customer_and_an_auditor_is_refused(
    pipeline: Pipeline, commented: dict[str, Any]
) -> None:
    async with staff_client(pipeline, "maija", STAFF["maija"][0]) as client:
        page = await client.get("/comments", params={"unit": UNIT})
        assert page.status_code == 200
        assert commented["customer_id"] in page.text
    assert any("with customers" in read for read in await reads_of(pipeline, "officer:maija"))
    async with staff_client(pipeline, "tuula", STAFF["tuula"][0]) as client:
        refused = await client.get("/comments", params={"unit": UNIT})
        assert refused.status_code == 403
        assert COMMENT not in refused.text
    assert await reads_of(pipeline, "officer:tuula") == []


async def test_the_collectors_staff_api_wants_its_token(pipeline: Pipeline) -> None:
    url = pipeline.stack.collector_url + "/staff/comments"
    assert (await pipeline.http.get(url)).status_code == 401
    wrong = await pipeline.http.get(url, headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401
    token = pipeline.stack.collector_settings.staff_api_token
    bad = await pipeline.http.get(
        url, params={"band": "best"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert bad.status_code == 400
    assert "band is one of" in bad.json()["error"]
