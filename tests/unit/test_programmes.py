"""Survey programmes: the file, which unit falls where, what a programme inherits, sampling,
and a bad file named by line and field."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from palaute_collector.settings import CollectorSettings
from palaute_consent.settings import ConsentSettings
from palaute_dispatcher.gsm7 import transliterate
from palaute_dispatcher.sms import report_sms_cost, segments
from palaute_dispatcher.templates import render
from palaute_runtime import i18n
from palaute_runtime.programmes import (
    Programme,
    ProgrammeFileError,
    Window,
    check_sms_sender,
    load_programmes,
)
from palaute_runtime.settings import CommonSettings
from palaute_schemas.send_window import DailyWindow, SendWindowRules
from tests.conftest import EXAMPLE_PROGRAMMES

LANGUAGES = i18n.languages().tags()


def test_the_shipped_example_holds_four_programmes_over_the_settings() -> None:
    settings = CommonSettings(programmes_file=EXAMPLE_PROGRAMMES, organization_name="Ryhmä")
    programmes = settings.programmes
    assert [p.name for p in programmes.all] == [
        "op-helsinki",
        "op-pohjanmaa",
        "kierratys",
        "telekom-pl",
        "default",
    ]
    assert programmes.for_unit("OP Helsinki").name == "op-helsinki"
    assert programmes.for_unit("OP Helsinki Kamppi").name == "op-helsinki"
    assert programmes.for_unit("OP Pohjanmaa Seinäjoki").name == "op-pohjanmaa"
    assert programmes.for_unit("Kierrätyskeskus Kotka").name == "kierratys"
    assert programmes.for_unit("Kotka").name == "default"
    assert programmes.for_unit("OP Helsinkix").name == "default"  # no pattern matches it
    kierratys = programmes.named("kierratys")
    assert kierratys is not None
    assert kierratys.questions == ("csat",)
    assert kierratys.anonymous
    assert kierratys.sampling_share == 0.5
    # What a programme leaves out is the default programme's: the settings.
    assert kierratys.languages == ("fi", "sv", "en")
    assert kierratys.follow_up_working_days == settings.follow_up_working_days
    assert programmes.default.organization_name == "Ryhmä"
    pohjanmaa = programmes.named("op-pohjanmaa")
    assert pohjanmaa is not None
    assert pohjanmaa.language_for("en") == "fi"
    assert pohjanmaa.language_for("sv") == "sv"


def test_without_a_file_the_settings_are_the_one_programme() -> None:
    settings = CommonSettings(sms_sender="Kymensahko", release_delay_minutes=5)
    (only,) = settings.programmes.all
    assert only.name == "default"
    assert only.sms_sender == "Kymensahko"
    assert only.release_delay_minutes == 5
    assert only.sampling_share == 1.0
    assert settings.programmes.for_unit("anything") is only


def test_a_file_default_overrides_the_settings_for_every_programme(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[programmes.default]\norganization_name = "Kymenlaakson Sähkö"\nlanguages = ["fi"]\n'
        '[programmes.kouvola]\nunits = ["Kouvola"]\nsms_sender = "KSS Kouvola"\n'
    )
    programmes = load_programmes(path, CommonSettings().programmes.default.model_dump())
    kouvola = programmes.for_unit("Kouvola")
    assert kouvola.organization_name == "Kymenlaakson Sähkö"
    assert kouvola.languages == ("fi",)
    assert kouvola.sms_sender == "KSS Kouvola"
    assert programmes.default.sms_sender == "Palaute"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            '[programmes.a]\nunits = ["X"]\n\n\nsms_sender = "Far too long a sender"\n',
            "line 5, programmes.a.sms_sender",
        ),
        (
            '[programmes.a]\nunits = ["X"]\nsampling_share = 1.5\n',
            "line 3, programmes.a.sampling_share",
        ),
        (
            '[programmes.a]\nunits = ["X"]\nquestions = ["nps", "ces"]\n',
            "line 3, programmes.a.questions",
        ),
        (
            '[programmes.a]\nunits = ["X"]\nsend_window = { weekdays = "9-17" }\n',
            "line 3, programmes.a.send_window",
        ),
        ('[programmes.a]\nunits = ["X"]\ncolour = "blue"\n', "line 3, programmes.a.colour"),
        (
            '[programmes.a]\nunits = ["X"]\n[programmes.b]\nunits = ["Y", "X"]\n',
            "line 4: unit 'X' is in programme 'a'",
        ),
        ('[programmes.a]\nsms_sender = "A"\n', "line 1: programme 'a' needs units"),
        ('[programmes.default]\nunits = ["X"]\n', "line 2: the default programme"),
        ('[programmes."Big Bank"]\nunits = ["X"]\n', "line 1: programme name 'Big Bank'"),
        ("[programmes.a\n", "not TOML"),
        (
            '[programmes.a]\nunits = ["X"]\n[programmes.a.send_window]\nweekdays = "9-17"\n',
            "line 4, programmes.a.send_window.weekdays",
        ),
        (
            '[programmes.a]\nunits = ["X"]\n[programmes.b]\nunits = ["Y"]\nsampling_share = 2\n',
            "line 5, programmes.b.sampling_share",
        ),
        ('\n[programmes.a]\nunits = ["X"]\n[programmes.zz]\n\nunits = ["Z"]\nx = 1\n', "line 7"),
        ('colour = 1\n[programmes.a]\nunits = ["X"]\n', "line 1, colour"),
        (
            '[programmes.a]\nunits = ["X"]\nsend_window.weekdays = "9-17"\n',
            "line 3, programmes.a.send_window.weekdays",
        ),
        (
            'programmes.a.units = ["X"]\nprogrammes.a.sampling_share = 2\n',
            "line 1, programmes.a.sampling_share",
        ),
        (
            # Two errors: the first by the rules' order (reminder before sampling) is named.
            '[programmes.a]\nunits = ["X"]\nsampling_share = 2\nreminder_after_days = 99\n',
            "line 4, programmes.a.reminder_after_days",
        ),
    ],
)
def test_a_bad_file_is_named_by_line_and_field(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "programmes.toml"
    path.write_text(text)
    with pytest.raises(ProgrammeFileError) as failure:
        load_programmes(path, CommonSettings().programmes.default.model_dump())
    assert str(path) in str(failure.value)
    assert named in str(failure.value)


def test_a_service_with_a_bad_file_stops_with_one_sentence_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "programmes.toml"
    path.write_text('[programmes.a]\nunits = ["X"]\nreminder_after_days = 20\n')
    done = subprocess.run(
        [sys.executable, "-m", "palaute_consent", "run"],
        env={"PALAUTE_PROGRAMMES_FILE": str(path), "PALAUTE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "programme 'a'" in done.stderr
    assert "PALAUTE_WITHDRAW_WITHIN_DAYS" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=50))
def test_sampling_is_decided_by_programme_and_contact_id_alone(contact_ids: list[str]) -> None:
    programme = CommonSettings(programmes_file=EXAMPLE_PROGRAMMES).programmes.named("kierratys")
    assert programme is not None
    # The same programme under other rules and units (another file, another replica) takes
    # the same contacts: nothing but its name, the share and the id decides.
    elsewhere = programme.model_copy(
        update={"units": ("Other",), "organization_name": "Other", "questions": ("nps",)}
    )
    assert [programme.sampled(c) for c in contact_ids] == [
        elsewhere.sampled(c) for c in contact_ids
    ]


def test_another_programme_samples_other_contacts() -> None:
    kierratys = CommonSettings(programmes_file=EXAMPLE_PROGRAMMES).programmes.named("kierratys")
    assert kierratys is not None
    renamed = kierratys.model_copy(update={"name": "kierratys-2"})
    ids = [f"K-{n}" for n in range(200)]
    assert [kierratys.sampled(c) for c in ids] != [renamed.sampled(c) for c in ids]


def test_sampling_takes_its_share_within_a_binomial_tolerance() -> None:
    programme = CommonSettings(programmes_file=EXAMPLE_PROGRAMMES).programmes.named("kierratys")
    assert programme is not None
    n, share = 10_000, programme.sampling_share
    taken = sum(programme.sampled(f"K-{i:06d}") for i in range(n))
    tolerance = 4 * math.sqrt(n * share * (1 - share))  # four standard deviations
    assert abs(taken - n * share) <= tolerance


def test_every_programme_and_language_fits_one_sms_segment() -> None:
    settings = CommonSettings(programmes_file=EXAMPLE_PROGRAMMES)
    for programme in settings.programmes.all:
        costs = report_sms_cost(programme.organization_name, programme.questions, programme.name)
        assert all(cost.count == 1 for cost in costs.values()), (programme.name, costs)


def test_a_csat_only_programme_asks_csat_in_its_own_wording() -> None:
    kierratys = CommonSettings(programmes_file=EXAMPLE_PROGRAMMES).programmes.named("kierratys")
    assert kierratys is not None
    for language in kierratys.languages:
        sms = render(
            "sms",
            language,
            organization="K",
            survey_url=None,
            valid_days=3,
            questions=kierratys.questions,
        )
        assert "1-5" in sms.text
        assert "0-10" not in sms.text
        email = render(
            "email",
            language,
            organization="K",
            survey_url="https://k.example/s/t",
            valid_days=3,
            questions=kierratys.questions,
            csat_question=kierratys.csat_question[language],
        )
        assert kierratys.csat_question[language] in email.text
        assert "?csat=5" in email.html
        assert "?score=" not in email.html


def test_per_service_rules_come_from_the_programme() -> None:
    consent = ConsentSettings(programmes_file=EXAMPLE_PROGRAMMES)
    helsinki = consent.programmes.for_unit("OP Helsinki")
    assert consent.release_rules(helsinki).delay.total_seconds() == 3600
    assert consent.remember_released.days == 60  # op-pohjanmaa's cap is the longest
    collector = CollectorSettings(programmes_file=EXAMPLE_PROGRAMMES)
    assert collector.programmes.for_unit("OP Helsinki").follow_up_working_days == 2


def test_every_programmes_sms_says_who_asks_and_whether_it_is_anonymous() -> None:
    programmes = CommonSettings(programmes_file=EXAMPLE_PROGRAMMES).programmes
    for programme in programmes.all:
        for language in programme.languages:
            for anonymous in (True, False):
                for reminder in (False, True):
                    sms = render(
                        "sms",
                        language,
                        organization=programme.organization_name,
                        survey_url=None,
                        valid_days=3,
                        questions=programme.questions,
                        anonymous=anonymous,
                        reminder=reminder,
                    ).text
                    assert programme.organization_name in sms
                    told = transliterate(i18n.catalogue(language).text("sms.anonymous"))
                    assert (told in sms) == anonymous, sms
                    assert segments(sms).count == 1, (programme.name, language, sms)


BASE = {
    "name": "op-helsinki",
    "organization_name": "OP Helsinki",
    "sms_sender": "OPHelsinki",
    "email_from": "OP <kysely@op.example>",
    "questions": ("nps",),
    "languages": ("fi",),
    "release_delay_minutes": 60,
    "reminder_after_days": 0,
    "frequency_cap_days": 30,
    "follow_up_working_days": 3,
}


@pytest.mark.parametrize(
    ("field", "allowed", "refused"),
    [
        ("units", ("x" * 100,), ("x" * 101,)),
        ("units", ("u",) * 1000, ("u",) * 1001),
        ("units", ("a",), ("",)),
        ("organization_name", "x" * 60, "x" * 61),
        ("organization_name", "x", ""),
        ("privacy_contact", "x" * 200, "x" * 201),
        ("questions", ("nps", "csat"), ()),
        ("questions", ("csat",), ("nps", "csat", "nps")),
        ("csat_question", {"fi": "x" * 5}, {"fi": "x" * 4}),
        ("csat_question", {"fi": "x" * 200}, {"fi": "x" * 201}),
        ("languages", ("fi", "sv", "en"), ()),
        ("languages", ("en",), ("fi", "sv", "en", "fi")),
        ("release_delay_minutes", 0, -1),
        ("release_delay_minutes", 7 * 24 * 60, 7 * 24 * 60 + 1),
        ("reminder_after_days", 0, -1),
        ("reminder_after_days", 60, 61),
        ("frequency_cap_days", 0, -1),
        ("frequency_cap_days", 3650, 3651),
        ("sampling_share", 0.000001, 0),
        ("sampling_share", 1, 1.000001),
        ("follow_up_working_days", 1, 0),
        ("follow_up_working_days", 30, 31),
    ],
)
def test_each_rule_of_a_programme_has_its_bounds(
    field: str, allowed: object, refused: object
) -> None:
    assert getattr(Programme(**BASE | {field: allowed}), field) == allowed
    with pytest.raises(ValidationError):
        Programme(**BASE | {field: refused})


def test_a_programme_is_frozen_refuses_unknown_rules_and_defaults_to_named_and_working_days() -> (
    None
):
    programme = Programme(**BASE)
    with pytest.raises(ValidationError):
        programme.anonymous = True  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        Programme(**BASE | {"colour": "blue"})
    assert (programme.anonymous, programme.send_on_public_holidays) == (False, False)
    assert programme.rules()["send_window"] == {
        "weekdays": "09:00-20:00",
        "saturday": "10:00-18:00",
        "sunday": "",
    }
    assert "name" not in programme.rules()
    assert "units" not in programme.rules()
    assert Programme(**BASE | {"holiday_country": "se"}).holiday_country == "SE"


def test_a_programme_offers_at_most_twenty_languages_each_once() -> None:
    with pytest.raises(ValidationError, match="at most 20 items"):
        Programme(**BASE | {"languages": ("fi",) * 21})
    with pytest.raises(ValidationError, match="each value once"):  # 20 pass the count
        Programme(**BASE | {"languages": ("fi",) * 20})
    assert Programme(**BASE | {"languages": ("PL", "en")}).languages == ("pl", "en")


def test_what_a_programme_asks_and_whom_it_samples() -> None:
    nps_only = Programme(**BASE)
    assert (nps_only.asks_nps, nps_only.asks_csat) == (True, False)
    both = Programme(**BASE | {"questions": ("csat", "nps")})
    assert (both.asks_nps, both.asks_csat) == (True, True)
    everyone = Programme(**BASE | {"sampling_share": 1})
    assert all(everyone.sampled(f"K-{n}") is True for n in range(50))
    half = Programme(**BASE | {"sampling_share": 0.5})
    drawn = [half.sampled(f"K-{n}") for n in range(400)]
    assert all(isinstance(one, bool) for one in drawn)
    assert 150 < sum(drawn) < 250


def test_a_programmes_send_window_and_holiday_country_replace_the_shared_ones() -> None:
    shared = SendWindowRules(
        window=Window().parsed(),
        skip_public_holidays=True,
        default_zone=ZoneInfo("Europe/Helsinki"),
        default_country="FI",
        unit_countries={"Malmö": "SE"},
    )
    sweden = Programme(
        **BASE
        | {
            "send_window": Window(weekdays="10:00-18:00"),
            "send_on_public_holidays": True,
            "holiday_country": "SE",
        }
    ).send_window_rules(shared)
    assert sweden.window.weekdays == DailyWindow(600, 1080)
    assert (sweden.skip_public_holidays, sweden.default_country) == (False, "SE")
    assert sweden.unit_countries == {}, "the programme's country for every unit"
    plain = Programme(**BASE).send_window_rules(shared)
    assert (plain.skip_public_holidays, plain.default_country) == (True, "FI")
    assert plain.unit_countries == {"Malmö": "SE"}


def test_a_window_takes_only_its_three_days_and_stays_as_written() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Window(monday="09:00-17:00")  # type: ignore[call-arg]
    window = Window()
    with pytest.raises(ValidationError):
        window.sunday = "10:00-12:00"  # type: ignore[misc]


def test_a_sender_is_kept_as_written_when_valid() -> None:
    assert check_sms_sender("OP Pankki") == "OP Pankki"
    assert check_sms_sender("+358405550100") == "+358405550100"


def test_a_message_keeps_its_named_programme_else_the_units(tmp_path: Path) -> None:
    path = tmp_path / "programmes.toml"
    path.write_text('[programmes.a]\nunits = ["Kotka"]\n[programmes.b]\nunits = ["Kouvola"]\n')
    programmes = load_programmes(path, CommonSettings().programmes.default.model_dump())
    assert programmes.of("b", "Kotka").name == "b", "the programme the message names"
    assert programmes.of(None, "Kotka").name == "a"
    assert programmes.of("", "Kouvola").name == "b"
    assert programmes.of("gone", "Kotka").name == "a", "no longer in the file: the unit's"
