"""Consent's copy of what BI reads, for the results page: the newest revision of each figure
cell whatever order the records come in, the newest funnel record, and the views made of
them (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_consent.results import PublishedResults, csv_rows, figures_view, funnel_view
from palaute_schemas import FiguresPublished, FunnelPublished


def cell(period_start: date, value: str, revision: int, **counts: Any) -> FiguresPublished:
    week = period_start.isocalendar()
    fields: dict[str, Any] = {
        "grain": "week",
        "period": f"{week[0]}-W{week[1]:02d}",
        "period_start": period_start,
        "dimension": "total" if value == "" else "unit",
        "value": value,
        "revision": revision,
        "responses": 5,
        "promoters": 5,
        "passives": 0,
        "detractors": 0,
        "nps_responses": 5,
        "nps": 100.0,
        "csat_responses": 0,
        "satisfied": 0,
        "csat": None,
    }
    return FiguresPublished.model_validate(fields | counts)


async def test_the_newest_revision_is_kept_whatever_order_the_records_come_in(
    consent_db: AsyncEngine,
) -> None:
    results = PublishedResults(consent_db)
    monday, next_monday = date(2026, 6, 1), date(2026, 6, 8)
    newer = cell(monday, "", 3, responses=12, received=15, nps_responses=12)
    await results.handle_figures([newer, cell(monday, "Iso", 1)])
    await results.handle_figures([cell(monday, "", 2, responses=5, received=6)])  # late, older
    await results.handle_figures(
        [cell(next_monday, "", 1), cell(next_monday, "Pieni", 1, nps=-100.0, promoters=0)]
    )
    kept = await results.figures("week", "unit")
    assert {(c.period, c.value, c.revision) for c in kept} == {
        ("2026-W23", "", 3),
        ("2026-W23", "Iso", 1),
        ("2026-W24", "", 1),
        ("2026-W24", "Pieni", 1),
    }
    view = figures_view(kept, "week", "unit", "nps")
    assert view.periods == ["2026-W23", "2026-W24"]
    assert (view.received, view.counted, view.not_in_figures) == (15, 12, 3)
    assert [(p.value, p.responses) for p in view.rows["Iso"]] == [(100.0, 5), (None, None)]
    assert [(p.value, p.responses) for p in view.rows["Pieni"]] == [(None, None), (-100.0, 5)]
    assert ["2026-W24", "false", "Iso", "", "<5", ""] in csv_rows(view)


async def test_the_response_rate_counts_the_funnel_cells_whose_answers_are_published(
    consent_db: AsyncEngine,
) -> None:
    results = PublishedResults(consent_db)

    def funnel(day: int, sent: int, answered: int | None) -> FunnelPublished:
        return FunnelPublished(
            day=date(2026, 6, day),
            channel="sms",
            sent=sent,
            delivered=sent,
            undelivered=0,
            opened=0,
            answered=answered,
            response_rate=None if answered is None else round(100 * answered / sent, 1),
        )

    await results.handle_funnel([funnel(1, 20, None), funnel(2, 40, 10)])
    await results.handle_funnel([funnel(1, 25, 5)])  # the same cell, later
    view = funnel_view(await results.funnel(), "week", "survey_channel")
    (point,) = view.rows["sms"]
    assert (point.value, point.responses, point.base) == (23.1, 15, 65)
