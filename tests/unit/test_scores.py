"""Reading answers and the rules of publication."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palaute_collector.scores import (
    Score,
    Stop,
    Unreadable,
    category,
    net_promoter_score,
    parse_sms_reply,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9", Score(9, "")),
        ("9 kiitos", Score(9, "kiitos")),
        ("9/10", Score(9, "")),
        (" 10 / 10 ", Score(10, "")),
        ("10!", Score(10, "")),
        ("7, ihan ok", Score(7, "ihan ok")),
        ("0", Score(0, "")),
        ("STOP", Stop()),
        ("stopp", Stop()),
        ("Lopeta", Stop()),
        ("11", Unreadable()),
        ("100", Unreadable()),
        ("kiitos", Unreadable()),
        ("", Unreadable()),
        ("-1", Unreadable()),
    ],
)
def test_sms_replies_are_read_as_customers_write_them(text: str, expected: object) -> None:
    assert parse_sms_reply(text) == expected


@given(st.integers(0, 10), st.sampled_from(["", " ", "/10", " kiitos", ", tack!", "! great"]))
def test_every_score_with_common_suffixes_is_read(score: int, suffix: str) -> None:
    reply = parse_sms_reply(f"{score}{suffix}")
    assert isinstance(reply, Score)
    assert reply.value == score


def test_nps_categories_and_figure() -> None:
    assert [category(s) for s in (0, 6, 7, 8, 9, 10)] == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
    ]
    assert net_promoter_score(promoters=6, detractors=2, responses=10) == 40.0
    with pytest.raises(ValueError, match="0-10"):
        category(11)
