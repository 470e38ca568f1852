"""Whether an SMS reply asks to be called back: only an unambiguous request does.

The one message that carries a comment out of the collector is the follow-up for the CRM, so
a reply must ask for a call in so many words. The reply is read clause by clause (split at
sentence marks, commas and "but"): a clause asks when it holds a request form (Finnish
"soita", "soittakaa", "voisitteko soittaa", "ottakaa yhteyttä"; Swedish "ring mig", "kan ni
ringa", "hör av er"; English "call me", "please call", "could you call") and no negation or
refusal ("ei", "älä", "turha", "inte", "ingen", "don't", "no need", ...). A mention of a call
("the call was fine", "soitin eilen", "ni ringde") is no request; a clause with both a request
and a negation is unclear, and unclear asks for nothing. Diacritics and case do not matter
(people often type "ala soita" for "älä soita"). The survey page's checkbox stays the
explicit way to ask.
"""

from __future__ import annotations

import re
import unicodedata

# Where one thought ends and the next begins.
_CLAUSES = re.compile(r"[.!?;,\n]+|\s+-\s+|\b(?:mutta|mut|men|but|however|kuitenkin)\b")

# Request forms and negations per language, written without diacritics (the text is folded
# the same way). A clause asks when a request of one language holds and no negation of that
# language does: "en" is a Finnish "I don't" but a Swedish article, "no" an English refusal
# but a Finnish "well".
_REQUESTS = {
    "fi": [
        # the imperative (dialect -kee, the typo soitakaa), "will you call", "would you call"
        r"\bsoit+a(?:kaa|kee|ko|tko)?\b",
        r"\bsoit+a(?:i)?sit(?:te)?ko\b",
        # "could you / could someone call"
        r"\b(?:voi|voisi|voisit|voisitte|voitte|voitteko|voisitteko|voitko|voisitko|voisiko|"
        r"voiko|voisko|voiskohan|voiks|voisitsa|saisiko|saako|saisinko)\b(?:\s+\w+){0,3}\s+soit(?:taa|to|ton|toa)\b",
        # "I wish for a call", "I want you to call"
        r"\b(?:toivon|toivoisin|toivoisimme|pyydan|pyytaisin|haluan|haluaisin)\b(?:\s+\w+){0,2}"
        r"\s+(?:soittoa|soiton|soitto|takaisinsoittoa|yhteydenottoa|yhteydenoton)\b",
        r"\b(?:toivon|toivoisin|haluan|haluaisin)\s+etta\s+(?:\w+\s+)?soitat\w*",
        r"\b(?:soittopyynto|takaisinsoitto|soittoa\s+kiitos|soitto\s+kiitos)\b",
        r"\b(?:ottakaa|ottaisitteko|otatteko|ota)\s+(?:\w+\s+)?yhteyt",
    ],
    "sv": [
        r"\bring(?:a)?\s+(?:mig|mej|oss|upp|tillbaka|garna|snarast)\b",
        r"\bring\s+at\s+(?:mig|mej|oss)\b",  # Finland Swedish
        r"\b(?:kan|kunde|skulle|vill)\s+(?:ni|du|nagon)\s+(?:\w+\s+)?ring(?:a|er)?\b",
        r"\bvill\s+(?:bli\s+)?(?:upp)?ringd\b",
        r"\b(?:hor|hora)\s+av\s+(?:er|dig)\b",
        r"\bkontakta\s+(?:mig|mej|oss)\b",
        r"^ring(?:a)?(?:\s+(?:tack|snalla))?$",
    ],
    "en": [
        r"\b(?:call|phone|ring|contact)\s+(?:me|us)\b",
        r"\bcall\s*(?:me\s*)?back\b",
        r"\bcallback\b",
        r"\b(?:please|pls|plz)\s+(?:\w+\s+)?(?:call|phone|ring)\b",
        r"\b(?:can|could|would|will)\s+(?:you|someone|somebody|anyone)\s+(?:please\s+)?"
        r"(?:call|phone|ring|contact)\b",
        r"\b(?:want|like|need|appreciate)\s+(?:to\s+(?:get|have|receive)\s+)?a\s+"
        r"(?:call|callback|phone\s+call|ring)\b",
        r"\bgive\s+(?:me|us)\s+a\s+(?:call|ring)\b",
        r"\bget\s+in\s+touch\s+with\s+(?:me|us)\b|\bplease\s+get\s+in\s+touch\b",
        r"^(?:please\s+)?call(?:\s+(?:pls|plz|please|asap))?$",
    ],
}
_NEGATIONS = {
    "fi": r"\b(?:ei|en|et|emme|ette|eivat|eika|enka|ala|alkaa|alkakaa|turha|turhaa|ilman)\b",
    "sv": r"\b(?:inte|ej|icke|ingen|inga|inget|nej|aldrig|slipper)\b",
    "en": r"\b(?:no|not|never|nobody|neither|nor|dont|wont|cant|stop)\b|n't\b",
}
_RULES = [
    (re.compile("|".join(f"(?:{p})" for p in _REQUESTS[lang])), re.compile(_NEGATIONS[lang]))
    for lang in _REQUESTS
]


def _folded(text: str) -> str:
    """Lower case without diacritics (ä→a, ö→o, å→a), straight apostrophes."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def wants_a_call(comment: str) -> bool:
    """True only when some clause of the reply asks for a call and nothing in it says no."""
    for clause in _CLAUSES.split(_folded(comment)):
        clause = re.sub(r"^[\s\d]+", "", clause).strip()  # the score in front
        for request, negation in _RULES:
            if clause and request.search(clause) and not negation.search(clause):
                return True
    return False
