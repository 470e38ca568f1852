# ruff: noqa: RUF001, RUF002 - the look-alike letters are the point of this module
"""The content policy: an invitation must never look like phishing.

Two rules, checked on every part of an invitation (subject and text):

- **Links: an allow-list.** The only links allowed are the survey origin's own survey,
  unsubscribe and privacy-notice paths (`<origin>/s/<token>`, `<origin>/u/<token>`,
  `<origin>/privacy/<programme>/<language>`), and only in email; SMS
  carries none. Any other URL-like text, with
  or without a scheme (`https://…`, `www.…`, `bit.ly/x`, `kysely.example.fi.evil.io`, an IP
  address), is refused.
- **Credential words: a deny-list** in Finnish, Swedish and English (log in, sign in,
  BankID, pankkitunnukset, henkilötunnus, personnummer, PIN, card number, …). Text is
  folded before matching so that case, spacing, hyphenation, invisible characters,
  accents and look-alike letters (Cyrillic "о", Greek "ο", full-width "ｌ") do not hide a
  word: "Log-In", "s i g n  i n", "lоgin" and "ＢａｎｋＩＤ" are all caught.
"""

from __future__ import annotations

import re
import unicodedata

from palaute_dispatcher.templates import Invitation
from palaute_schemas.identifiers import LANGUAGE_TAG

# Letters from other scripts that look like Latin ones (the usual homoglyph substitutions).
_LOOK_ALIKES = str.maketrans(
    {
        **dict.fromkeys("аαа", "a"),
        **dict.fromkeys("вβ", "b"),
        **dict.fromkeys("сϲс", "c"),
        **dict.fromkeys("ԁ", "d"),
        **dict.fromkeys("еεе", "e"),
        **dict.fromkeys("ɡ", "g"),
        **dict.fromkeys("һ", "h"),
        **dict.fromkeys("іιı", "i"),
        **dict.fromkeys("ј", "j"),
        **dict.fromkeys("κк", "k"),
        **dict.fromkeys("ӏⅼ", "l"),
        **dict.fromkeys("ոп", "n"),
        **dict.fromkeys("оοо", "o"),
        **dict.fromkeys("рρр", "p"),
        **dict.fromkeys("ѕ", "s"),
        **dict.fromkeys("τт", "t"),
        **dict.fromkeys("υս", "u"),
        **dict.fromkeys("ν", "v"),
        **dict.fromkeys("ѡω", "w"),
        **dict.fromkeys("хχ", "x"),
        **dict.fromkeys("уγ", "y"),
        **dict.fromkeys("ᴢ", "z"),
    }
)
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)

# Folded stems (lower case, no accents, no spaces), matched anywhere in the folded text.
_STEMS = (
    # English
    "login",
    "logon",
    "signin",
    "signon",
    "password",
    "passcode",
    "username",
    "bankid",
    "onlinebanking",
    "cardnumber",
    "creditcard",
    "securitycode",
    "pincode",
    "socialsecurity",
    "verifyyouraccount",
    # Finnish
    "kirjaudu",
    "kirjautu",
    "salasana",
    "pankkitunnu",
    "verkkopankki",
    "henkilotunnu",
    "tunnusluku",
    "tunnusluvu",
    "pinkoodi",
    "kortinnumero",
    "luottokort",
    "mobiilivarmen",
    # Swedish
    "loggain",
    "loggapa",
    "inloggning",
    "losenord",
    "bankkod",
    "natbank",
    "personnummer",
    "kortnummer",
    "pinkod",
    "sakerhetskod",
    "bankdosa",
)
# Short words that are only credentials as words of their own.
_WORDS = frozenset({"pin", "cvv", "cvc", "cvv2", "otp", "sotu", "hetu", "tan"})

_SCHEME = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S*")
_WWW = re.compile(r"\bwww\d?\.\S*")
_DOMAIN = re.compile(r"\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,63}\b(?:[/:?#]\S*)?")
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")


class ContentPolicyViolation(ValueError):
    """An invitation that must not be sent, with every reason found."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def fold(text: str) -> str:
    """Text as the policy reads it: compatibility forms, look-alikes and accents undone,
    invisible characters dropped, lower case."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    text = text.translate(_LOOK_ALIKES)
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )
    return stripped.translate(_LOOK_ALIKES)


def _survey_link(origin: str) -> re.Pattern[str]:
    # The survey page (with a chosen score), the unsubscribe page and a privacy notice.
    return re.compile(
        re.escape(origin.rstrip("/"))
        + r"(?:/(?:s|u)/[A-Za-z0-9_\-.]+(?:\?(?:score|csat)=\d{1,2})?"
        + r"|/privacy/[a-z0-9_\-]{1,40}/"
        + LANGUAGE_TAG
        + ")"
    )


def _links(text: str) -> list[str]:
    folded = fold(text)
    found: list[str] = []
    for pattern in (_SCHEME, _WWW, _DOMAIN, _IP):
        found += pattern.findall(folded)
        folded = pattern.sub(" ", folded)
    return found


def _credential_words(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", fold(text))
    squashed = "".join(words)
    found = [stem for stem in _STEMS if stem in squashed]
    found += sorted(_WORDS.intersection(words))
    return found


def violations(invitation: Invitation, *, allow_links_to: str | None) -> list[str]:
    """Every way an invitation breaks the policy (empty when it may be sent).

    `allow_links_to` is the survey origin for email, None for SMS (no link at all).
    """
    found: list[str] = []
    for part in (invitation.subject, invitation.text, invitation.html):
        rest = part if allow_links_to is None else _survey_link(allow_links_to).sub(" ", part)
        for _link in _links(rest):
            found.append(
                "an SMS invitation must carry no link"
                if allow_links_to is None
                else "a link goes somewhere other than the survey page"
            )
        # Words are read outside the allowed links: a random survey token may spell "otp".
        for word in _credential_words(rest):
            found.append(f"asks for or mentions a login or secret ({word!r})")
    return found


def enforce(invitation: Invitation, *, allow_links_to: str | None) -> None:
    """Raise ContentPolicyViolation when the invitation breaks the policy."""
    found = violations(invitation, allow_links_to=allow_links_to)
    if found:
        raise ContentPolicyViolation(found)
