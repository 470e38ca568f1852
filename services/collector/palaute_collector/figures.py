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

Day release counts answers in their day, week and month; a week is therefore exactly the
sum of its days. Answers still held when their day is final (no survey of that day can be
answered any more) are released the same way at month grain: a month may exceed the sum
of its days, by groups of at least the minimum in every cell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import Any

from palaute_collector.scores import category, is_satisfied, net_promoter_score, satisfaction
from palaute_schemas import Dimension, Grain

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
        )


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


def cells_of(answer: Answer, grains: Iterable[Grain]) -> list[Cell]:
    """Every cell an answer counts in, at the given grains."""
    return [
        Cell(grain, period_start(grain, answer.day), dimension, answer.value(dimension))
        for grain in grains
        for dimension in DIMENSIONS
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


def releasable(
    answers: Sequence[Answer], min_group: int, grain: Grain, *, secondary: bool = True
) -> list[int]:
    """The positions of the largest group of `answers` that may join the figures at `grain`:
    in every cell of that grain (total and each breakdown) it holds 0 or at least
    `min_group` answers, and 0 or at least `min_group` anonymous ones.

    `secondary=False` stops after the first pass of primary suppression: kept only to show
    (in the tests) what an attacker does with figures released without secondary
    suppression. Never use it in the service.
    """
    keep = set(range(len(answers)))
    while True:
        everyone: Counter[Cell] = Counter()
        anonymous: Counter[Cell] = Counter()
        for position in keep:
            for cell in cells_of(answers[position], (grain,)):
                everyone[cell] += 1
                anonymous[cell] += answers[position].anonymous
        small = {cell for cell, count in everyone.items() if count < min_group}
        few_anonymous = {cell for cell, count in anonymous.items() if 0 < count < min_group}
        held = {
            position
            for position in keep
            if any(
                cell in small or (answers[position].anonymous and cell in few_anonymous)
                for cell in cells_of(answers[position], (grain,))
            )
        }
        keep -= held
        if not held or not secondary:
            return sorted(keep)


def release(
    answers: Sequence[Answer], min_group: int, grain: Grain, *, secondary: bool = True
) -> Release:
    """Release what may be released of `answers` (of day-grain pools: counted in their day,
    week and month; of month-grain pools: in their month only)."""
    grains: tuple[Grain, ...] = GRAINS if grain == "day" else ("month",)
    result = Release(releasable(answers, min_group, grain, secondary=secondary))
    for position in result.released:
        answer = answers[position]
        for cell in cells_of(answer, grains):
            result.counts.setdefault(cell, Counts()).add(Counts.of(answer))
    return result
