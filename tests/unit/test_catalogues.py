"""The message catalogues: every packaged language complete against the English source
(every message, translated, the same placeholders, every plural form), the checks that find
what a catalogue lacks, plural forms from the catalogue, BCP 47 matching, and a fifth
language added with no change to Python: a catalogue and grammar made in the test."""

from __future__ import annotations

import shutil
from datetime import date
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
from palaute_runtime import catalogue_tools, i18n
from palaute_runtime.commands import i18n_command
from palaute_runtime.programmes import Programme
from palaute_schemas import ContactClosed

PL_PO = i18n.PACKAGED / "pl" / "LC_MESSAGES" / "palaute.po"
MESSAGES = len(catalogue_tools.template())  # every message of the English source


def test_every_packaged_language_is_complete_and_the_template_is_current() -> None:
    packaged = i18n.load([i18n.PACKAGED])
    assert packaged.incomplete == {}
    assert packaged.tags() == ("fi", "sv", "en", "pl")
    with (i18n.PACKAGED / "palaute.pot").open("rb") as file:
        shipped = {(m.id, " ".join(m.auto_comments)) for m in read_po(file) if m.id}
    current = {(m.id, " ".join(m.auto_comments)) for m in catalogue_tools.template() if m.id}
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
    elif change == "dropped":
        catalog["sms.opening"].string = "Dziękujemy!"
    elif change == "braces":
        catalog["sms.opening"].string = "{organization dziękuje!"
    elif change == "singular":
        catalog.delete("email.link_valid")
        catalog.add("email.link_valid", "link jest ważny przez {count} dni")
    elif change == "plural_id":  # a translator's own plural id: the same message
        catalog.delete("email.link_valid")
        catalog.add(
            ("email.link_valid", "email.link_valid (plural)"),
            ("{count} dzień", "{count} dni", "{count} dni"),
        )
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
        ("dropped", "sms.opening: placeholders [] where en has ['organization']"),
        ("braces", "sms.opening: placeholders ['<broken braces>']"),
        ("singular", "email.link_valid: plural in one catalogue, not in the other"),
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


def test_a_plural_message_may_have_its_own_plural_id(tmp_path: Path) -> None:
    shutil.copytree(i18n.PACKAGED / "pl", tmp_path / "pl")
    with PL_PO.open("rb") as file:
        catalog = read_po(file, locale="pl")
    catalog.delete("email.link_valid")
    catalog.add(
        ("email.link_valid", "email.link_valid (plural)"),
        ("{count} dzień", "{count} dni", "{count} dni"),
    )
    with (tmp_path / "pl" / "LC_MESSAGES" / "palaute.po").open("wb") as file:
        write_po(file, catalog)
    polish = i18n.load([i18n.PACKAGED, tmp_path]).available["pl"]
    assert polish.plural("email.link_valid", 5) == "5 dni"
    assert "email.link_valid" not in polish.section("email")


def test_a_count_of_plural_forms_other_than_the_languages_is_named() -> None:
    """(Babel pads a .po file's missing forms with empty ones: "not translated".)"""
    with PL_PO.open("rb") as file:
        catalog = read_po(file, locale="pl")
    catalog["email.link_valid"].string = ("{count} dzień", "{count} dni")
    source = i18n.read_catalog(i18n.PACKAGED / "en" / "LC_MESSAGES" / "palaute.po", "en")
    assert i18n.problems(catalog, source) == [
        "email.link_valid: 2 plural forms, the language has 3"
    ]


def test_a_folder_that_is_no_language_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "doc").mkdir()  # a tag-like name, no catalogue
    (tmp_path / "doc" / "README").write_text("notes")
    assert "doc" not in i18n.load([i18n.PACKAGED, tmp_path]).incomplete
    with pytest.raises(i18n.LanguageError, match="is not a directory of languages"):
        i18n.load([tmp_path / "missing"])


def test_labels_lookups_and_the_readers_fallback() -> None:
    polish = i18n.catalogue("pl")
    assert polish.label("sms_stop") == "odpowiedź STOP na SMS"
    assert polish.label("a_new_code") == "a_new_code"
    assert polish.text("sms.opening", organization="Telekom") == "Telekom dziękuje!"
    assert polish.text("sms.opening") == "{organization} dziękuje!"
    with pytest.raises(i18n.LanguageError, match=r"no message 'sms\.nothing'"):
        polish.text("sms.nothing")
    with pytest.raises(i18n.LanguageError, match=r"no plural message 'sms\.stop'"):
        polish.plural("sms.stop", 2)
    with pytest.raises(i18n.LanguageError, match="it is plural: ask for a count's form"):
        polish.text("email.link_valid")
    assert (i18n.available("pl"), i18n.available("PL"), i18n.available("de")) == (
        True,
        True,
        False,
    )
    assert i18n.for_reader("pl-PL").language == "pl"
    assert i18n.for_reader("de").language == "fi"  # the first available
    with pytest.raises(i18n.LanguageError, match="'de' is not an available language"):
        i18n.catalogue("de")


@pytest.mark.parametrize("score", ["11", "-1", '"ten"', "true"])
def test_a_score_word_means_0_to_10(tmp_path: Path, score: str) -> None:
    shutil.copytree(i18n.PACKAGED / "pl", tmp_path / "pl")
    (tmp_path / "pl" / "replies.toml").write_text(f'stop = ["stop"]\n[scores]\nword = {score}\n')
    known = i18n.load([i18n.PACKAGED, tmp_path])
    assert "a score word means 0-10" in known.incomplete["pl"][0]


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
        ("sv-x-private", ("sv",), "sv"),
        ("de", ("de", "fi"), None),  # offered, but no catalogue
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
    # A letter with no GSM-7 form is kept as it is (the SMS is then UCS-2, as reported).
    assert transliterate("Привет й") == "Привет й"
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
    po, grammar = catalogue_tools.start_language("et", directory)
    with po.open("rb") as file:
        catalog = read_po(file, locale="et")
    with (i18n.PACKAGED / "en" / "LC_MESSAGES" / "palaute.po").open("rb") as file:
        english = read_po(file, locale="en")
    for message in catalog:
        if not message.id:
            continue
        source = english[message.id if isinstance(message.id, str) else message.id[0]].string
        if isinstance(message.id, str):
            message.string = "ET " + source
        else:
            message.string = tuple("ET " + form for form in source)
    with po.open("wb") as file:
        write_po(file, catalog)
    grammar.write_text(
        'stop = ["stopp", "loobu"]\n'
        '[scores]\n"kümme" = 10\n"üheksa" = 9\nkoniec = 3\n'
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
    assert f"et: complete, {MESSAGES} messages" in capsys.readouterr().out
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
    # A number word that is another language's stop word is no score ("koniec": Polish).
    assert not isinstance(parse_sms_reply("koniec, hästi"), Score)
    assert wants_a_call("3 helistage mulle")
    assert not wants_a_call("3 ärge helistage mulle")


def test_palaute_i18n_check_names_what_an_incomplete_language_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    catalogue_tools.start_language("et", tmp_path)
    monkeypatch.setenv(i18n.LOCALE_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        i18n_command(["check"])
    assert exited.value.code == 1
    said = capsys.readouterr().out
    assert f"et: NOT available, {MESSAGES} problem(s):" in said
    assert "  sms.stop: not translated" in said
    assert "et" not in i18n.languages().available
    with pytest.raises(
        i18n.LanguageError,
        match=r"the et catalogue is not complete: anonymity.anonymous: not translated; "
        rf"anonymity.named: not translated; code.add: not translated \(and {MESSAGES - 3} more\)$",
    ):
        i18n.require(["et"])


def test_the_template_is_written_as_shipped(tmp_path: Path) -> None:
    written = tmp_path / "a" / "new" / "folder" / "palaute.pot"
    assert catalogue_tools.write_template(written) == MESSAGES
    assert catalogue_tools.write_template(written) == MESSAGES  # again, over the first
    with written.open("rb") as mine, (i18n.PACKAGED / "palaute.pot").open("rb") as shipped:
        ours, theirs = read_po(mine), read_po(shipped)
    assert [(m.id, m.auto_comments, m.string) for m in ours if m.id] == [
        (m.id, m.auto_comments, m.string) for m in theirs if m.id
    ]
    assert not ours.fuzzy


def test_a_language_started_by_the_tool_gets_its_own_plural_rule(tmp_path: Path) -> None:
    """Russian has three forms (1, 2-4, 5-20): the started catalogue says so, and once
    translated its plurals follow it."""
    po, _ = catalogue_tools.start_language("ru", tmp_path / "languages")
    with po.open("rb") as file:
        catalog = read_po(file, locale="ru")
    assert catalog.num_plurals == 3
    assert not catalog.fuzzy
    for message in catalog:
        if isinstance(message.id, str) and message.id:
            message.string = "RU"
        elif message.id:
            message.string = ("{count} one", "{count} few", "{count} many")
    with (i18n.PACKAGED / "en" / "LC_MESSAGES" / "palaute.po").open("rb") as file:
        english = read_po(file, locale="en")
    for message in english:  # the placeholders of the source, kept
        if isinstance(message.id, str) and message.id:
            names = sorted(i18n.placeholders(str(message.string)))
            catalog[message.id].string = "RU " + " ".join("{" + n + "}" for n in names)
    with po.open("wb") as file:
        write_po(file, catalog)
    russian = i18n.load([i18n.PACKAGED, tmp_path / "languages"]).available["ru"]
    assert [russian.plural("email.link_valid", n) for n in (1, 3, 5, 21)] == [
        "1 one",
        "3 few",
        "5 many",
        "21 one",
    ]


def test_a_language_is_started_once_and_only_with_a_rule_babel_knows(tmp_path: Path) -> None:
    with pytest.raises(i18n.LanguageError, match="Babel knows no language 'xq'"):
        catalogue_tools.start_language("xq", tmp_path)
    with pytest.raises(i18n.LanguageError, match="is not a BCP 47 language tag"):
        catalogue_tools.start_language("polish!", tmp_path)
    (tmp_path / "et").mkdir()
    (tmp_path / "et" / "replies.toml").write_text('stop = ["stopp"]\n')
    with pytest.raises(i18n.LanguageError, match="exists: edit it rather than start it again"):
        catalogue_tools.start_language("et", tmp_path)
    assert not (tmp_path / "et" / "LC_MESSAGES").exists()
    (tmp_path / "de" / "LC_MESSAGES").mkdir(parents=True)  # an empty folder is no language yet
    po, _ = catalogue_tools.start_language("de", tmp_path)
    assert po.is_file()


@pytest.mark.parametrize(("missing", "said"), [(3, ""), (4, " (and 1 more)")])
def test_an_incomplete_language_is_refused_naming_three_of_its_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: int, said: str
) -> None:
    shutil.copytree(i18n.PACKAGED / "pl", tmp_path / "pl")
    with PL_PO.open("rb") as file:
        catalog = read_po(file, locale="pl")
    keys = ["survey.thanks", "survey.title", "survey.unknown", "survey.web_form"][:missing]
    for key in keys:
        catalog.delete(key)
    with (tmp_path / "pl" / "LC_MESSAGES" / "palaute.po").open("wb") as file:
        write_po(file, catalog)
    monkeypatch.setenv(i18n.LOCALE_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(i18n.LanguageError) as refused:
        i18n.require(["pl"])
    listed = "; ".join(f"{key}: missing" for key in keys[:3])
    assert str(refused.value) == f"the pl catalogue is not complete: {listed}{said}"


def test_breakdown_values_are_named_in_the_readers_language() -> None:
    from palaute_consent.results_pages import value_names

    polish = i18n.catalogue("pl")
    assert value_names("language", ["fi", "pl", "xx-YY"], polish) == {
        "fi": "fiński (fi)",
        "pl": "polski (pl)",
        "xx-YY": "xx-YY",
    }
    assert value_names("survey_channel", ["sms", "email"], i18n.catalogue("fi")) == {
        "sms": "tekstiviesti",
        "email": "sähköposti",
    }
    assert value_names("contact_channel", ["web_form"], polish) == {
        "web_form": "formularz internetowy"
    }
    assert value_names("unit", ["Kotka"], polish) == {}
    assert i18n.language_name("sv", "en") == "Swedish"
    assert i18n.language_name("sv", "not a language") == "sv"


def test_a_day_is_written_as_the_readers_language_writes_it() -> None:
    day = date(2026, 12, 6)
    assert [i18n.long_date(day, tag) for tag in ("fi", "sv", "en", "pl", "xx")] == [
        "6. joulukuuta 2026",
        "6 december 2026",
        "December 6, 2026",
        "6 grudnia 2026",
        "2026-12-06",
    ]
