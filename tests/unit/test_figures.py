"""The figures' release rule against an attacker who reads everything published.

The attacker holds every revision of every cell ever published (day, ISO week and month;
total and each breakdown) and tries to single out fewer answers than the minimum group:
a cell published with fewer, the difference of two revisions of a cell, a total minus the
sum of its breakdown, a week or month minus its days, and how each of those changes from
one publication to the next. The suppressed figures are the answers still held back: the
published totals count released answers only, so nothing published bounds them at all
(their feasible range is unbounded); what must hold is that no derivable group is smaller
than the minimum. As ground truth on top, the anonymous answers of every released group
in every cell are 0 or at least the minimum too (a reader of the database who knows every
named answer subtracts them). Hypothesis draws the answers, the order they come in and
when the collector publishes; without secondary suppression the attacker wins.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, Phase, event, find, given, settings
from hypothesis import strategies as st

from palaute_collector.figures import (
    BREAKDOWNS,
    DIMENSIONS,
    EVERY_BREAKDOWN,
    GRAINS,
    Answer,
    Cell,
    Counts,
    Grain,
    Layout,
    Rule,
    all_days_final,
    cells_of,
    joins,
    layout_text,
    parse_layout,
    period_end,
    period_label,
    period_start,
    publication_round,
    releasable,
    release,
)

MIN_GROUP = 5
# A Sunday, then Monday to Wednesday across a month's end: two ISO weeks, two months.
DAYS = [date(2026, 3, 29), date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1)]


def answer(
    day: date = DAYS[1],
    unit: str = "Kotka",
    language: str = "fi",
    *,
    score: int | None = 9,
    csat: int | None = None,
    anonymous: bool = False,
    contact_channel: str = "phone",
    survey_channel: str = "sms",
) -> Answer:
    return Answer(day, contact_channel, survey_channel, language, unit, score, csat, anonymous)


answers_strategy = st.builds(
    Answer,
    day=st.sampled_from(DAYS),
    contact_channel=st.sampled_from(["phone", "chat", "branch"]),
    survey_channel=st.sampled_from(["sms", "email"]),
    language=st.sampled_from(["fi", "sv", "en"]),
    unit=st.sampled_from(["Kotka", "Kouvola", "Malmö"]),
    score=st.one_of(st.none(), st.integers(0, 10)),
    csat=st.integers(1, 5),
    anonymous=st.booleans(),
)


@dataclass
class Published:
    """What the attacker holds: every record, and the newest per key after each round."""

    records: list[tuple[Cell, Counts]] = field(default_factory=list)
    newest: dict[Cell, Counts] = field(default_factory=dict)
    moments: list[dict[Cell, Counts]] = field(default_factory=list)
    # Ground truth the attacker does not see: each released group's anonymous answers.
    anonymous_steps: list[int] = field(default_factory=list)
    never: int = 0


RULE = Rule(MIN_GROUP)  # the service's default layout and patience
FINAL_AFTER = 8
# Answers arrive while no day is final yet; then rounds as each day, the weeks and the
# months turn final (a day is final FINAL_AFTER days on).
ARRIVING = [DAYS[-1] + timedelta(days=n) for n in range(5)]
CLOSING = [
    date(2026, 4, 6),
    date(2026, 4, 7),
    date(2026, 4, 8),
    date(2026, 4, 9),
    date(2026, 4, 13),
    date(2026, 5, 8),
]


def simulate(arrivals: list[list[Answer]], rule: Rule = RULE) -> Published:
    """The collector's loop: answers come in rounds, a day apart, each round releases what
    it may; then rounds as the days, weeks and months turn final."""
    published = Published()
    waiting: list[Answer] = []
    closed: set[tuple[Grain, date]] = set()
    todays = [ARRIVING[min(n, len(ARRIVING) - 1)] for n in range(len(arrivals))] + CLOSING
    for n, today in enumerate(todays):
        waiting += (
            [replace(one, received=today) for one in arrivals[n]] if n < len(arrivals) else []
        )

        def final(day: date, today: date = today) -> bool:
            return day <= today - timedelta(days=FINAL_AFTER)

        step = publication_round(
            waiting, rule, today, final, lambda grain, start: (grain, start) in closed
        )
        for level, positions in step.released.items():
            anonymous: dict[Cell, int] = defaultdict(int)
            for position in positions:
                for cell in cells_of(waiting[position], joins(level), rule.layout):
                    anonymous[cell] += waiting[position].anonymous
            published.anonymous_steps.extend(anonymous.values())
        for cell, counts in sorted(step.counts.items()):
            assert cell.grain != "day" or not final(cell.period_start)
            assert (cell.grain, cell.period_start) not in closed
            newest = published.newest.setdefault(cell, Counts())
            newest.add(counts)
            published.records.append((cell, Counts(**newest.as_dict())))
        published.moments.append({c: Counts(**n.as_dict()) for c, n in published.newest.items()})
        published.never += len(step.never)
        gone = set(step.gone)
        waiting = [one for n, one in enumerate(waiting) if n not in gone]
        for grain in GRAINS:
            for day in DAYS:
                start = period_start(grain, day)
                if final(period_end(grain, start)):
                    closed.add((grain, start))
    assert waiting == []
    return published


def derivable_groups(published: Published) -> list[tuple[str, int]]:
    """Every group size the attacker can derive from the published figures."""
    groups: list[tuple[str, int]] = []
    last: dict[Cell, int] = {}
    for cell, counts in published.records:
        groups.append((f"{cell.key} published", counts.responses))
        groups.append((f"{cell.key} revision step", counts.responses - last.get(cell, 0)))
        last[cell] = counts.responses
    before: dict[str, int] = {}
    for moment in published.moments:
        for name, size in _remainders(moment).items():
            groups.append((name, size))
            groups.append((f"{name}, change", size - before.get(name, 0)))
            before[name] = size
    return groups


def _remainders(moment: dict[Cell, Counts]) -> dict[str, int]:
    """Totals minus their breakdowns, weeks minus their days, and months minus their days
    and minus their whole weeks and the other days."""
    found: dict[str, int] = {}
    totals = {
        (c.grain, c.period_start): n.responses for c, n in moment.items() if c.dimension == "total"
    }
    for (grain, start), total in totals.items():
        for dimension in BREAKDOWNS:
            row = [
                n.responses
                for c, n in moment.items()
                if (c.grain, c.period_start, c.dimension) == (grain, start, dimension)
            ]
            if row:
                found[f"{grain} {start} total - {dimension}"] = total - sum(row)

    def of(grain: Grain, cell: Cell, first: date, last: date) -> int | None:
        parts = [
            n.responses
            for c, n in moment.items()
            if c.grain == grain
            and (c.dimension, c.value) == (cell.dimension, cell.value)
            and first <= c.period_start
            and period_end(grain, c.period_start) <= last
        ]
        return sum(parts) if parts else None

    for cell, counts in moment.items():
        if cell.grain == "day":
            continue
        end = period_end(cell.grain, cell.period_start)
        days = of("day", cell, cell.period_start, end)
        if days is not None:
            found[f"{cell.key} - its days"] = counts.responses - days
        if cell.grain == "month":
            weeks = of("week", cell, cell.period_start, end)
            inside = {
                c.period_start
                for c in moment
                if c.grain == "week"
                and cell.period_start <= c.period_start
                and period_end("week", c.period_start) <= end
            }
            other_days = sum(
                n.responses
                for c, n in moment.items()
                if c.grain == "day"
                and (c.dimension, c.value) == (cell.dimension, cell.value)
                and cell.period_start <= c.period_start <= end
                and period_start("week", c.period_start) not in inside
            )
            if weeks is not None:
                found[f"{cell.key} - its weeks and other days"] = (
                    counts.responses - weeks - other_days
                )
    return found


def disclosures(published: Published) -> list[tuple[str, int]]:
    """The groups of 1 to MIN_GROUP - 1 answers the attacker singles out."""
    return [(name, size) for name, size in derivable_groups(published) if 0 < size < MIN_GROUP]


def rounds(answers: list[Answer], cuts: list[int]) -> list[list[Answer]]:
    edges = sorted({0, len(answers), *(c % (len(answers) + 1) for c in cuts)})
    return [answers[a:b] for a, b in itertools.pairwise(edges)]


LAYOUTS = [
    RULE.layout,
    EVERY_BREAKDOWN,
    parse_layout("day=*;week=unit;month=language"),  # a day finer than its week
    parse_layout("day=;week=language,unit;month=*"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    answers=st.lists(answers_strategy, min_size=0, max_size=120),
    cuts=st.lists(st.integers(0, 120), max_size=8),
    layout=st.sampled_from(LAYOUTS),
    patience=st.integers(0, 3),
)
def test_the_attacker_singles_out_no_group_under_the_minimum(
    answers: list[Answer], cuts: list[int], layout: Layout, patience: int
) -> None:
    published = simulate(rounds(answers, cuts), Rule(MIN_GROUP, layout, patience))
    assert disclosures(published) == []
    assert all(n == 0 or n >= MIN_GROUP for n in published.anonymous_steps)
    # Every answer is counted once per grain and dimension, none twice: released at some
    # level (and so in its month) or never published.
    totals = {c: n for c, n in published.newest.items() if c.dimension == "total"}
    day_total = sum(n.responses for c, n in totals.items() if c.grain == "day")
    week_total = sum(n.responses for c, n in totals.items() if c.grain == "week")
    month_total = sum(n.responses for c, n in totals.items() if c.grain == "month")
    assert day_total <= week_total <= month_total == len(answers) - published.never


@st.composite
def named_with_a_few_anonymous(draw: st.DrawFn) -> list[Answer]:
    """Named answers with one to four anonymous ones among them, in one group or spread over
    a few: the case an unconstrained draw almost never makes, and the one that tells a
    reader who knows the named answers what the anonymous ones said."""
    named = draw(st.lists(answers_strategy, min_size=MIN_GROUP, max_size=30))
    named = [replace(one, anonymous=False) for one in named]
    anonymous = [
        replace(draw(st.sampled_from(named)), anonymous=True, score=draw(st.integers(0, 10)))
        for _ in range(draw(st.integers(1, MIN_GROUP - 1)))
    ]
    return draw(st.permutations([*named, *anonymous]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=named_with_a_few_anonymous(), cuts=st.lists(st.integers(0, 40), max_size=4))
def test_one_to_four_anonymous_answers_among_named_ones_are_never_released_alone(
    answers: list[Answer], cuts: list[int]
) -> None:
    published = simulate(rounds(answers, cuts))
    assert all(n == 0 or n >= MIN_GROUP for n in published.anonymous_steps)
    assert disclosures(published) == []


@pytest.mark.parametrize("anonymous", range(1, MIN_GROUP))
def test_a_group_of_named_answers_releases_without_its_few_anonymous_ones(anonymous: int) -> None:
    named = [answer() for _ in range(MIN_GROUP)]
    group = named + [answer(anonymous=True) for _ in range(anonymous)]
    assert releasable(group, RULE, "day") == list(range(MIN_GROUP))


EVERY = Rule(MIN_GROUP, EVERY_BREAKDOWN)


def test_without_secondary_suppression_the_attacker_wins() -> None:
    """The same attacker, against figures released with primary suppression only: one
    answer in Swedish is held, the four other answers of its unit are published as four."""
    swedish = answer(language="sv")
    kotka = [answer() for _ in range(4)]
    kouvola = [answer(unit="Kouvola") for _ in range(5)]
    arrivals = [[*kotka, swedish, *kouvola]]
    assert disclosures(simulate(arrivals, EVERY)) == []
    found = disclosures(simulate(arrivals, replace(EVERY, secondary=False)))
    assert ("day|2026-03-30|unit|Kotka published", 4) in found


def test_without_the_coarser_grains_checked_the_attacker_wins() -> None:
    """A layout whose week has a breakdown its day has not: a day's release checked at its
    day only puts four Swedish answers in the week."""
    rule = Rule(MIN_GROUP, parse_layout("day=unit;week=language;month=language"))
    arrivals = [[answer(language="sv") for _ in range(4)] + [answer() for _ in range(4)]]
    assert disclosures(simulate(arrivals, rule)) == []
    found = disclosures(simulate(arrivals, replace(rule, coarser=False)))
    assert ("week|2026-W14|language|sv published", 4) in found


def test_without_the_anonymous_rule_a_reader_of_the_named_answers_wins() -> None:
    """Five named answers and two anonymous ones of a day: without the rule the seven go
    together, and whoever knows the five named ones knows what the two said."""
    arrivals = [[answer() for _ in range(5)] + [answer(anonymous=True) for _ in range(2)]]
    assert all(n in (0, 5) for n in simulate(arrivals, EVERY).anonymous_steps)
    steps = simulate(arrivals, replace(EVERY, anonymous=False)).anonymous_steps
    assert 2 in steps


@pytest.mark.parametrize("part", ["secondary", "coarser", "anonymous"])
def test_hypothesis_finds_a_disclosure_with_each_part_switched_off(part: str) -> None:
    """Not only the hand-made cases: random answer sets break the rule without any part."""
    rule = Rule(MIN_GROUP, parse_layout("day=unit;week=*;month=*"))
    broken = replace(rule, **{part: False})

    def wins(published: Published) -> bool:
        return bool(disclosures(published)) or any(
            0 < n < MIN_GROUP for n in published.anonymous_steps
        )

    drawn = named_with_a_few_anonymous() if part == "anonymous" else st.lists(answers_strategy)
    example = find(
        drawn,
        lambda answers: wins(simulate([answers], broken)),
        # The first one found proves it; shrinking it to the smallest would only cost time.
        settings=settings(
            max_examples=2000,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            derandomize=True,
        ),
    )
    assert wins(simulate([example], broken))
    assert not wins(simulate([example], rule))


# Few values, so that many subsets can be released and the search has work to do.
narrow_answers = st.builds(
    Answer,
    day=st.sampled_from(DAYS[1:3]),
    contact_channel=st.just("phone"),
    survey_channel=st.just("sms"),
    language=st.sampled_from(["fi", "fi", "fi", "sv"]),
    unit=st.sampled_from(["Kotka", "Kotka", "Kotka", "Kouvola"]),
    score=st.integers(0, 10),
    csat=st.none(),
    anonymous=st.sampled_from([False, False, False, True]),
)


@settings(max_examples=300, deadline=None)
@given(
    answers=st.lists(narrow_answers, min_size=4, max_size=12),
    level=st.sampled_from(GRAINS),
    layout=st.sampled_from(LAYOUTS),
)
def test_the_release_is_the_largest_group_an_exhaustive_search_finds(
    answers: list[Answer], level: Grain, layout: Layout
) -> None:
    """The pruning is exact: no subset of the answers that keeps every cell at 0 or at least
    the minimum (and its anonymous answers too) is larger than the one it releases."""
    rule = Rule(MIN_GROUP, layout)
    chosen = releasable(answers, rule, level)
    # Each cell as the set of answers in it (bits), everyone's and the anonymous ones'.
    everyone: dict[Cell, int] = defaultdict(int)
    anonymous: dict[Cell, int] = defaultdict(int)
    for n, one in enumerate(answers):
        for cell in cells_of(one, joins(level), rule.layout):
            everyone[cell] |= 1 << n
            anonymous[cell] |= one.anonymous << n
    masks = [*everyone.values(), *anonymous.values()]

    def allowed(subset: int) -> bool:
        return all((mask & subset).bit_count() in (0, *range(MIN_GROUP, 99)) for mask in masks)

    assert allowed(sum(1 << n for n in chosen))
    largest = max(
        (subset.bit_count() for subset in range(1 << len(answers)) if allowed(subset)), default=0
    )
    assert len(chosen) == largest
    event(f"released {min(len(chosen), 5) // 5 * 5}+")


def test_the_release_is_the_largest_group_with_every_cell_empty_or_full() -> None:
    kotka = [answer() for _ in range(6)]
    # Kouvola's five: one of them is the only Swedish answer, so Kouvola falls to four and
    # waits altogether (secondary), while Kotka's six go.
    kouvola = [answer(unit="Kouvola") for _ in range(4)] + [answer(unit="Kouvola", language="sv")]
    assert releasable(kotka + kouvola, EVERY, "day") == list(range(6))
    # Four anonymous answers among named ones wait; the named ones go if they are enough.
    mixed = [answer() for _ in range(5)] + [answer(anonymous=True) for _ in range(4)]
    assert releasable(mixed, EVERY, "day") == list(range(5))
    assert releasable([*mixed, answer(anonymous=True)], EVERY, "day") == list(range(10))
    assert releasable(kotka[:4], EVERY, "day") == []


def test_a_release_counts_in_its_grain_and_every_coarser_one() -> None:
    scored = [answer(score=s, csat=c) for s, c in [(10, 5), (9, 4), (8, None), (3, 2), (None, 1)]]
    step = release(scored, EVERY, "day")
    day = step.counts[Cell("day", DAYS[1], "total", "")]
    assert (day.responses, day.promoters, day.passives, day.detractors) == (5, 2, 1, 1)
    assert (day.nps_responses, day.nps, day.csat_responses, day.satisfied, day.csat) == (
        4,
        25.0,
        4,
        2,
        50.0,
    )
    assert step.counts[Cell("week", DAYS[1], "unit", "Kotka")].responses == 5
    assert step.counts[Cell("month", date(2026, 3, 1), "survey_channel", "sms")].responses == 5
    # Held back from their days (one each), five answers of March join the month only.
    leftovers = [answer(day=d) for d in (DAYS[0], DAYS[0], DAYS[1], DAYS[2], DAYS[2])]
    late = release(leftovers, EVERY, "month")
    assert {c.grain for c in late.counts} == {"month"}
    assert late.counts[Cell("month", date(2026, 3, 1), "total", "")].responses == 5
    # The default layout: the day and the week by unit, the month by every breakdown.
    by_default = release(scored, RULE, "week")
    assert {(c.grain, c.dimension) for c in by_default.counts} == {
        ("week", "total"),
        ("week", "unit"),
        *(("month", d) for d in DIMENSIONS),
    }


def test_a_round_offers_each_answer_the_finest_level_it_may_still_join() -> None:
    """Day while its day is open; week once it waited its patience (or its day is final);
    month once the month is final; never after that."""
    monday = [answer(day=DAYS[1], unit=u) for u in ("Kotka", "Kouvola") for _ in range(3)]
    today = DAYS[1]
    not_final: Callable[[date], bool] = lambda day: False  # noqa: E731
    step = publication_round(monday, RULE, today, not_final, lambda g, s: False)
    assert step.gone == []  # three a unit: the day's unit cells would show three
    later = publication_round(
        monday, RULE, today + timedelta(days=1), not_final, lambda g, s: False
    )
    assert later.gone == []  # the week by unit shows three too
    every_final = publication_round(
        monday, RULE, date(2026, 4, 9), lambda day: True, lambda g, s: False
    )
    assert every_final.released["month"] == []  # a unit of three in the month too
    assert every_final.never == list(range(6))
    six = [answer(day=DAYS[1]) for _ in range(6)]
    assert publication_round(six, RULE, today, not_final, lambda g, s: False).released == {
        "day": list(range(6)),
        "week": [],
        "month": [],
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("day=unit;week=*", "no breakdowns for month"),
        ("day=unit;week=*;month=*;day=*", "day is named twice"),
        ("day=unit;week=colour;month=*", "'colour' is no breakdown"),
        ("hour=unit;week=*;month=*", "'hour=unit' is not grain=breakdowns"),
    ],
)
def test_a_wrong_layout_is_told_in_a_sentence(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_layout(text)
    assert parse_layout(layout_text(RULE.layout)) == RULE.layout


@pytest.mark.parametrize(
    ("grain", "day", "start", "end", "label"),
    [
        ("day", date(2026, 11, 23), date(2026, 11, 23), date(2026, 11, 23), "2026-11-23"),
        ("week", date(2026, 11, 28), date(2026, 11, 23), date(2026, 11, 29), "2026-W48"),
        ("week", date(2027, 1, 1), date(2026, 12, 28), date(2027, 1, 3), "2026-W53"),
        ("month", date(2026, 2, 14), date(2026, 2, 1), date(2026, 2, 28), "2026-02"),
        ("month", date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31), "2026-12"),
    ],
)
def test_periods(grain: str, day: date, start: date, end: date, label: str) -> None:
    assert period_start(grain, day) == start  # type: ignore[arg-type]
    assert period_end(grain, start) == end  # type: ignore[arg-type]
    assert period_label(grain, start) == label  # type: ignore[arg-type]


def test_an_answer_sealed_before_the_breakdowns_still_counts() -> None:
    older = {"day": "2026-03-30", "contact_channel": "phone", "score": 7, "comment": "x"}
    restored = Answer.unsealed(older)
    assert (restored.unit, restored.language, restored.survey_channel) == ("unknown",) * 3
    assert restored.anonymous
    again = answer(score=None, csat=3)
    assert Answer.unsealed(again.sealable()) == again


def test_a_period_is_final_when_every_one_of_its_days_is() -> None:
    """A week needs its Sunday, a month its last day; one open day keeps either open."""
    week, month = date(2026, 3, 30), date(2026, 2, 1)
    assert all_days_final(lambda day: day <= date(2026, 4, 5), "week", week)
    assert not all_days_final(lambda day: day <= date(2026, 4, 4), "week", week)
    assert not all_days_final(lambda day: day != date(2026, 3, 30), "week", week)
    assert all_days_final(lambda day: day <= date(2026, 2, 28), "month", month)
    assert not all_days_final(lambda day: day <= date(2026, 2, 27), "month", month)
    assert all_days_final(lambda day: day == date(2026, 2, 27), "day", date(2026, 2, 27))


def never_final(day: date) -> bool:
    return False


def nothing_closed(grain: Grain, start: date) -> bool:
    return False


def week_closed(grain: Grain, start: date) -> bool:
    return grain == "week"


# Five answers of one unit on two days of one week: never five in a day, five in the week.
SPREAD = [answer(day=DAYS[1]) for _ in range(3)] + [answer(day=DAYS[2]) for _ in range(2)]


def test_the_week_takes_an_answer_from_the_day_after_it_came_not_before() -> None:
    came = [replace(one, received=DAYS[2]) for one in SPREAD]
    same_day = publication_round(came, RULE, DAYS[2], never_final, nothing_closed)
    assert same_day.gone == [], "the day it came, it waits for its day's figures"
    next_day = DAYS[2] + timedelta(days=1)
    step = publication_round(came, RULE, next_day, never_final, nothing_closed)
    assert step.released == {"day": [], "week": [0, 1, 2, 3, 4], "month": []}
    assert step.counts[Cell("week", DAYS[1], "total", "")].responses == 5
    assert Cell("day", DAYS[1], "total", "") not in step.counts
    # The operator's patience: two days.
    patient = replace(RULE, week_after_days=2)
    assert publication_round(came, patient, next_day, never_final, nothing_closed).gone == []


def test_a_closed_week_takes_nothing_and_its_answers_wait_for_the_month() -> None:
    came = [replace(one, received=DAYS[2]) for one in SPREAD]
    later = DAYS[2] + timedelta(days=3)
    held = publication_round(came, RULE, later, never_final, week_closed)
    assert held.gone == [], "no week, and the month is not final: they wait"
    # Every day final and the month too: the month's one release takes them.
    at_end = publication_round(came, RULE, date(2026, 5, 1), lambda day: True, week_closed)
    assert at_end.released == {"day": [], "week": [], "month": [0, 1, 2, 3, 4]}
    all_closed = publication_round(
        came, RULE, date(2026, 5, 1), lambda day: True, lambda grain, start: True
    )
    assert all_closed.released == {"day": [], "week": [], "month": []}
    assert all_closed.never == [0, 1, 2, 3, 4]


def test_the_month_waits_for_its_end_and_an_answer_counts_once() -> None:
    """The days of an answer final but not its whole month: no month release yet. An answer
    the day level took is not offered again at the week or the month (counted once)."""
    some_final = publication_round(
        SPREAD, RULE, date(2026, 4, 9), lambda day: day <= DAYS[1], week_closed
    )
    assert some_final.gone == [], "March 31st is not final yet: the month waits"
    every_final = publication_round(SPREAD, RULE, date(2026, 4, 9), lambda day: True, week_closed)
    assert every_final.released["month"] == [0, 1, 2, 3, 4]
    six = [answer(day=DAYS[1]) for _ in range(6)]
    step = publication_round(six, RULE, DAYS[1] + timedelta(days=5), never_final, nothing_closed)
    assert step.released == {"day": list(range(6)), "week": [], "month": []}
    assert step.counts[Cell("week", DAYS[1], "total", "")].responses == 6
    assert step.counts[Cell("month", date(2026, 3, 1), "total", "")].responses == 6


def test_a_star_names_every_breakdown_and_an_empty_list_none() -> None:
    layout = parse_layout("day=*;week=;month=unit, language")
    assert layout == {"day": BREAKDOWNS, "week": (), "month": ("unit", "language")}
    assert RULE.week_after_days == 1, "the default the benchmark chose"
