"""The periods of the figures: a day, an ISO week (Monday to Sunday) or a month, as the
collector publishes them and their readers group by them."""

from __future__ import annotations

from datetime import date, timedelta

from palaute_schemas.messages import Grain


def period_start(grain: Grain, day: date) -> date:
    """The first day of the day, ISO week (Monday) or month that holds `day`."""
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_end(grain: Grain, start: date) -> date:
    """The last day of the period that starts on `start`."""
    if grain == "day":
        return start
    if grain == "week":
        return start + timedelta(days=6)
    following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def period_label(grain: Grain, start: date) -> str:
    """2026-11-23, 2026-W48 or 2026-11."""
    if grain == "day":
        return start.isoformat()
    if grain == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"
