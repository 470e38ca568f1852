"""The GSM 03.38 alphabet an SMS is cheapest in, and writing a text in it.

Polish (and many another language) has letters outside GSM-7 (ą ć ę ł ń ś ź ż); one of them
makes the whole SMS UCS-2, 70 characters a segment instead of 160. Senders in those countries
commonly write SMS without the marks, as `transliterate` does: a letter outside the alphabet
is written as its base letter (ą → a, ł → l), typographic quotes and dashes as plain ones;
letters that GSM-7 has (ä ö å é ñ ü) are kept.
"""

from __future__ import annotations

import unicodedata

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# Characters with no decomposition to a GSM-7 letter, written as people write them.
_PLAIN = {
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u00a0": " ",
}


def in_gsm7(char: str) -> bool:
    """Whether a character is in the GSM-7 alphabet (its basic table or its extension)."""
    return char in GSM7_BASIC or char in GSM7_EXTENSION


def transliterate(text: str) -> str:
    """`text` with each character outside GSM-7 written as its plain form where one exists
    (a character with none is kept: the text is then UCS-2, as the cost report says)."""
    return "".join(char if in_gsm7(char) else _plain(char) for char in text)


def _plain(char: str) -> str:
    if char in _PLAIN:
        return _PLAIN[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and all(in_gsm7(c) for c in base) else char
