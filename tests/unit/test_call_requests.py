"""Whether an SMS reply asks to be called: real-sounding replies in Finnish, Swedish and
English, as people type them (dialect, no diacritics, typos, word order), both ways. A
follow-up carries the comment to the CRM, so only an unambiguous request asks for one."""

from __future__ import annotations

import pytest

from palaute_collector.call_requests import wants_a_call

ASKS = [
    # Finnish
    "3 soita",
    "2 Soittakaa heti",
    "1 soittakaa minulle, asia jäi kesken",
    "4 soitakaa",  # a t missing
    "5 Soittakee mulle",  # Savo dialect
    "0 Voisitteko soittaa? Lasku on edelleen väärin",
    "6 voisko joku soittaa huomenna",  # spoken, "voisko"
    "2. Toivoisin soittoa asiasta",
    "3 pyydän soittoa",
    "4 pyydan soittoa",  # no diacritics
    "1 Ottakaa yhteyttä kiitos",
    "2 ottakaa yhteytta",
    "7 hyvä palvelu, mutta soita vielä laskusta",
    "0 Palvelu ei ollut hyvää. Soittakaa",
    "3 soittopyyntö",
    "5 Soitatko minulle",
    "4 Soittaisitteko iltapäivällä",
    "6 toivon että soitatte",
    # Swedish
    "4 ring mig",
    "3 Ring mig gärna",
    "2 ring garna",  # no diacritics
    "1 Kan ni ringa mig i morgon?",
    "5 vill bli uppringd",
    "0 Hör av er!",
    "2 hor av er",
    "6 kontakta mig angående fakturan",
    "3 Ring åt mig",  # Finland Swedish
    "1 inget problem, men ring mig",
    "ring",
    "7 kunde ni ringa upp",
    # English
    "1 call me",
    "0 Please call me back",
    "2 pls call",
    "3 could you call me tomorrow",
    "4 Can someone please call",
    "5 I'd like a callback",
    "1 give me a call",
    "6 no problem with the service, but call me about the bill",
    "2 would appreciate a call",
    "0 please get in touch",
    "3 Call me asap",
    "call",
]

DOES_NOT_ASK = [
    # Finnish
    "9 kiitos",
    "3 älä soita",
    "3 ala soita",  # "älä" without diacritics
    "2 Älkää soittako",
    "4 ei tarvitse soittaa",
    "4 ei tarvii soittaa, kaikki ok",
    "5 en halua soittoa",
    "1 turha soittaa",
    "8 soitin eilen ja asia hoitui",
    "7 Soitto oli ystävällinen ja nopea",
    "6 kukaan ei soita takaisin koskaan",
    "2 ei kiitos, ei soittoja",
    "10 Hyvä palvelu",
    # Swedish
    "4 ring inte",
    "3 Ni behöver inte ringa",
    "2 Nej tack, ingen uppringning",
    "5 ni ringde två gånger redan",
    "8 ring inte mig, mejla hellre",
    "9 tack",
    "1 ingen ringer någonsin tillbaka",
    # English
    "1 don't call me",
    "1 don\u2019t call me",  # a phone types a curly apostrophe
    "2 Please don't call",
    "3 no need to call",
    "4 I called twice and nobody answered",
    "5 the call center was slow",
    "6 They ended the call",
    "7 do not call",
    "0 never call me again",
    "5 recall",
    "8 I'd rather not get a call",
    "2 nobody called me back, no need now",
    "10 great service",
    "",
]


def test_the_tables_are_large_enough_to_mean_something() -> None:
    assert len(ASKS) + len(DOES_NOT_ASK) >= 60


@pytest.mark.parametrize("reply", ASKS)
def test_a_reply_that_asks_for_a_call_gets_a_follow_up(reply: str) -> None:
    assert wants_a_call(reply)


@pytest.mark.parametrize("reply", DOES_NOT_ASK)
def test_a_reply_that_declines_or_only_mentions_a_call_gets_none(reply: str) -> None:
    assert wants_a_call(reply) is False


@pytest.mark.parametrize("reply", ["3 call", "3 call please", "10  please call", "2, call asap"])
def test_a_one_word_request_after_the_score_asks_for_a_call(reply: str) -> None:
    """The SMS reply's comment may keep its score in front ("3 call"): the request is read
    after it."""
    assert wants_a_call(reply) is True
