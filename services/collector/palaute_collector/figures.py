"""Which answers may join the published figures, and the cells they count in. No I/O.

The figures are cells of a day, ISO week or month, broken down by contact channel, survey
channel, language and unit, and the total. Publishing them all, again and again as answers
come, invites differencing: a total minus its breakdown, a week minus its days, a revision
minus the one before. So the figures count *released* answers only, and answers are
released in groups chosen so that every cell they touch grows by 0 or by at least the
minimum group size (and its anonymous answers too, so that a reader who knows the named
answers learns nothing of fewer than that many anonymous ones):

- primary suppression: the answers of a cell with fewer than the minimum wait;
- secondary (complementary) suppression: an answer that waits is held back from every
  other breakdown too, which may bring other cells under the minimum: repeated until none
  is. What is left is the largest such group (such groups are closed under union, and the
  pruning only removes answers that no such group can hold).

The operator chooses which breakdowns each grain publishes (the layout; by default the
day and the week by unit, the month by every breakdown: bench/figures_utility.py measured
the choice). An answer is released at the finest level it may still join and counts there
and in every coarser grain: at day level in its day, week and month; at week level in its
week and month; at month level in its month. Each release is checked in every cell it
counts in, at every grain it joins, so a week may exceed the sum of its days and a month
its weeks only by groups of at least the minimum in every cell. `publication_round` says
when each level is offered; what no level took when its month is final is never published.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from functools import cache
from typing import Any

from palaute_collector.scores import category, is_satisfied, net_promoter_score, satisfaction
from palaute_schemas import Dimension, Grain

# The figures' periods, here too (their readers share them from palaute_schemas).
from palaute_schemas.periods import period_end as period_end
from palaute_schemas.periods import period_label as period_label
from palaute_schemas.periods import period_start as period_start

BREAKDOWNS: tuple[Dimension, ...] = (
    "contact_channel",
    "survey_channel",
    "language",
    "unit",
    "programme",
)
DIMENSIONS: tuple[Dimension, ...] = ("total", *BREAKDOWNS)
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
_UNKNOWN = "unknown"


@dataclass(frozen=True)
class Answer:
    """One answer as the figures see it: where it falls and its scores."""

    day: date
    contact_channel: str
    survey_channel: str
    language: str
    unit: str
    score: int | None  # NPS 0-10
    csat: int | None  # CSAT 1-5
    anonymous: bool
    programme: str = "default"
    # The day the collector had the answer (sealed with it; its patience counts from there).
    received: date | None = None

    @property
    def arrived(self) -> date:
        """The day the answer came (its contact day when it was sealed without one)."""
        return self.received or self.day

    def value(self, dimension: Dimension) -> str:
        """The answer's value in one breakdown ("" in the total)."""
        return "" if dimension == "total" else str(getattr(self, dimension))

    def sealable(self) -> dict[str, Any]:
        """The answer as a JSON object (it waits sealed for its release)."""
        return {
            "day": self.day.isoformat(),
            "contact_channel": self.contact_channel,
            "survey_channel": self.survey_channel,
            "language": self.language,
            "unit": self.unit,
            "score": self.score,
            "csat": self.csat,
            "anonymous": self.anonymous,
            "programme": self.programme,
            "received": None if self.received is None else self.received.isoformat(),
        }

    @classmethod
    def unsealed(cls, opened: dict[str, Any]) -> Answer:
        """The answer from its sealed JSON object. Anonymous answers sealed before the
        figures had breakdowns (collector migration 0009) lack three: they count as
        "unknown" there."""
        return cls(
            day=date.fromisoformat(str(opened["day"])),
            contact_channel=str(opened["contact_channel"]),
            survey_channel=str(opened.get("survey_channel", _UNKNOWN)),
            language=str(opened.get("language", _UNKNOWN)),
            unit=str(opened.get("unit", _UNKNOWN)),
            score=None if opened["score"] is None else int(opened["score"]),
            csat=None if opened.get("csat") is None else int(opened["csat"]),
            anonymous=bool(opened.get("anonymous", True)),
            programme=str(opened.get("programme", "default")),
            received=date.fromisoformat(str(opened["received"]))
            if opened.get("received")
            else None,
        )


@dataclass(frozen=True, order=True)
class Cell:
    """One cell of the figures."""

    grain: Grain
    period_start: date
    dimension: Dimension
    value: str

    @property
    def period(self) -> str:
        """The period's label."""
        return period_label(self.grain, self.period_start)

    @property
    def key(self) -> str:
        """The cell's key on the topic."""
        return f"{self.grain}|{self.period}|{self.dimension}|{self.value}"


Layout = Mapping[Grain, tuple[Dimension, ...]]
"""The breakdowns published at each grain (the total always is)."""

EVERY_BREAKDOWN: Layout = {grain: BREAKDOWNS for grain in GRAINS}
# Chosen with bench/figures_utility.py (docs/figures.md has its table).
DEFAULT_LAYOUT: Layout = {"day": ("unit",), "week": ("unit",), "month": BREAKDOWNS}
DEFAULT_WEEK_AFTER_DAYS = 1


def parse_layout(text: str) -> dict[Grain, tuple[Dimension, ...]]:
    """A layout from its setting: `day=unit;week=*;month=*`, each grain once, its breakdowns
    separated by commas (`*` every one, empty none). Raises ValueError with a sentence."""
    layout: dict[Grain, tuple[Dimension, ...]] = {}
    for part in text.split(";"):
        grain, equals, names = part.strip().partition("=")
        if not equals or grain.strip() not in GRAINS:
            raise ValueError(
                f"{part.strip()!r} is not grain=breakdowns; grains are day, week and month,"
                " e.g. day=unit;week=*;month=*"
            )
        dimensions: list[Dimension] = []
        for name in filter(None, (one.strip() for one in names.split(","))):
            if name == "*":
                dimensions.extend(BREAKDOWNS)
            elif name in BREAKDOWNS:
                dimensions.append(BREAKDOWNS[BREAKDOWNS.index(name)])
            else:
                raise ValueError(
                    f"{name!r} is no breakdown; they are {', '.join(BREAKDOWNS)} (or *)"
                )
        key: Grain = GRAINS[GRAINS.index(grain.strip())]
        if key in layout:
            raise ValueError(f"{key} is named twice")
        layout[key] = tuple(dict.fromkeys(dimensions))
    missing = [grain for grain in GRAINS if grain not in layout]
    if missing:
        raise ValueError(f"the layout names no breakdowns for {', '.join(missing)}")
    return layout


def layout_text(layout: Layout) -> str:
    """A layout as its setting says it."""
    return ";".join(f"{grain}={','.join(layout[grain])}" for grain in GRAINS)


def joins(level: Grain) -> tuple[Grain, ...]:
    """The grains an answer released at `level` counts in: its own and every coarser one
    (an answer of a day's figures is in its week's and month's too)."""
    return GRAINS[GRAINS.index(level) :]


def cells_of(
    answer: Answer, grains: Iterable[Grain], layout: Layout = EVERY_BREAKDOWN
) -> list[Cell]:
    """Every cell an answer counts in, at the given grains, as `layout` breaks them down."""
    return [
        Cell(grain, period_start(grain, answer.day), dimension, answer.value(dimension))
        for grain in grains
        for dimension in ("total", *layout[grain])
    ]


@dataclass
class Counts:
    """The counts of one cell; NPS and CSAT follow from them."""

    responses: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    nps_responses: int = 0
    csat_responses: int = 0
    satisfied: int = 0

    @classmethod
    def of(cls, answer: Answer) -> Counts:
        """The counts of one answer."""
        kind = None if answer.score is None else category(answer.score)
        return cls(
            responses=1,
            promoters=int(kind == "promoter"),
            passives=int(kind == "passive"),
            detractors=int(kind == "detractor"),
            nps_responses=int(kind is not None),
            csat_responses=int(answer.csat is not None),
            satisfied=int(answer.csat is not None and is_satisfied(answer.csat)),
        )

    def add(self, other: Counts) -> None:
        """Add another's counts to these."""
        for name in COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return {name: getattr(self, name) for name in COUNT_FIELDS}

    @property
    def nps(self) -> float | None:
        """NPS over the NPS answers; None without any."""
        if not self.nps_responses:
            return None
        return net_promoter_score(self.promoters, self.detractors, self.nps_responses)

    @property
    def csat(self) -> float | None:
        """% satisfied over the CSAT answers; None without any."""
        return satisfaction(self.satisfied, self.csat_responses) if self.csat_responses else None


COUNT_FIELDS: tuple[str, ...] = tuple(one.name for one in fields(Counts))


@dataclass
class Release:
    """What one release adds: the answers released and the counts per cell."""

    released: list[int] = field(default_factory=list)  # positions in the pending list
    counts: dict[Cell, Counts] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """The release rule: the minimum group, the layout, and how long an answer waits for its
    day's figures before its week's may take it. The switches exist to show (in the tests)
    what an attacker does without each part; the service never turns one off."""

    min_group: int
    layout: Layout = field(default_factory=lambda: dict(DEFAULT_LAYOUT))
    week_after_days: int = DEFAULT_WEEK_AFTER_DAYS
    secondary: bool = True  # hold back what a held answer leaves too small
    anonymous: bool = True  # anonymous answers of a cell 0 or at least min_group too
    coarser: bool = True  # check the coarser grains a release counts in, not its own only


def releasable(answers: Sequence[Answer], rule: Rule, level: Grain) -> list[int]:
    """The positions of the largest group of `answers` that may be released at `level`: in
    every cell it counts in (each grain from `level` on, the total and that grain's
    breakdowns) it holds 0 or at least `min_group` answers, and 0 or at least `min_group`
    anonymous ones.

    The groups that satisfy this are closed under union (a cell that two of them leave at
    0 or at least the minimum, their union does too), so there is one largest, and pruning
    finds it: an answer pruned lies in a cell that no such group within the remaining
    answers can fill, so no such group holds it. tests/unit/test_figures.py checks this
    against an exhaustive search.
    """
    grains = joins(level) if rule.coarser else (level,)
    cells = [cells_of(answer, grains, rule.layout) for answer in answers]
    keep = set(range(len(answers)))
    while True:
        everyone: Counter[Cell] = Counter()
        anonymous: Counter[Cell] = Counter()
        for position in keep:
            everyone.update(cells[position])
            if answers[position].anonymous:
                anonymous.update(cells[position])
        small = {cell for cell, count in everyone.items() if count < rule.min_group}
        few_anonymous = (
            {cell for cell, count in anonymous.items() if count < rule.min_group}
            if rule.anonymous
            else set()
        )
        held = {
            position
            for position in keep
            if not small.isdisjoint(cells[position])
            or (answers[position].anonymous and not few_anonymous.isdisjoint(cells[position]))
        }
        keep -= held
        if not held or not rule.secondary:
            return sorted(keep)


def release(answers: Sequence[Answer], rule: Rule, level: Grain) -> Release:
    """Release what may be released of `answers` at `level`, counted in that grain and every
    coarser one."""
    result = Release(releasable(answers, rule, level))
    for position in result.released:
        answer = answers[position]
        for cell in cells_of(answer, joins(level), rule.layout):
            result.counts.setdefault(cell, Counts()).add(Counts.of(answer))
    return result


def all_days_final(final: Callable[[date], bool], grain: Grain, start: date) -> bool:
    """Whether every day of the period that starts on `start` is final."""
    days = (period_end(grain, start) - start).days + 1
    return all(final(start + timedelta(days=n)) for n in range(days))


@dataclass
class Round:
    """One publication round: what each level released, what is never published."""

    released: dict[Grain, list[int]] = field(default_factory=dict)  # positions per level
    counts: dict[Cell, Counts] = field(default_factory=dict)
    never: list[int] = field(default_factory=list)

    @property
    def gone(self) -> list[int]:
        """Every position the round took: released at some level or never published."""
        return sorted({n for taken in self.released.values() for n in taken} | set(self.never))


def publication_round(
    answers: Sequence[Answer],
    rule: Rule,
    today: date,
    final: Callable[[date], bool],
    closed: Callable[[Grain, date], bool],
) -> Round:
    """Release the waiting `answers` at the finest level each may still join, in order:

    - day: answers of days not final;
    - week: answers whose day is final or that came `week_after_days` ago (they had their
      chance at the day's figures, with the replies that came with them), of weeks not
      closed;
    - month: answers whose day is final, of months not closed.

    `final(day)` says whether a contact day is final now; `closed(grain, start)` whether a
    period's figures were marked final in an earlier round (none of its cells may change).
    An answer of a month all of whose days are final that no level took is never published
    (each such cell had fewer than the minimum).
    """

    @cache
    def final_from(grain: Grain, start: date) -> bool:
        return all_days_final(final, grain, start)

    def open_period(grain: Grain, day: date) -> bool:
        return not closed(grain, period_start(grain, day))

    patience = timedelta(days=rule.week_after_days)
    offered: dict[Grain, Callable[[Answer], bool]] = {
        "day": lambda a: not final(a.day),
        "week": lambda a: (
            (final(a.day) or today - a.arrived >= patience) and open_period("week", a.day)
        ),
        "month": lambda a: (
            final_from("month", period_start("month", a.day)) and open_period("month", a.day)
        ),
    }
    result = Round()
    taken: set[int] = set()
    for level in GRAINS:
        pool = [n for n, a in enumerate(answers) if n not in taken and offered[level](a)]
        step = release([answers[n] for n in pool], rule, level)
        result.released[level] = [pool[n] for n in step.released]
        taken |= set(result.released[level])
        for cell, counts in step.counts.items():
            result.counts.setdefault(cell, Counts()).add(counts)
    result.never = [
        n
        for n, a in enumerate(answers)
        if n not in taken and final_from("month", period_start("month", a.day))
    ]
    return result
