"""How many SMS segments a text costs: GSM 03.38 (7-bit) or, for any other character, UCS-2.

A GSM-7 text of up to 160 units is one segment (an extension character such as € or [
costs two units); longer ones are split into 153-unit parts. A text with any character
outside GSM-7 is sent as UCS-2: 70 UTF-16 units in one segment, 67 per part beyond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class Segments:
    """What one SMS text costs."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    count: int


def segments(text: str) -> Segments:
    """The encoding, length in units and number of segments of `text`."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        units = len(text) + sum(c in GSM7_EXTENSION for c in text)
        single, part = 160, 153
        encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
        encoding = "UCS-2"
    count = 1 if units <= single else math.ceil(units / part)
    return Segments(encoding, units, count)
