"""How much of what respondents said reaches the published figures, under today's release
rule (services/collector/palaute_collector/figures.py): realistic streams of answers at 5,
10, 40, 100 and 300 a day over 90 simulated days, run through the real `release()` as the
collector's publication round runs it (once a day here): answers of open days at day grain
(counted in their day, week and month cells), answers of final days (8 days on) at month
grain only, and what cannot form a group in its final month never published.

The stream is skewed as real contacts are: four units (half the answers in the first),
six contact channels, SMS and email surveys, three languages (fi 70 %, sv 20 %, en 10 %),
two programmes, a fifth anonymous, and a tenth of SMS replies arriving one to three days
late. For each size it prints, per grain, the share of answers in published figures within
1, 7 and 31 days of the answer, and the share never published. Deterministic (a seed).

    ./dev python bench/figures_utility.py [--days 90] [--sizes 5,10,40,100,300] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from palaute_collector.figures import (
    DEFAULT_LAYOUT,
    DEFAULT_WEEK_AFTER_DAYS,
    Answer,
    Grain,
    Rule,
    cells_of,
    joins,
    layout_text,
    parse_layout,
    period_end,
    publication_round,
)

MIN_GROUP = 5
FINAL_AFTER = 8  # PALAUTE_FIGURES_FINAL_AFTER_DAYS
START = date(2026, 1, 5)  # a Monday

UNITS = {"Kotka": 50, "Kouvola": 25, "Hamina": 15, "Lappeenranta": 10}
CONTACT_CHANNELS = {"phone": 40, "chat": 25, "email": 15, "web_form": 10, "branch": 6, "social": 4}
LANGUAGES = {"fi": 70, "sv": 20, "en": 10}
PROGRAMMES = {"default": 80, "b2b": 20}


@dataclass
class Given:
    """One answer of the stream, and when each grain first published it."""

    answer: Answer
    answered: date
    published: dict[Grain, date] = field(default_factory=dict)
    never: bool = False


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def stream(per_day: int, days: int, rng: random.Random) -> list[Given]:
    """The answers of `days` days, about `per_day` a day (Poisson-like spread)."""
    given = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        for _ in range(max(0, round(rng.gauss(per_day, per_day**0.5)))):
            survey_channel = "sms" if rng.random() < 0.6 else "email"
            late = survey_channel == "sms" and rng.random() < 0.1
            answer = Answer(
                day=day,
                contact_channel=_pick(rng, CONTACT_CHANNELS),
                survey_channel=survey_channel,
                language=_pick(rng, LANGUAGES),
                unit=_pick(rng, UNITS),
                score=rng.randint(0, 10),
                csat=None,
                anonymous=rng.random() < 0.2,
                programme=_pick(rng, PROGRAMMES),
            )
            answered = day + timedelta(days=rng.randint(1, 3) if late else 0)
            given.append(Given(replace(answer, received=answered), answered))
    return given


def run(given: list[Given], days: int, rule: Rule) -> None:
    """Each simulated day: what arrived joins the waiting answers, and one publication round
    releases what it may, as Publishing.publish_figures does."""
    waiting: list[Given] = []
    by_day: dict[date, list[Given]] = {}
    for one in given:
        by_day.setdefault(one.answered, []).append(one)
    for offset in range(days + 40):  # and on, until every month is final
        today = START + timedelta(days=offset)
        waiting += by_day.get(today, [])

        def final(day: date, today: date = today) -> bool:
            return day <= today - timedelta(days=FINAL_AFTER)

        def closed(grain: Grain, start: date, today: date = today) -> bool:
            return period_end(grain, start) < today - timedelta(days=FINAL_AFTER)

        step = publication_round([g.answer for g in waiting], rule, today, final, closed)
        for level, positions in step.released.items():
            for n in positions:
                for grain in joins(level):
                    waiting[n].published.setdefault(grain, today)
        for n in step.never:
            waiting[n].never = True
        gone = set(step.gone)
        waiting = [g for n, g in enumerate(waiting) if n not in gone]


def report(per_day: int, given: list[Given], days: int, rule: Rule) -> list[str]:
    """The size's rows: per grain, the share published within 1, 7, 31 days and ever, and
    the cells a reader sees as "fewer than 5" (answers received, none published); then the
    share never published (every released answer is in its month: month ever + never is
    all)."""
    counted = [g for g in given if g.answered <= START + timedelta(days=days - 32)]
    rows = []
    for grain in ("day", "week", "month"):
        within = []
        for lag in (1, 7, 31, 366):
            inside = sum(
                1
                for g in counted
                if grain in g.published and g.published[grain] - g.answered <= timedelta(lag)
            )
            within.append(100.0 * inside / len(counted) if counted else 0.0)
        received: set[object] = set()
        shown: set[object] = set()
        for g in given:
            cells = cells_of(g.answer, (grain,), rule.layout)
            received.update(cells)
            if grain in g.published:
                shown.update(cells)
        rows.append(
            f"| {per_day} | {grain} | {within[0]:.0f} % | {within[1]:.0f} % | {within[2]:.0f} %"
            f" | {within[3]:.0f} % | {len(received - shown)} of {len(received)} |"
        )
    never = 100.0 * sum(g.never for g in counted) / len(counted) if counted else 0.0
    rows.append(f"| {per_day} | never published | | | | {never:.0f} % | |")
    return rows


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90, help="simulated days of answers (90)")
    parser.add_argument("--sizes", default="5,10,40,100,300", help="answers a day, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--layout",
        default=layout_text(DEFAULT_LAYOUT),
        help="breakdowns per grain, as PALAUTE_FIGURES_BREAKDOWNS (default: the service's)",
    )
    parser.add_argument(
        "--week-after",
        type=int,
        default=DEFAULT_WEEK_AFTER_DAYS,
        help="days an answer waits for its day's figures, as PALAUTE_FIGURES_WEEK_AFTER_DAYS",
    )
    args = parser.parse_args(argv)
    try:
        rule = Rule(MIN_GROUP, parse_layout(args.layout), args.week_after)
    except ValueError as error:
        print(f"error: --layout: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        print("error: --sizes is whole numbers separated by commas, e.g. 5,10,40", file=sys.stderr)
        raise SystemExit(2) from None
    if args.days < 40 or any(size < 1 for size in sizes):
        print("error: --days must be at least 40 and each size at least 1", file=sys.stderr)
        raise SystemExit(2)
    print(f"layout {layout_text(rule.layout)}, week after {rule.week_after_days} days")
    print(
        "| answers a day | grain | within 1 day | within 7 days | within 31 days | ever"
        ' | cells shown "fewer than 5" |'
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size in sizes:
        started = time.monotonic()
        given = stream(size, args.days, random.Random(args.seed * 1000 + size))
        run(given, args.days, rule)
        for row in report(size, given, args.days, rule):
            print(row)
        print(f"  ({len(given)} answers, {time.monotonic() - started:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
