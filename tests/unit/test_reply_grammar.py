"""How SMS replies are read, language by language, from each language's reply grammar (its
`replies.toml` beside its catalogue): every example a grammar gives is checked here, for the
packaged languages and any in PALAUTE_LOCALE_DIR. A follow-up carries the comment to the CRM,
so only an unambiguous request asks for one; a stop word opts the number out for good, so
only a whole reply that says so does ("nie" alone answers the question)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from palaute_collector.call_requests import wants_a_call
from palaute_collector.scores import Score, Stop, parse_sms_reply
from palaute_runtime import i18n

LANGUAGES = i18n.languages().tags()


def examples(kind: str) -> list[tuple[str, object]]:
    return [
        pytest.param(language, example, id=f"{language}:{example}")
        for language in LANGUAGES
        for example in i18n.catalogue(language).grammar.examples.get(kind, [])
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_grammar_gives_enough_examples_to_mean_something(language: str) -> None:
    """What CONTRIBUTING.md asks of a new language's grammar."""
    given = i18n.catalogue(language).grammar.examples
    assert len(given.get("scores", [])) >= 3
    assert len(given.get("stops", [])) >= 2
    assert len(given.get("not_stops", [])) >= 2
    assert len(given.get("asks", [])) >= 10
    assert len(given.get("does_not_ask", [])) >= 7


@pytest.mark.parametrize(("language", "example"), examples("scores"))
def test_a_score_is_read_in_digits_or_words(language: str, example: list[object]) -> None:
    text, value = example
    reply = parse_sms_reply(str(text))
    assert isinstance(reply, Score), (language, text, reply)
    assert reply.value == value, (language, text, reply)


@pytest.mark.parametrize(("language", "example"), examples("stops"))
def test_a_stop_word_opts_out(language: str, example: str) -> None:
    assert parse_sms_reply(example) == Stop()


@pytest.mark.parametrize(("language", "example"), examples("not_stops"))
def test_a_reply_that_only_resembles_a_stop_does_not_opt_out(language: str, example: str) -> None:
    assert parse_sms_reply(example) != Stop()


@pytest.mark.parametrize(("language", "example"), examples("asks"))
def test_a_reply_that_asks_for_a_call_gets_a_follow_up(language: str, example: str) -> None:
    assert wants_a_call(example)


@pytest.mark.parametrize(("language", "example"), examples("does_not_ask"))
def test_a_reply_that_declines_or_only_mentions_a_call_gets_none(
    language: str, example: str
) -> None:
    assert wants_a_call(example) is False


def test_a_number_word_that_means_something_else_elsewhere_is_no_score() -> None:
    """Swedish "en" is one, Finnish "en" is "I don't": a word that is a negation or a stop
    word in any grammar is never read as a score (a grammar that lists it cannot make it
    one)."""
    assert not isinstance(parse_sms_reply("en suosittele"), Score)
    assert not isinstance(parse_sms_reply("nie"), Score)
    assert parse_sms_reply("dziesięć, dziękuję") == Score(10, "dziękuję")


def test_polish_replies_without_diacritics_read_the_same() -> None:
    """People type Polish SMS without the marks: "prosze o kontakt", "rezygnuje"."""
    assert wants_a_call("3 prosze o kontakt")
    assert wants_a_call("3 proszę o kontakt")
    assert not wants_a_call("3 nie dzwoncie")
    assert not wants_a_call("3 nie dzwońcie")
    assert parse_sms_reply("rezygnuje") == parse_sms_reply("Rezygnuję") == Stop()


def test_the_readme_lists_every_languages_stop_words() -> None:
    """The stop words the README documents are exactly those the grammars read."""
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    rows = re.findall(r"^\| (\w+) \| (`.*`) \|$", readme, re.MULTILINE)
    documented = {
        name: {i18n.fold(word) for word in re.findall(r"`([^`]+)`", words)} for name, words in rows
    }
    names = {"fi": "Finnish", "sv": "Swedish", "en": "English", "pl": "Polish"}
    for tag, name in names.items():
        assert documented[name] == set(i18n.catalogue(tag).grammar.stop_words), name
