"""Reading an answer: SMS replies, NPS categories and the NPS figure. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from palaute_runtime import i18n

Category = Literal["promoter", "passive", "detractor"]

# "9", "9 kiitos", "9/10", "9 / 10", "10!", " 7, ok": a leading score 0-10, then anything.
_SCORE = re.compile(
    r"^\s*(10|[0-9])(?:\s*/\s*10)?(?![0-9])(?:[\s,.!:;)-]+(?P<comment>.*))?\s*$", re.DOTALL
)
# A leading word, then what follows it: a number word ("dziesięć, dziękuję") is a score.
_WORD = re.compile(r"^\s*(\w+)(?:\s*/\s*10)?(?:[\s,.!:;)-]+(?P<comment>.*))?\s*$", re.DOTALL)
_WHOLE = re.compile(r"^\s*(.*?)[\s.!]*$", re.DOTALL)


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
    """Read one SMS reply: a stop word of any language's grammar as the whole reply (case,
    diacritics and a closing . or ! aside) opts out; a leading score 0-10, in digits or as a
    number word of a grammar, answers (the rest is its comment)."""
    grammars = i18n.languages().grammars
    whole = _WHOLE.match(i18n.fold(text))
    if whole and any(whole.group(1) in grammar.stop_words for grammar in grammars):
        return Stop()
    match = _SCORE.match(text)
    if match is not None:
        return Score(int(match.group(1)), (match.group("comment") or "").strip())
    worded = _WORD.match(text)
    if worded is not None:
        value = _score_word(i18n.fold(worded.group(1)))
        if value is not None:
            return Score(value, (worded.group("comment") or "").strip())
    return Unreadable()


def _score_word(word: str) -> int | None:
    """The score a number word means in the grammars, unless it is ambiguous: meaning two
    scores, or a stop word or a negation in another language (Swedish "en" is one, Finnish
    "en" is "I don't")."""
    grammars = i18n.languages().grammars
    meanings = {g.score_words[word] for g in grammars if word in g.score_words}
    if len(meanings) != 1 or any(word in g.stop_words or g.negated(word) for g in grammars):
        return None
    return meanings.pop()


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
