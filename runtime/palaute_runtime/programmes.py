"""Survey programmes: which units survey under which name, sender and rules.

A programme file (TOML, PALAUTE_PROGRAMMES_FILE) names programmes and the units each covers
(exact names, or patterns with * and ?); a unit in none of them falls in the default
programme, whose values are the global settings (PALAUTE_ORGANIZATION_NAME,
PALAUTE_SMS_SENDER, PALAUTE_SEND_WINDOW_*, ...). A programme sets only what differs: every
field it leaves out is the default programme's. Every service reads the same file at start;
a file that does not hold stops the service with the file, line and field named.

    [programmes.op-helsinki]
    units = ["OP Helsinki", "OP Helsinki *"]
    organization_name = "OP Helsinki"
    sms_sender = "OPHelsinki"
    send_window = { weekdays = "08:00-20:00", saturday = "", sunday = "" }
"""

from __future__ import annotations

import dataclasses
import email.utils
import fnmatch
import hashlib
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from palaute_runtime import i18n
from palaute_schemas import Language
from palaute_schemas.send_window import DailyWindow, SendWindow, SendWindowRules

Question = Literal["nps", "csat"]
DEFAULT = "default"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def check_sms_sender(value: str) -> str:
    """An alphanumeric sender id (at most 11 letters, digits or spaces, at least one letter;
    in Finland registered with Traficom) or an E.164 number; ValueError otherwise."""
    if re.fullmatch(r"\+[1-9]\d{6,14}", value):
        return value
    if not re.fullmatch(r"[A-Za-z0-9 ]{1,11}", value) or not re.search(r"[A-Za-z]", value):
        raise ValueError(
            "an SMS sender is an alphanumeric id of at most 11 letters, digits or spaces "
            "with at least one letter, or an E.164 number such as +358401234567"
        )
    return value


def _check_address(value: str) -> str:
    """A mailbox, bare or with a display name: `Name <box@domain>`."""
    _name, address = email.utils.parseaddr(value)
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address):
        raise ValueError(f"{value!r} is not an email address like Name <box@example.fi>")
    return value


class Window(BaseModel):
    """Sending hours: Monday to Friday, Saturday, Sunday ('' = none that day)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekdays: str = "09:00-20:00"
    saturday: str = "10:00-18:00"
    sunday: str = ""

    @field_validator("weekdays", "saturday", "sunday")
    @classmethod
    def _span(cls, value: str) -> str:
        DailyWindow.parse(value)
        return value

    def parsed(self) -> SendWindow:
        return SendWindow(
            DailyWindow.parse(self.weekdays),
            DailyWindow.parse(self.saturday),
            DailyWindow.parse(self.sunday),
        )


Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]


class Programme(BaseModel):
    """One programme with every rule resolved (the default programme's where it is silent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    units: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = Field(
        default=(), max_length=1000
    )
    organization_name: str = Field(min_length=1, max_length=60)
    # Where a respondent asks about their data (an email address or a web address), named in
    # the privacy notice; unset: the notice points to the organisation's customer service.
    privacy_contact: str | None = Field(default=None, max_length=200)
    sms_sender: str
    email_from: str
    reply_to: str | None = None
    questions: tuple[Question, ...] = Field(min_length=1, max_length=2)
    # The CSAT question's wording per language, where it should differ from ours.
    csat_question: dict[Language, Annotated[str, Field(min_length=5, max_length=200)]] = Field(
        default_factory=dict
    )
    # BCP 47 tags of available catalogues (palaute_runtime.i18n), the first the fallback.
    languages: tuple[Language, ...] = Field(min_length=1, max_length=20)
    # An SMS in GSM-7 (letters outside it, such as Polish ą ł ś, written without their marks:
    # one segment is 160 characters), or as written (UCS-2: 70 per segment, 67 per part).
    sms_diacritics: Literal["transliterate", "keep"] = "transliterate"
    send_window: Window = Window()
    send_on_public_holidays: bool = False
    # The country whose holidays and time zone apply to an email (a number says its own);
    # unset: the unit's (PALAUTE_UNIT_COUNTRIES, else PALAUTE_DEFAULT_REGION).
    holiday_country: Country | None = None
    release_delay_minutes: int = Field(ge=0, le=7 * 24 * 60)
    reminder_after_days: int = Field(ge=0, le=60)
    frequency_cap_days: int = Field(ge=0, le=3650)
    # Surveys of this programme are anonymous even when the event says otherwise (an event
    # can make a survey more anonymous, never less).
    anonymous: bool = False
    # The share of eligible contacts surveyed, decided from the contact id.
    sampling_share: float = Field(default=1.0, gt=0, le=1)
    follow_up_working_days: int = Field(ge=1, le=30)
    # The country whose working days a follow-up's due date counts; unset: the unit's.
    follow_up_country: Country | None = None

    @field_validator("sms_sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_sms_sender(value)

    @field_validator("email_from", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else _check_address(value)

    @field_validator("questions", "languages")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each value once")
        return value

    @field_validator("languages")
    @classmethod
    def _available(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return i18n.require(value)

    @field_validator("csat_question")
    @classmethod
    def _lower_tags(cls, value: dict[str, str]) -> dict[str, str]:
        return {tag.lower(): text for tag, text in value.items()}

    @field_validator("holiday_country", "follow_up_country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return None if value is None else value.upper()

    @property
    def asks_nps(self) -> bool:
        return "nps" in self.questions

    @property
    def asks_csat(self) -> bool:
        return "csat" in self.questions

    def language_for(self, language: Language) -> Language:
        """The language a respondent is surveyed in: the offered one that best matches their
        BCP 47 tag (`sv-FI` is served by `sv`), else the programme's first."""
        return i18n.languages().best(language, self.languages) or self.languages[0]

    def sampled(self, contact_id: str) -> bool:
        """Whether a contact falls in the sample: the same contact always gets the same
        answer (sha-256 of programme and contact id, as a fraction of 2^64)."""
        if self.sampling_share >= 1:
            return True
        digest = hashlib.sha256(f"{self.name}\0{contact_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < self.sampling_share * 2**64

    def send_window_rules(self, base: SendWindowRules) -> SendWindowRules:
        """The shared send-window rules with this programme's window and holiday country."""
        return dataclasses.replace(
            base,
            window=self.send_window.parsed(),
            skip_public_holidays=not self.send_on_public_holidays,
            default_country=self.holiday_country or base.default_country,
            unit_countries={} if self.holiday_country else base.unit_countries,
        )

    def rules(self) -> dict[str, Any]:
        """Its rules as the officer reads them (name and units apart)."""
        return self.model_dump(mode="json", exclude={"name", "units"})


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each programme as the file writes it: only what differs from the default.
    programmes: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ProgrammeFileError(ValueError):
    """The programme file does not hold: the message names the file, line and field."""


@dataclasses.dataclass(frozen=True)
class Programmes:
    """Every programme and which unit falls in which."""

    default: Programme
    others: tuple[Programme, ...] = ()

    @property
    def all(self) -> tuple[Programme, ...]:
        return (*self.others, self.default)

    def named(self, name: str) -> Programme | None:
        return next((p for p in self.all if p.name == name), None)

    def for_unit(self, unit: str) -> Programme:
        """The programme a unit falls in: the one naming it exactly, else the first whose
        pattern matches (in the file's order), else the default."""
        for programme in self.others:
            if unit in programme.units:
                return programme
        for programme in self.others:
            if any(_is_pattern(u) and fnmatch.fnmatchcase(unit, u) for u in programme.units):
                return programme
        return self.default

    def of(self, name: str | None, unit: str) -> Programme:
        """The programme a message names (still in the file), else the unit's now."""
        return (self.named(name) if name else None) or self.for_unit(unit)


def _is_pattern(unit: str) -> bool:
    return any(c in unit for c in "*?[")


def load_programmes(path: Path | None, default: Mapping[str, Any]) -> Programmes:
    """The programmes of a file over the default programme's values; only the default
    without a file. ProgrammeFileError names the file, line and field of the first fault."""
    base = Programme.model_validate({"name": DEFAULT, **default})
    if path is None:
        return Programmes(base)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgrammeFileError(f"cannot read the programme file {path}: {exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProgrammeFileError(f"{path}: not TOML: {exc}") from None
    lines = text.splitlines()
    try:
        specs = _File.model_validate(document).programmes
    except ValidationError as exc:
        raise _located(path, lines, exc, ()) from None
    if DEFAULT in specs:  # the file's own default: over the settings, under the others
        base = _programme(path, lines, base, DEFAULT, specs[DEFAULT])
    programmes: list[Programme] = []
    owner: dict[str, str] = {}
    for name, spec in specs.items():
        if name == DEFAULT:
            continue
        where = ("programmes", name)
        programme = _programme(path, lines, base, name, spec)
        if not programme.units:
            raise ProgrammeFileError(
                f"{path}, line {_line(lines, where)}: programme {name!r} needs units"
            )
        for unit in programme.units:
            if not _is_pattern(unit) and owner.setdefault(unit, name) != name:
                raise ProgrammeFileError(
                    f"{path}, line {_line(lines, (*where, 'units'))}: unit {unit!r} is in "
                    f"programme {owner[unit]!r} already"
                )
        programmes.append(programme)
    return Programmes(base, tuple(programmes))


def _programme(
    path: Path, lines: Sequence[str], base: Programme, name: str, spec: dict[str, Any]
) -> Programme:
    """One programme of the file: its fields over the default's."""
    where = ("programmes", name)
    if not _NAME.match(name):
        raise ProgrammeFileError(
            f"{path}, line {_line(lines, where)}: programme name {name!r} must be lowercase "
            "letters, digits, - and _ (at most 40)"
        )
    if "name" in spec:
        raise ProgrammeFileError(
            f"{path}, line {_line(lines, (*where, 'name'))}: a programme's name is its "
            "table's name ([programmes.NAME])"
        )
    if name == DEFAULT and spec.get("units"):
        raise ProgrammeFileError(
            f"{path}, line {_line(lines, (*where, 'units'))}: the default programme covers "
            "every unit no other names; it lists none"
        )
    try:
        # Programme forbids unknown fields: a mistyped one is named by its line.
        return Programme.model_validate(base.model_dump() | {"units": ()} | spec | {"name": name})
    except ValidationError as exc:
        raise _located(path, lines, exc, where) from None


def _located(
    path: Path, lines: Sequence[str], exc: ValidationError, where: tuple[str, ...]
) -> ProgrammeFileError:
    """The first error of a validation, with the line of its field."""
    first = exc.errors()[0]
    loc = (*where, *(str(part) for part in first["loc"]))
    message = str(first["msg"]).removeprefix("Value error, ")
    field = ".".join(loc)
    return ProgrammeFileError(f"{path}, line {_line(lines, loc)}, {field}: {message}")


def _line(lines: Sequence[str], loc: Sequence[str]) -> int:
    """The line (1-based) where a location is written: the key's line inside its table, or
    the table's header; 1 when it cannot be told."""
    if len(loc) < 2 or loc[0] != "programmes":
        return 1
    name = re.escape(loc[1])
    header = re.compile(rf'^\s*\[\s*programmes\s*\.\s*("{name}"|\'{name}\'|{name})\s*(\]|\.)')
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return 1
    if len(loc) >= 3:
        found = _key_line(lines, start, loc[2])
        if found is not None:
            return found
        # Written as a table of its own: [programmes.a.send_window], then its keys.
        sub = re.compile(rf"^\s*\[\s*programmes\s*\.\s*{name}\s*\.\s*{re.escape(loc[2])}\s*\]")
        table = next((i for i, line in enumerate(lines) if sub.match(line)), None)
        if table is not None:
            inner = _key_line(lines, table, loc[3]) if len(loc) >= 4 else None
            return inner or table + 1
    return start + 1


def _key_line(lines: Sequence[str], table: int, key: str) -> int | None:
    """The line (1-based) of `key = ...` (or a dotted `key.inner = ...`) in the table whose
    header is at `table`."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*[=.]")
    for i in range(table + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            return None
        if pattern.match(lines[i]):
            return i + 1
    return None
