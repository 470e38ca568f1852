"""Reading an answer: SMS replies, NPS categories and the NPS figure. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Category = Literal["promoter", "passive", "detractor"]

# STOP words in Finnish, Swedish and English, as a whole reply.
_STOP = re.compile(r"(?i)^\s*(stop|stopp|lopeta|seis|peru|sluta|avsluta|unsubscribe)\s*[.!]*\s*$")
# "9", "9 kiitos", "9/10", "9 / 10", "10!", " 7, ok": a leading score 0-10, then anything.
_SCORE = re.compile(
    r"^\s*(10|[0-9])(?:\s*/\s*10)?(?![0-9])(?:[\s,.!:;)-]+(?P<comment>.*))?\s*$", re.DOTALL
)


@dataclass(frozen=True)
class Score:
    """A reply that answers the survey."""

    value: int
    comment: str


@dataclass(frozen=True)
class Stop:
    """A reply asking for no more surveys."""


@dataclass(frozen=True)
class Unreadable:
    """A reply that is neither a score nor a stop word."""


def parse_sms_reply(text: str) -> Score | Stop | Unreadable:
    """Read one SMS reply."""
    if _STOP.match(text):
        return Stop()
    match = _SCORE.match(text)
    if match is None:
        return Unreadable()
    return Score(int(match.group(1)), (match.group("comment") or "").strip())


def category(score: int) -> Category:
    """NPS category: 9-10 promoter, 7-8 passive, 0-6 detractor."""
    if not 0 <= score <= 10:
        raise ValueError(f"an NPS score is 0-10, not {score}")
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def net_promoter_score(promoters: int, detractors: int, responses: int) -> float:
    """NPS = % promoters - % detractors, one decimal."""
    if responses <= 0:
        raise ValueError("NPS needs at least one response")
    return round(100.0 * (promoters - detractors) / responses, 1)


def is_satisfied(csat: int) -> bool:
    """CSAT (1-5): 4 and 5 are satisfied."""
    if not 1 <= csat <= 5:
        raise ValueError(f"a CSAT score is 1-5, not {csat}")
    return csat >= 4


def satisfaction(satisfied: int, responses: int) -> float:
    """CSAT = % satisfied (4-5) of the CSAT answers, two decimals (as the seeds report)."""
    if responses <= 0:
        raise ValueError("CSAT needs at least one response")
    return round(100.0 * satisfied / responses, 2)
