"""The message catalogues: every packaged language complete against the English source
(every message, translated, the same placeholders, every plural form), the checks that find
what a catalogue lacks, plural forms from the catalogue, BCP 47 matching, and a fifth
language added with no change to Python: a catalogue and grammar made in the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from palaute_collector.call_requests import wants_a_call
from palaute_collector.notice import notice_of
from palaute_collector.scores import Score, Stop, parse_sms_reply
from palaute_collector.settings import CollectorSettings
from palaute_collector.web_context import page
from palaute_dispatcher.gsm7 import transliterate
from palaute_dispatcher.sms import report_sms_cost, segments
from palaute_dispatcher.templates import render
from palaute_runtime import i18n
from palaute_runtime.commands import i18n_command
from palaute_runtime.programmes import Programme
from palaute_schemas import ContactClosed

PL_PO = i18n.PACKAGED / "pl" / "LC_MESSAGES" / "palaute.po"


def test_every_packaged_language_is_complete_and_the_template_is_current() -> None:
    packaged = i18n.load([i18n.PACKAGED])
    assert packaged.incomplete == {}
    assert packaged.tags() == ("fi", "sv", "en", "pl")
    with (i18n.PACKAGED / "palaute.pot").open("rb") as file:
        shipped = {(m.id, " ".join(m.auto_comments)) for m in read_po(file) if m.id}
    current = {(m.id, " ".join(m.auto_comments)) for m in i18n.template() if m.id}
    assert shipped == current, "run ./dev palaute-i18n template"


def broken_polish(tmp_path: Path, change: str) -> list[str]:
    """The Polish catalogue with one thing changed, as a replacement in another directory:
    what the check says of it."""
    home = tmp_path / "pl"
    shutil.copytree(i18n.PACKAGED / "pl", home)
    with PL_PO.open("rb") as file:
        catalog = read_po(file, locale="pl")
    if change == "missing":
        catalog.delete("survey.thanks")
    elif change == "placeholder":
        catalog["sms.opening"].string = "{organisation} dziękuje!"
    elif change == "plural":
        catalog["email.link_valid"].string = ("{count} dzień", "{count} dni")
    elif change == "untranslated":
        catalog["officer.title"].string = ""
    elif change == "fuzzy":
        catalog["officer.title"].flags.add("fuzzy")
    elif change == "extra":
        catalog.add("survey.not_in_english", "coś")
    with (home / "LC_MESSAGES" / "palaute.po").open("wb") as file:
        write_po(file, catalog)
    known = i18n.load([i18n.PACKAGED, tmp_path])
    assert "pl" not in known.available
    return known.incomplete["pl"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("missing", "survey.thanks: missing"),
        ("placeholder", "sms.opening: placeholders ['organisation'] where en has ['organization']"),
        ("plural", "email.link_valid: not translated"),  # the third form is empty
        ("untranslated", "officer.title: not translated"),
        ("fuzzy", "officer.title: fuzzy"),
        ("extra", "survey.not_in_english: not in the en catalogue"),
    ],
)
def test_a_catalogue_that_lacks_anything_is_not_available_and_says_what(
    tmp_path: Path, change: str, said: str
) -> None:
    problems = broken_polish(tmp_path, change)
    assert any(problem.startswith(said) for problem in problems), problems


def test_a_broken_grammar_keeps_its_language_out(tmp_path: Path) -> None:
    shutil.copytree(i18n.PACKAGED / "pl", tmp_path / "pl")
    (tmp_path / "pl" / "replies.toml").write_text(
        'stop = ["stop"]\n[call_requests]\nrequests = ["("]\n'
    )
    known = i18n.load([i18n.PACKAGED, tmp_path])
    assert "pl" not in known.available
    assert "not a reply grammar" in known.incomplete["pl"][0]


def test_plural_forms_come_from_each_catalogue() -> None:
    polish = i18n.catalogue("pl")
    assert [polish.plural("email.link_valid", n) for n in (1, 2, 5, 22, 25)] == [
        "link jest ważny przez 1 dzień",
        "link jest ważny przez 2 dni",
        "link jest ważny przez 5 dni",
        "link jest ważny przez 22 dni",
        "link jest ważny przez 25 dni",
    ]
    assert "(within 1 working day)" in i18n.catalogue("en").plural("survey.follow_up", 1)
    assert "(within 3 working days)" in i18n.catalogue("en").plural("survey.follow_up", 3)
    assert "inom 1 arbetsdag)" in i18n.catalogue("sv").plural("survey.follow_up", 1)
    assert "miesiącu" in polish.plural("notice.kept_named", 1)
    assert "miesiącach" in polish.plural("notice.kept_named", 12)


@pytest.mark.parametrize(
    ("tag", "offered", "best"),
    [
        ("fi", ("fi", "sv"), "fi"),
        ("fi-FI", ("fi", "sv"), "fi"),
        ("sv-FI", ("fi", "sv"), "sv"),
        ("SV-fi", ("fi", "sv"), "sv"),
        ("pl-PL", ("pl", "en"), "pl"),
        ("sv-Latn-FI", ("sv",), "sv"),
        ("pl-PL", ("fi", "sv"), None),
        ("de-DE", ("fi", "pl"), None),
    ],
)
def test_a_crm_language_tag_finds_the_best_catalogue_rfc_4647(
    tag: str, offered: tuple[str, ...], best: str | None
) -> None:
    assert i18n.languages().best(tag, offered) == best


def test_a_programme_serves_a_tag_in_its_best_language_else_its_first() -> None:
    base = {
        "name": "telekom",
        "organization_name": "Telekom Polska",
        "sms_sender": "TelekomPL",
        "email_from": "ankieta@telekom.example",
        "questions": ("nps",),
        "release_delay_minutes": 0,
        "reminder_after_days": 0,
        "frequency_cap_days": 0,
        "follow_up_working_days": 2,
    }
    programme = Programme.model_validate(base | {"languages": ("pl", "en")})
    assert programme.language_for("pl-PL") == "pl"
    assert programme.language_for("en-GB") == "en"
    assert programme.language_for("fi-FI") == "pl"
    with pytest.raises(ValueError, match="'de' is not an available language"):
        Programme.model_validate(base | {"languages": ("pl", "de")})
    # The CRM's tag is carried as sent; an empty or malformed one is refused at the edge.
    for bad in ("", "polish language", "p"):
        with pytest.raises(ValueError, match="language"):
            ContactClosed.model_validate(
                {
                    "contact_id": "K",
                    "customer_id": "C",
                    "contact_channel": "phone",
                    "language": bad,
                    "unit": "U",
                    "closed_at": "2026-12-01T10:00:00+01:00",
                }
            )


def test_polish_sms_is_one_gsm7_segment_unless_it_keeps_its_diacritics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert transliterate("Zażółć gęślą jaźń ĄĆĘŁŃÓŚŹŻ") == "Zazolc gesla jazn ACELNOSZZ"
    assert transliterate("Hyvää päivää, Åsa! Ñandú") == "Hyvää päivää, Åsa! Ñandu"
    assert transliterate("\u201ecytat\u201d \u2013 koniec\u2026") == '"cytat" - koniec...'
    texts = i18n.catalogue("pl").section("sms")
    for text in texts.values():  # every Polish SMS message, written in GSM-7
        assert segments(transliterate(text)).encoding == "GSM-7", text
    kept = render(
        "sms", "pl", organization="Telekom", survey_url=None, valid_days=3, keep_diacritics=True
    )
    assert segments(kept.text).encoding == "UCS-2"
    assert "dziękuje" in kept.text
    plain = render("sms", "pl", organization="Telekom", survey_url=None, valid_days=3)
    assert segments(plain.text).count == 1
    assert "dziekuje" in plain.text
    costs = report_sms_cost("Telekom Polska", languages=("pl",), keep_diacritics=True)
    assert (costs["pl"].encoding, costs["pl"].count) == ("UCS-2", 3)
    said = capsys.readouterr().out
    assert "sms_diacritics_kept" in said
    assert "segments_transliterated=1" in said


def fill_estonian(directory: Path) -> None:
    """A translator's work: every message of the new catalogue translated (here, marked),
    placeholders kept, both plural forms; a reply grammar with its examples."""
    po, grammar = i18n.start_language("et", directory)
    with po.open("rb") as file:
        catalog = read_po(file, locale="et")
    english = i18n.catalogue("en")
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, str):
            message.string = "ET " + english.messages[message.id][0]
        else:
            message.string = tuple("ET " + form for form in english.messages[message.id[0]])
    with po.open("wb") as file:
        write_po(file, catalog)
    grammar.write_text(
        'stop = ["stopp", "loobu"]\n'
        '[scores]\n"kümme" = 10\n"üheksa" = 9\n'
        '[call_requests]\nclause_breaks = ["aga"]\n'
        "requests = ['\\bhelista(?:ge)?\\s+mulle\\b']\nnegations = ['\\b(?:ei|ärge)\\b']\n",
        "utf-8",
    )


def test_a_fifth_language_needs_no_python_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fill_estonian(tmp_path)
    monkeypatch.setenv(i18n.LOCALE_DIR_VARIABLE, str(tmp_path))
    i18n_command(["check"])
    assert "et: complete, 226 messages" in capsys.readouterr().out
    assert i18n.languages().tags() == ("fi", "sv", "en", "et", "pl")
    # A programme offers it; the CRM's et-EE is served in it.
    programme = Programme.model_validate(
        {
            "name": "eesti",
            "organization_name": "Eesti Energia",
            "sms_sender": "Energia",
            "email_from": "kysely@energia.example",
            "questions": ("nps", "csat"),
            "languages": ("et", "fi"),
            "release_delay_minutes": 0,
            "reminder_after_days": 0,
            "frequency_cap_days": 0,
            "follow_up_working_days": 2,
        }
    )
    assert programme.language_for("et-EE") == "et"
    # The dispatcher's invitations, the collector's pages and notice, the replies.
    sms = render("sms", "et", organization="Eesti Energia", survey_url=None, valid_days=2)
    assert sms.text.startswith("ET Thanks from Eesti Energia!")
    email = render(
        "email", "et", organization="E", survey_url="https://s.example/s/t", valid_days=1
    )
    assert "ET the link is valid for 1 day" in email.text
    assert 'lang="et"' in email.html
    survey = page("et", message="x").body.decode()
    assert '<html lang="et">' in survey
    assert "ET Customer survey" in survey
    notice = notice_of(programme, "et", CollectorSettings())
    assert notice["title"] == "ET Privacy notice: customer survey"
    assert parse_sms_reply("Loobu!") == Stop()
    assert parse_sms_reply("kümme, aitäh") == Score(10, "aitäh")
    assert wants_a_call("3 helistage mulle")
    assert not wants_a_call("3 ärge helistage mulle")


def test_palaute_i18n_check_names_what_an_incomplete_language_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    i18n.start_language("et", tmp_path)
    monkeypatch.setenv(i18n.LOCALE_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        i18n_command(["check"])
    assert exited.value.code == 1
    said = capsys.readouterr().out
    assert "et: NOT available, 226 problem(s):" in said
    assert "  sms.stop: not translated" in said
    assert "et" not in i18n.languages().available
    with pytest.raises(i18n.LanguageError, match="the et catalogue is not complete"):
        i18n.require(["et"])
