"""Repository contracts, each run on SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector import tables as collector_tables
from palaute_collector.service import CollectorService
from palaute_consent import tables as consent_tables
from palaute_consent.plans import Decision, PlanRow, Plans, Released
from palaute_consent.register import OptOutRegister
from palaute_consent.settings import ConsentSettings
from palaute_dispatcher.deletion_jobs import Deletions
from palaute_dispatcher.repository import Invitations
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import differences, migrate
from palaute_runtime.outbox import Inbox, Outbox
from palaute_schemas import (
    ERASURE_COMPLETED,
    FIGURES_PUBLISHED,
    SURVEY_SUPPRESSED,
    ErasureCompleted,
    ErasureRequested,
    FiguresPublished,
    InvitationSent,
    SurveySuppressed,
    recipient_ref,
    token_hash,
)
from tests.integration.conftest import collector_on

AUDIT_KEY = "test-audit-key"


@pytest.fixture
async def collector(database_url: str) -> AsyncIterator[CollectorService]:
    async with collector_on(database_url, min_group_size=5) as service:
        yield service


class TestOptOutRegister:
    async def test_added_identifiers_forbid_surveys_and_removal_lifts_them(
        self, consent_db: AsyncEngine
    ) -> None:
        async with consent_db.begin() as connection:
            register = OptOutRegister(connection, AUDIT_KEY, chain=ConsentSettings().chain_keys)
            assert await register.add(
                "phone", "+358401234567", source="sms_stop", reason="STOP", actor="sms_stop"
            )
            assert await register.add(
                "email",
                "Asiakas@Example.fi",
                source="email_unsubscribe",
                reason="a test",
                actor="x",
            )
            assert not await register.add(
                "phone", "+358401234567", source="customer_service", reason="again", actor="x"
            )
        async with consent_db.begin() as connection:
            register = OptOutRegister(connection, AUDIT_KEY, chain=ConsentSettings().chain_keys)
            assert await register.forbids(customer_id="C9", phone="+358401234567", email=None)
            assert await register.forbids(customer_id=None, phone=None, email="asiakas@example.fi")
            assert not await register.forbids(customer_id="C9", phone="+358409999999", email=None)
            assert await register.remove("phone", "+358401234567", reason="asked back", actor="po")
            assert not await register.remove("phone", "+358401234567", reason="a test", actor="po")
            assert not await register.forbids(customer_id=None, phone="+358401234567", email=None)

    async def test_every_change_is_audited_in_order(self, consent_db: AsyncEngine) -> None:
        async with consent_db.begin() as connection:
            register = OptOutRegister(connection, AUDIT_KEY, chain=ConsentSettings().chain_keys)
            await register.add(
                "customer_id", "C1", source="privacy_officer", reason="objection", actor="po-1"
            )
            await register.remove("customer_id", "C1", reason="withdrawn", actor="po-2")
            trail = await register.audit_trail()
        assert [(row["action"], row["actor"], row["reason"]) for row in trail] == [
            ("add", "po-1", "objection"),
            ("remove", "po-2", "withdrawn"),
        ]
        assert all(datetime.fromisoformat(row["at"]).tzinfo for row in trail)


class TestPlans:
    """consent's decisions, plans and released surveys (palaute_consent/plans.py)."""

    @staticmethod
    def plan(contact_id: str, release_at: datetime) -> PlanRow:
        return PlanRow(
            contact_id=contact_id,
            customer_id=f"C-{contact_id}",
            phone="+358401234567",
            email=None,
            channel="sms",
            address="+358401234567",
            anonymous=False,
            language="fi",
            contact_channel="phone",
            unit="Unit",
            contact_day=release_at.date(),
            closed_at=release_at,
            release_at=release_at,
        )

    async def test_a_due_plan_is_claimed_once_earliest_first_and_a_rollback_returns_it(
        self, consent_db: AsyncEngine
    ) -> None:
        now = datetime(2026, 11, 24, 9, tzinfo=UTC)
        run = uuid.uuid4().hex[:8]
        async with consent_db.begin() as connection:
            await Plans(connection).add(
                [
                    self.plan(f"{run}-late", now - timedelta(minutes=1)),
                    self.plan(f"{run}-early", now - timedelta(minutes=5)),
                    self.plan(f"{run}-future", now + timedelta(hours=1)),
                ]
            )
        async with consent_db.connect() as connection:
            transaction = await connection.begin()
            assert len(await Plans(connection).claim_due(now, 10)) == 2
            await transaction.rollback()  # the release failed: the plans wait again
        async with consent_db.begin() as connection:
            claimed = await Plans(connection).claim_due(now, 10)
            assert [row.contact_id for row in claimed] == [f"{run}-early", f"{run}-late"]
            assert await Plans(connection).claim_due(now, 10) == []
            assert await Plans(connection).next_due() == now + timedelta(hours=1)

    async def test_released_surveys_cap_withdraw_and_remind_once(
        self, consent_db: AsyncEngine
    ) -> None:
        now = datetime(2026, 11, 24, 9, tzinfo=UTC)
        run = uuid.uuid4().hex[:8]
        customer, other = f"C-{run}", f"D-{run}"
        async with consent_db.begin() as connection:
            plans = Plans(connection)
            await plans.remember_released(
                [
                    Released(
                        contact_id=f"{run}-{n}",
                        customer_id=who,
                        phone=None,
                        email=f"{who.lower()}@example.fi",
                        released_at=now - timedelta(days=days),
                        channel="email",
                        remind_at=now - timedelta(minutes=1),
                    )
                    for n, (who, days) in enumerate([(customer, 1), (customer, 40), (other, 2)])
                ]
            )
            since = now - timedelta(days=30)
            last = await plans.last_released([("customer_id", customer)], since)
            # The newest release within the period, by each of its identifiers.
            assert last == {
                ("customer_id", customer): now - timedelta(days=1),
                ("email", f"{customer.lower()}@example.fi"): now - timedelta(days=1),
            }
            assert await plans.released_to("customer_id", customer, since) == [f"{run}-0"]
        async with consent_db.begin() as connection:
            reminded = await Plans(connection).claim_reminders_due(now, 10)
            # The withdrawn one is not reminded; each of the others once.
            assert sorted(row.contact_id for row in reminded if run in row.contact_id) == [
                f"{run}-1",
                f"{run}-2",
            ]
            assert not [
                row
                for row in await Plans(connection).claim_reminders_due(now, 10)
                if run in row.contact_id
            ]

    async def test_decisions_are_kept_per_customer_and_forgotten_unless_planned(
        self, consent_db: AsyncEngine
    ) -> None:
        now = datetime(2026, 11, 24, 9, tzinfo=UTC)
        run = uuid.uuid4().hex[:8]
        customer = f"C-{run}"
        async with consent_db.begin() as connection:
            plans = Plans(connection)
            await plans.decide(
                [
                    Decision(
                        contact_id=f"{run}-old",
                        customer_id=customer,
                        outcome="stale",
                        decided_at=now - timedelta(days=90),
                    ),
                    Decision(
                        contact_id=f"{run}-waits",
                        customer_id=customer,
                        outcome="planned",
                        decided_at=now - timedelta(days=90),
                    ),
                    Decision(
                        contact_id=f"{run}-new",
                        customer_id=customer,
                        outcome="planned",
                        decided_at=now,
                    ),
                ]
            )
            await plans.set_outcomes({f"{run}-new": "sms"}, now)
            assert await plans.decided_among({f"{run}-new", f"{run}-unknown"}) == {f"{run}-new"}
            assert await plans.forget_decisions(now - timedelta(days=30)) >= 1
            made = await plans.decisions_of(customer)
        assert [(d["contact_id"], d["outcome"]) for d in made] == [
            (f"{run}-new", "sms"),
            (f"{run}-waits", "planned"),
        ]


class TestDispatcherInvitations:
    """The dispatcher's invitations, withdrawals and deletion jobs (its repository.py)."""

    NOW = datetime(2026, 11, 24, 9, tzinfo=UTC)

    def invitation(self, n: int, channel: str = "sms", **fields: object) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(),
            "request_event_id": uuid.uuid4(),
            "contact_id": f"K-{n}",
            "channel": channel,
            "address": f"+35840000000{n}" if channel == "sms" else f"asiakas{n}@example.fi",
            "language": "fi",
            "contact_channel": "phone",
            "unit": "Unit",
            "contact_day": self.NOW.date(),
            "anonymous": False,
            "customer_id": f"C-{n}",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": self.NOW - timedelta(minutes=n),
            "token_hashes": [],
            "created_at": self.NOW,
            "expires_at": self.NOW + timedelta(days=7),
            "send_by": self.NOW + timedelta(days=2),
            **fields,
        }

    async def test_a_claim_takes_the_due_of_one_channel_up_to_its_limit_oldest_first(
        self, dispatcher_db: AsyncEngine
    ) -> None:
        rows = [self.invitation(n) for n in range(1, 5)] + [self.invitation(9, "email")]
        rows.append(self.invitation(7, next_attempt_at=self.NOW + timedelta(hours=1)))
        async with dispatcher_db.begin() as connection:
            await Invitations(connection).add(rows)
        later = self.NOW + timedelta(minutes=15)
        async with dispatcher_db.begin() as connection:
            claimed = await Invitations(connection).claim_due("sms", 3, self.NOW, later)
            # The three longest due (RETURNING keeps no order).
            assert sorted(row.contact_id for row in claimed) == ["K-2", "K-3", "K-4"]
            # Claimed until later: not due again now, the fourth is.
            again = await Invitations(connection).claim_due("sms", 3, self.NOW, later)
            assert [row.contact_id for row in again] == ["K-1"]

    async def test_an_invitation_in_doubt_at_a_provider_is_claimed_for_that_provider_only(
        self, dispatcher_db: AsyncEngine
    ) -> None:
        rows = [
            self.invitation(1, provider="twilio"),  # its last hand-over is in doubt there
            self.invitation(2, provider="46elks"),
            self.invitation(3, provider=None),
            self.invitation(4, provider="vonage"),  # a provider no longer in use: free
        ]
        async with dispatcher_db.begin() as connection:
            await Invitations(connection).add(rows)
        later = self.NOW + timedelta(minutes=15)
        lanes = ["twilio", "46elks"]
        async with dispatcher_db.begin() as connection:
            repository = Invitations(connection)
            free = await repository.claim_due("sms", 10, self.NOW, later, lanes=lanes)
            assert sorted(row.contact_id for row in free) == ["K-3", "K-4"]
            twilio = await repository.claim_due("sms", 10, self.NOW, later, pinned_to="twilio")
            assert [row.contact_id for row in twilio] == ["K-1"]
            await repository.failed(
                [
                    {
                        "b_id": twilio[0].id,
                        "b_status": "pending",
                        "b_error": "Twilio unreachable: TimeoutError",
                        "b_next": self.NOW,
                        "b_provider": "twilio",
                    }
                ]
            )
            assert await repository.claim_due("sms", 10, self.NOW, later, lanes=lanes) == []
            again = await repository.claim_due("sms", 10, self.NOW, later, pinned_to="twilio")
            assert [row.contact_id for row in again] == ["K-1"], "still pinned after its retry"
            await repository.sent({again[0].id: ("SM1", self.NOW, "twilio")})
            elks = await repository.claim_due("sms", 10, self.NOW, later, pinned_to="46elks")
            assert [row.contact_id for row in elks] == ["K-2"]

    async def test_withdrawal_receipts_and_answers_move_each_status_once(
        self, dispatcher_db: AsyncEngine
    ) -> None:
        first, second = self.invitation(1), self.invitation(2)
        async with dispatcher_db.begin() as connection:
            repository = Invitations(connection)
            await repository.add([first, second])
            await repository.sent({first["id"]: ("p-1", self.NOW, "sandbox")})
            withdrawal = {"contact_id": "K-2", "reason": "opted_out", "withdrawn_at": self.NOW}
            assert await repository.withdraw([withdrawal]) == 1
            assert await repository.withdraw([withdrawal]) == 0, "withdrawn once"
            assert await repository.withdrawn_among({"K-1", "K-2"}) == {"K-2"}
            moved = await repository.receipt("p-1", "delivered", "ok", self.NOW)
            assert not isinstance(moved, bool)
            assert moved.delivery == "delivered"
            assert await repository.receipt("p-1", "failed", "late", self.NOW) is True
            assert await repository.receipt("p-unknown", "failed", "", self.NOW) is False
            reminder = self.invitation(1, reminder_of=first["id"], contact_id="K-1")
            open_until = self.NOW + timedelta(days=1)
            assert [row.id for row in await repository.to_remind({"K-1", "K-2"}, open_until)] == [
                first["id"]
            ]
            await repository.add([reminder], ignore_known=True)
            assert await repository.to_remind({"K-1"}, open_until) == [], "reminded once"
            assert await repository.answered({first["id"]}) == 1

    async def test_an_erasure_finds_the_person_by_any_name_and_returns_every_address(
        self, dispatcher_db: AsyncEngine
    ) -> None:
        by_phone = self.invitation(1)
        by_email = self.invitation(2, "email", customer_id="C-1", address="Asiakas@Example.fi")
        other = self.invitation(3)
        async with dispatcher_db.begin() as connection:
            repository = Invitations(connection)
            await repository.add([by_phone, by_email, other])
            held = await repository.of_person("C-1", [None])
            assert {row["address"] for row in held} == {"+358400000001", "Asiakas@Example.fi"}
            assert all("token_hashes" not in row for row in held)
            addresses, count = await repository.erase("C-1", [None])
            assert (addresses, count) == ({"+358400000001", "Asiakas@Example.fi"}, 2)
            assert await repository.of_person(None, ["asiakas@example.fi"]) == []
            await Deletions(connection).add(self.NOW, ["b", "a", "a"], None, None)
            (job,) = await Deletions(connection).claim_due(self.NOW, 10, 60)
            assert job.addresses == ["a", "b"]
            assert await Deletions(connection).claim_due(self.NOW, 10, 60) == [], "claimed"


class TestInboxAndOutbox:
    async def test_inbox_accepts_an_event_once_per_consumer(self, consent_db: AsyncEngine) -> None:
        event_id = uuid.uuid4()
        first, second = Inbox(consent_tables.inbox, "a"), Inbox(consent_tables.inbox, "b")
        async with consent_db.begin() as connection:
            assert await first.first_deliveries(connection, [event_id]) == {event_id}
            assert await first.first_deliveries(connection, [event_id]) == set()
            assert await second.first_deliveries(connection, [event_id, event_id]) == {event_id}

    async def test_outbox_row_exists_only_if_its_transaction_commits(
        self, consent_db: AsyncEngine
    ) -> None:
        outbox = Outbox(consent_tables.outbox)
        message = SurveySuppressed(contact_id="K-1", reason="no_channel")

        async def add_then_fail() -> None:
            async with consent_db.begin() as connection:
                await outbox.add(connection, SURVEY_SUPPRESSED, message)
                raise RuntimeError("effect failed")

        with pytest.raises(RuntimeError):
            await add_then_fail()
        async with consent_db.begin() as connection:
            await outbox.add(connection, SURVEY_SUPPRESSED, message)
        async with consent_db.connect() as connection:
            rows = (await connection.execute(sa.select(consent_tables.outbox))).all()
        assert [(r.topic, r.key) for r in rows] == [(SURVEY_SUPPRESSED.name, "K-1")]


def invitation(
    *, anonymous: bool, day: date, token: str | None = None, ref: str | None = None
) -> InvitationSent:
    return InvitationSent(
        invitation_id=uuid.uuid4(),
        channel="email" if token else "sms",
        language="fi",
        contact_channel="chat",
        unit="Kotka",
        contact_day=day,
        anonymous=anonymous,
        customer_id=None if anonymous else "C-7",
        token_hashes=[token_hash(token)] if token else [],
        recipient_ref=ref,
        expires_at=datetime.now(UTC) + timedelta(days=14),
    )


async def figures_of(collector: CollectorService) -> list[FiguresPublished]:
    """The figure records in the outbox, in the order they were written."""
    async with collector.engine.connect() as connection:
        payloads = await connection.scalars(
            sa.select(collector_tables.outbox.c.payload)
            .where(collector_tables.outbox.c.topic == FIGURES_PUBLISHED.name)
            .order_by(collector_tables.outbox.c.id)
        )
        return [FiguresPublished.model_validate_json(p) for p in payloads]


class TestCollectorStore:
    async def test_a_token_answers_once(self, collector: CollectorService) -> None:
        sent = invitation(anonymous=False, day=date(2026, 1, 5), token="tok-1")
        await collector.handle_invitations_sent([sent])
        await collector.handle_invitations_sent([sent])  # redelivery: no second row
        survey = await collector.survey_for_token(token_hash("tok-1"))
        assert survey is not None
        assert survey.state == "open"
        assert await collector.answer(survey.invitation_id, 9, "hyvä")
        assert not await collector.answer(survey.invitation_id, 3, "again")
        answered = await collector.survey_for_token(token_hash("tok-1"))
        assert answered is not None
        assert answered.state == "answered"
        assert await collector.survey_for_token(token_hash("unknown")) is None

    async def test_anonymous_answers_wait_sealed_then_only_count_and_comments_stand_alone(
        self, collector: CollectorService
    ) -> None:
        sent = [
            invitation(anonymous=True, day=date(2026, 1, 6), token=f"tok-anon-{n}")
            for n in range(5)
        ]
        await collector.handle_invitations_sent(sent)
        for n, one in enumerate(sent[:4]):
            assert await collector.answer(one.invitation_id, 4 + n, f"nimetön {n}")
        await collector.publish_figures()

        async def stored() -> tuple[list[str], int, list[str], int]:
            async with collector.engine.connect() as connection:
                sealed = list(
                    await connection.scalars(sa.select(collector_tables.sealed_answers.c.sealed))
                )
                named = await connection.scalar(
                    sa.select(sa.func.count()).select_from(collector_tables.responses)
                )
                comments = list(
                    await connection.scalars(
                        sa.select(collector_tables.anonymous_comments.c.comment)
                    )
                )
                cells = collector_tables.figure_cells.c
                counted = await connection.scalar(
                    sa.select(sa.func.coalesce(sa.func.sum(cells.responses), 0)).where(
                        cells.grain == "day", cells.dimension == "total"
                    )
                )
            return sealed, int(named or 0), comments, int(counted or 0)

        sealed, named, comments, counted = await stored()
        assert len(sealed) == 4
        assert not any("nimet" in text for text in sealed), "sealed: no plaintext"
        assert (named, comments, counted) == (0, [], 0), "nothing readable until a group is full"
        assert await collector.answer(sent[4].invitation_id, 9, "")
        await collector.publish_figures()
        sealed, named, comments, counted = await stored()
        assert (sealed, named, counted) == ([], 0, 5), "released into the counts, no row each"
        assert sorted(comments) == [f"nimetön {n}" for n in range(4)]

    async def test_cells_publish_at_min_group_and_then_every_min_group_more(
        self, collector: CollectorService
    ) -> None:
        day = date(2026, 1, 7)
        for n in range(12):
            sent = invitation(anonymous=False, day=day, token=f"t{n}")
            await collector.handle_invitations_sent([sent])
            assert await collector.answer(sent.invitation_id, [10, 9, 8, 3][n % 4], "")
            await collector.publish_figures()
        published = await figures_of(collector)
        totals = [p for p in published if (p.grain, p.dimension) == ("day", "total")]
        # Scores 10, 9, 8, 3 repeating: after ten, 6 promoters, 2 passives, 2 detractors.
        # Between, each answer that came is a revision saying how many came (`received`).
        assert [
            (p.revision, p.responses, p.received, p.promoters, p.detractors, p.nps) for p in totals
        ] == [
            (1, 5, 5, 3, 1, 40.0),
            *((n - 4, 5, n, 3, 1, 40.0) for n in range(6, 10)),
            (6, 10, 10, 6, 2, 40.0),
            (7, 10, 11, 6, 2, 40.0),
            (8, 10, 12, 6, 2, 40.0),
        ]
        assert {p.received for p in published if p.dimension != "total"} == {None}
        # The default layout: the day and the week by unit, the month by every breakdown.
        assert {p.cell_key for p in published if p.responses == 10} == {
            "day|2026-01-07|total|",
            "day|2026-01-07|unit|Kotka",
            "week|2026-W02|total|",
            "week|2026-W02|unit|Kotka",
            *(
                f"month|2026-01|{dimension}"
                for dimension in (
                    "total|",
                    "contact_channel|chat",
                    "survey_channel|email",
                    "language|fi",
                    "unit|Kotka",
                    "programme|default",
                )
            ),
        }
        assert all(p.responses in (5, 10) for p in published)

    async def test_csat_beside_nps_each_over_the_answers_that_gave_it(
        self, collector: CollectorService
    ) -> None:
        day = date(2026, 1, 17)
        for n, (score, csat) in enumerate([(10, 5), (9, None), (None, 4), (3, 2), (None, 1)]):
            sent = invitation(anonymous=False, day=day, token=f"csat{n}")
            await collector.handle_invitations_sent([sent])
            assert await collector.answer(sent.invitation_id, score, "", csat)
        with pytest.raises(ValueError, match="NPS score, a CSAT score or both"):
            await collector.answer(uuid.uuid4(), None, "")
        await collector.publish_figures()
        (cell,) = [p for p in await figures_of(collector) if p.cell_key == "day|2026-01-17|total|"]
        assert (cell.responses, cell.nps_responses, cell.csat_responses) == (5, 3, 4)
        assert (cell.promoters, cell.passives, cell.detractors, cell.nps) == (2, 0, 1, 33.3)
        assert (cell.satisfied, cell.csat) == (2, 50.0)

    async def test_a_day_publishes_its_groups_the_week_its_leftovers_then_final_figures(
        self, collector: CollectorService
    ) -> None:
        monday, tuesday = date(2026, 1, 5), date(2026, 1, 6)
        answers = [(monday, "Kotka", "fi")] * 6 + [(monday, "Kouvola", "fi")] * 2
        answers += [(tuesday, "Kouvola", "fi")] * 3 + [(tuesday, "Kouvola", "sv")]
        for n, (day, unit, language) in enumerate(answers):
            sent = invitation(anonymous=False, day=day, token=f"final{n}").model_copy(
                update={"unit": unit, "language": language}
            )
            await collector.handle_invitations_sent([sent])
            assert await collector.answer(sent.invitation_id, 9, "")
        await collector.publish_figures(today=tuesday)
        first = await figures_of(collector)
        assert {(p.cell_key, p.responses) for p in first if p.dimension == "unit"} == {
            ("day|2026-01-05|unit|Kotka", 6),
            ("week|2026-W02|unit|Kotka", 6),
            ("month|2026-01|unit|Kotka", 6),
        }, "Kouvola's five wait: two on Monday, three on Tuesday, each day fewer than five"
        # A day after they came, the answers have waited for their day long enough: Kouvola's
        # five Finnish ones join the week and the month, never their days; the Swedish one
        # waits.
        await collector.publish_figures(today=datetime.now(UTC).date() + timedelta(days=1))
        week = {p.cell_key: p.responses for p in (await figures_of(collector))[len(first) :]}
        assert week["week|2026-W02|unit|Kouvola"] == 5
        assert week["month|2026-01|unit|Kouvola"] == 5
        assert week["month|2026-01|language|fi"] == 11
        assert not [key for key in week if key.startswith("day|")]
        first = await figures_of(collector)
        # Every survey of those days closes; a month later the days are final.
        async with collector.engine.begin() as connection:
            await connection.execute(
                collector_tables.invitations.update().values(
                    expires_at=datetime.now(UTC) - timedelta(hours=1)
                )
            )
        await collector.publish_figures(today=date(2026, 2, 20))
        later = (await figures_of(collector))[len(first) :]
        newest = {p.cell_key: p for p in later}
        assert newest["month|2026-01|unit|Kouvola"].responses == 5
        assert newest["month|2026-01|total|"].responses == 11
        assert "month|2026-01|language|sv" not in newest, "one Swedish answer: never published"
        assert newest["day|2026-01-05|total|"].responses == 6
        assert all(p.final for p in newest.values())
        assert newest["day|2026-01-05|total|"].revision == 2
        async with collector.engine.connect() as connection:
            waiting = await connection.scalar(
                sa.select(sa.func.count()).select_from(collector_tables.sealed_answers)
            )
        assert waiting == 0
        assert await collector.publish_figures(today=date(2026, 2, 21)) == 0, "final is final"

    async def test_an_erasure_removes_the_person_and_a_late_invitation_to_them_is_dropped(
        self, collector: CollectorService
    ) -> None:
        ref = recipient_ref(collector.settings.recipient_pepper, "+358401112299")
        named = invitation(anonymous=False, day=date(2026, 1, 9), token="erase-1")
        by_sms = invitation(anonymous=True, day=date(2026, 1, 9), ref=ref)
        await collector.handle_invitations_sent([named, by_sms])
        assert await collector.answer(named.invitation_id, 8, "nimellä")
        await collector.handle_erasure_requests(
            [ErasureRequested(request_id=uuid.uuid4(), customer_id="C-7", phone="+358401112299")]
        )
        late = invitation(anonymous=False, day=date(2026, 1, 9), token="erase-2")
        other = late.model_copy(
            update={"customer_id": "C-8", "invitation_id": uuid.uuid4(), "event_id": uuid.uuid4()}
        )
        await collector.handle_invitations_sent([late, other])
        async with collector.engine.connect() as connection:
            kept = list(
                await connection.scalars(sa.select(collector_tables.invitations.c.customer_id))
            )
            answers = await connection.scalar(
                sa.select(sa.func.count()).select_from(collector_tables.responses)
            )
            remembered = list(
                await connection.scalars(sa.select(collector_tables.erased_people.c.pseudonym))
            )
            (payload,) = await connection.scalars(
                sa.select(collector_tables.outbox.c.payload).where(
                    collector_tables.outbox.c.topic == ERASURE_COMPLETED.name
                )
            )
        assert kept == ["C-8"], "the late invitation to the erased customer is dropped"
        assert answers == 0
        assert len(remembered) == 2
        assert "C-7" not in repr(remembered)
        assert ErasureCompleted.model_validate_json(payload).erased == {
            "responses": 1,
            "tokens": 1,
            "invitations": 2,
            "held_replies": 0,
        }

    async def test_sms_reply_answers_the_senders_open_invitation(
        self, collector: CollectorService
    ) -> None:
        ref = recipient_ref(collector.settings.recipient_pepper, "+358401234567")
        await collector.handle_invitations_sent(
            [invitation(anonymous=False, day=date(2026, 1, 8), ref=ref)]
        )
        assert await collector.answer_sms("+358401234567", "hello?") == "unreadable"
        assert await collector.answer_sms("+358409999999", "9") == "held"
        assert await collector.answer_sms("+358401234567", "9 kiitos") == "recorded"
        assert await collector.answer_sms("+358401234567", "10") == "held", "already answered"
        assert await collector.answer_sms("+358401234567", "STOP") == "opted_out"


@pytest.mark.parametrize("service", ["consent", "dispatcher", "collector"])
async def test_migrations_build_exactly_the_schema_the_models_describe(
    database_url: str, service: str
) -> None:
    tables = importlib.import_module(f"palaute_{service}.tables")
    engine = create_engine(database_url)
    try:
        await migrate(engine, tables.MIGRATIONS)
        await migrate(engine, tables.MIGRATIONS)  # a restart finds nothing to do
        async with engine.connect() as connection:
            missing = await connection.run_sync(differences, tables.metadata)
    finally:
        await engine.dispose()
    assert missing == [], "write a migration: palaute-migrations revision SERVICE -m ..."


async def test_an_sms_reply_that_outruns_its_invitation_is_held_and_then_applied(
    collector: CollectorService,
) -> None:
    ref = recipient_ref(collector.settings.recipient_pepper, "+358405550000")
    sent = invitation(anonymous=False, day=date(2026, 1, 9), ref=ref)  # sent by the dispatcher
    assert await collector.answer_sms("+358405550000", "10 nopeaa") == "held"
    await collector.handle_invitations_sent([sent])
    async with collector.engine.connect() as connection:
        stored = (
            await connection.execute(
                sa.select(
                    collector_tables.responses.c.score, collector_tables.responses.c.comment
                ).where(collector_tables.responses.c.invitation_id == sent.invitation_id)
            )
        ).all()
        held = await connection.scalar(
            sa.select(sa.func.count()).select_from(collector_tables.held_replies)
        )
    assert [tuple(row) for row in stored] == [(10, "nopeaa")]
    assert held == 0
