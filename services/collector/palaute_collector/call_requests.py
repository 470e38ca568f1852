"""Whether an SMS reply asks to be called back: only an unambiguous request does.

The one message that carries a comment out of the collector is the follow-up for the CRM, so
a reply must ask for a call in so many words. The reply is read clause by clause (split at
sentence marks, commas, a dash and each language's "but": `clause_breaks`): a clause asks
when it holds a request form of some language (its `requests`: Finnish "soittakaa", Swedish
"ring mig", English "call me", Polish "proszę o kontakt", ...) and no negation or refusal of
that language (its `negations`). A mention of a call ("the call was fine") is no request; a
clause with both a request and a negation is unclear, and unclear asks for nothing. The forms
are data, each language's `replies.toml` beside its catalogue (palaute_runtime.i18n), with
the examples the tests check. Diacritics and case do not matter (people often type "ala
soita" for "älä soita", "prosze" for "proszę"). The survey page's checkbox stays the explicit
way to ask.
"""

from __future__ import annotations

import functools
import re

from palaute_runtime import i18n

# Where one thought ends and the next begins, whatever the language.
_MARKS = r"[.!?;,\n]+|\s+-\s+"


@functools.cache
def _clauses(breaks: tuple[str, ...]) -> re.Pattern[str]:
    words = "|".join(re.escape(word) for word in breaks)
    return re.compile(f"{_MARKS}|\\b(?:{words})\\b" if words else _MARKS)


def wants_a_call(comment: str) -> bool:
    """True only when some clause of the reply asks for a call and nothing in it says no."""
    grammars = i18n.languages().grammars
    breaks = tuple(sorted({word for g in grammars for word in g.clause_breaks}))
    for clause in _clauses(breaks).split(i18n.fold(comment)):
        clause = re.sub(r"^[\s\d]+", "", clause).strip()  # the score in front
        if clause and any(grammar.asks(clause) for grammar in grammars):
            return True
    return False
