"""How many SMS segments a text costs: GSM 03.38 (7-bit) or, for any other character, UCS-2.

A GSM-7 text of up to 160 units is one segment (an extension character such as € or [
costs two units); longer ones are split into 153-unit parts. A text with any character
outside GSM-7 is sent as UCS-2: 70 UTF-16 units in one segment, 67 per part beyond.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import structlog

from palaute_dispatcher.gsm7 import GSM7_EXTENSION, in_gsm7
from palaute_dispatcher.templates import render
from palaute_runtime import i18n
from palaute_runtime.programmes import Question
from palaute_schemas import Language

log = structlog.get_logger("palaute.dispatcher")


@dataclass(frozen=True)
class Segments:
    """What one SMS text costs."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    count: int


def segments(text: str) -> Segments:
    """The encoding, length in units and number of segments of `text`."""
    if all(in_gsm7(c) for c in text):
        units = len(text) + sum(c in GSM7_EXTENSION for c in text)
        single, part = 160, 153
        encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
        encoding = "UCS-2"
    count = 1 if units <= single else math.ceil(units / part)
    return Segments(encoding, units, count)


def report_sms_cost(
    organization: str,
    questions: tuple[Question, ...] = ("nps", "csat"),
    programme: str = "",
    *,
    languages: Sequence[Language] | None = None,
    keep_diacritics: bool = False,
) -> dict[Language, Segments]:
    """What the SMS invitation (or its reminder, anonymous or named: the dearest) costs in each
    language (the programme's, or every available one) with this organisation name and
    questions; a text longer than one segment is said at start-up (the partner bills per
    segment), and so is what keeping diacritics costs where it costs anything."""

    def dearest(language: Language, keep: bool) -> Segments:
        return max(
            (
                segments(
                    render(
                        "sms",
                        language,
                        organization=organization,
                        survey_url=None,
                        valid_days=1,
                        reminder=reminder,
                        questions=questions,
                        anonymous=anonymous,
                        keep_diacritics=keep,
                    ).text
                )
                for reminder in (False, True)
                for anonymous in (False, True)
            ),
            key=lambda cost: (cost.count, cost.units),
        )

    tags = languages if languages is not None else i18n.languages().tags()
    costs = {language: dearest(language, keep_diacritics) for language in tags}
    for language, cost in costs.items():
        if cost.count > 1:
            log.warning(
                "sms_invitation_longer_than_one_segment",
                language=language,
                programme=programme or "default",
                segments=cost.count,
                encoding=cost.encoding,
                units=cost.units,
                hint="shorten the organisation name (PALAUTE_ORGANIZATION_NAME, or the "
                "programme's organization_name), or avoid characters outside GSM-7",
            )
        if keep_diacritics:
            plain = dearest(language, False)
            if (cost.count, cost.encoding) != (plain.count, plain.encoding):
                log.warning(
                    "sms_diacritics_kept",
                    language=language,
                    programme=programme or "default",
                    segments=cost.count,
                    encoding=cost.encoding,
                    segments_transliterated=plain.count,
                    hint=f"each SMS costs {cost.count} segment(s) in {cost.encoding} where "
                    f"{plain.count} in {plain.encoding} would do (sms_diacritics = "
                    '"transliterate" writes the letters without their marks)',
                )
    return costs
