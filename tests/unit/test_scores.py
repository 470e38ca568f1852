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
    is_satisfied,
    net_promoter_score,
    parse_sms_reply,
    satisfaction,
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


def test_nps_is_refused_outside_0_to_10_and_without_responses_and_rounds_to_a_tenth() -> None:
    with pytest.raises(ValueError, match="0-10"):
        category(-1)
    with pytest.raises(ValueError, match="at least one response"):
        net_promoter_score(promoters=0, detractors=0, responses=0)
    assert net_promoter_score(promoters=1, detractors=0, responses=1) == 100.0
    assert net_promoter_score(promoters=1, detractors=2, responses=3) == -33.3
    assert net_promoter_score(promoters=2, detractors=0, responses=3) == 66.7


def test_csat_four_and_five_are_satisfied_and_the_figure_has_two_decimals() -> None:
    assert [is_satisfied(c) for c in (1, 2, 3, 4, 5)] == [False, False, False, True, True]
    for outside in (0, 6):
        with pytest.raises(ValueError, match="1-5"):
            is_satisfied(outside)
    with pytest.raises(ValueError, match="at least one response"):
        satisfaction(0, 0)
    assert satisfaction(1, 1) == 100.0
    assert satisfaction(2, 3) == 66.67
    assert satisfaction(1, 7) == 14.29
