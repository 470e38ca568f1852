"""Every text a person reads, from message catalogues, and how replies are read, per language.

A language is a directory `<tag>/` (a BCP 47 tag: `fi`, `pl`, `pt-BR`) holding
`LC_MESSAGES/palaute.po`, a gettext catalogue read and compiled with Babel (plural forms from
its `Plural-Forms` header), and `replies.toml`, the grammar of SMS replies in that language
(stop words, number words, call requests and their negations, with examples the tests check).
The packaged languages live beside this module; `PALAUTE_LOCALE_DIR` names a directory of
more (or of replacements), so a language is added without a change to Python.

Message ids are keys (`survey.title`, `sms.stop`), and English is a catalogue like the
others: it is the source every other catalogue is compared with (`palaute-i18n check`). A
language is *available* when its catalogue has every English message, translated, with the
same placeholders, in all its plural forms, and its reply grammar reads; an incomplete one is
named with what it lacks and never used. Writing catalogues (the template, a new
language, the check's report) is palaute_runtime.catalogue_tools.

A tag as the CRM sends it (`sv-FI`, `pl-PL`) is matched to the best available catalogue
with RFC 4647 lookup (`sv-FI`, then `sv`).
"""

from __future__ import annotations

import functools
import gettext
import io
import os
import re
import string
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from palaute_schemas.identifiers import LANGUAGE_TAG

PACKAGED = Path(__file__).parent / "locale"
DOMAIN = "palaute"
SOURCE = "en"  # the catalogue every other is compared with
LOCALE_DIR_VARIABLE = "PALAUTE_LOCALE_DIR"
TAG = re.compile(f"^{LANGUAGE_TAG}$")


class LanguageError(ValueError):
    """A language that is not available, or a catalogue that is not usable; says why."""


def fold(text: str) -> str:
    """Lower case without diacritics (ä→a, ł→l), straight apostrophes: how replies are read
    (the collector folds a reply so, and a grammar's words are folded on reading)."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ł", "l")


@dataclass(frozen=True)
class ReplyGrammar:
    """How replies in one language are read: data from its `replies.toml`."""

    stop_words: frozenset[str]
    score_words: Mapping[str, int]
    clause_breaks: tuple[str, ...]
    requests: tuple[re.Pattern[str], ...]
    negations: tuple[re.Pattern[str], ...]
    examples: Mapping[str, list[object]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> ReplyGrammar:
        """Read a grammar file; LanguageError naming the file and what is wrong."""
        try:
            data = tomllib.loads(path.read_text("utf-8"))
            calls = data.get("call_requests", {})
            return cls(
                stop_words=frozenset(fold(w).strip() for w in data["stop"]),
                score_words={fold(w): _score(v) for w, v in data.get("scores", {}).items()},
                clause_breaks=tuple(fold(w) for w in calls.get("clause_breaks", ())),
                requests=tuple(_pattern(p) for p in calls.get("requests", ())),
                negations=tuple(_pattern(p) for p in calls.get("negations", ())),
                examples=data.get("examples", {}),
            )
        except FileNotFoundError:
            raise LanguageError(
                f"{path} is missing: every language needs its reply grammar"
            ) from None
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, re.error) as exc:
            raise LanguageError(f"{path} is not a reply grammar: {exc}") from None

    def negated(self, clause: str) -> bool:
        """Whether a folded clause holds a negation or refusal of this language."""
        return any(n.search(clause) for n in self.negations)

    def asks(self, clause: str) -> bool:
        """Whether a folded clause holds a call request of this language and no negation."""
        return any(r.search(clause) for r in self.requests) and not self.negated(clause)


def _pattern(text: str) -> re.Pattern[str]:
    """A grammar's pattern without its diacritics, as the replies it reads ("ärge" matches
    "arge"); its case is left alone (\\b and \\B differ)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return re.compile("".join(c for c in decomposed if not unicodedata.combining(c)))


def _score(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ValueError(f"a score word means 0-10, not {value!r}")
    return value


@dataclass(frozen=True)
class Catalogue:
    """One language's texts, compiled, and its reply grammar."""

    language: str
    path: Path
    messages: Mapping[str, str]  # key -> its text (the singular messages)
    translations: gettext.GNUTranslations
    grammar: ReplyGrammar
    plurals: frozenset[str] = frozenset()  # the keys of plural messages (see `plural`)

    def text(self, key: str, /, **values: object) -> str:
        """A message, its placeholders filled in with `values` (when any are given)."""
        if key not in self.messages:
            raise LanguageError(
                f"the {self.language} catalogue has no message {key!r}"
                + (" (it is plural: ask for a count's form)" if key in self.plurals else "")
            )
        text = self.messages[key]
        return text.format(**values) if values else text

    def plural(self, key: str, count: int, /, **values: object) -> str:
        """The form of a plural message for `count` (the catalogue's rule), `{count}` and
        `values` filled in."""
        if key not in self.plurals:
            raise LanguageError(f"the {self.language} catalogue has no plural message {key!r}")
        return self.translations.ngettext(key, key, count).format(count=count, **values)

    def section(self, name: str) -> dict[str, str]:
        """The messages `name.*` by their short keys, as they are (a page's words); plural
        messages are not among them (`plural` gives their form for a count)."""
        prefix = name + "."
        return {
            key.removeprefix(prefix): text
            for key, text in self.messages.items()
            if key.startswith(prefix)
        }

    def label(self, code: str) -> str:
        """A code's label in this language (`code.<code>`), or the code itself."""
        return self.messages.get(f"code.{code}", code)


def _compile(catalog: Catalog) -> gettext.GNUTranslations:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def read_catalog(path: Path, language: str) -> Catalog:
    """A .po file as Babel reads it; LanguageError naming the file when it cannot."""
    try:
        with path.open("rb") as file:
            return read_po(file, locale=language.replace("-", "_"), domain=DOMAIN)
    except FileNotFoundError:
        raise LanguageError(f"{path} is missing") from None
    except Exception as exc:  # Babel raises many kinds for a broken file or an unknown locale
        raise LanguageError(f"{path} is not a readable catalogue: {exc}") from None


def forms(string: str | Sequence[str] | None) -> tuple[str, ...]:
    """A message's text (Babel's) as a tuple of its forms (one, or one per plural form)."""
    given = string if isinstance(string, (list, tuple)) else [string or ""]
    return tuple(str(form) for form in given)


def _key(message: Message) -> str:
    """A message's key: its id, or a plural message's singular id."""
    return message.id if isinstance(message.id, str) else message.id[0]


def _messages(catalog: Catalog) -> tuple[dict[str, str], frozenset[str]]:
    """Each singular message's text, and the keys of the plural ones."""
    texts = {m.id: str(m.string) for m in catalog if isinstance(m.id, str) and m.id}
    return texts, frozenset(_key(m) for m in catalog if not isinstance(m.id, str))


def placeholders(text: str) -> frozenset[str]:
    """The named placeholders of a text (`{organization}`)."""
    try:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)
    except ValueError:  # an unbalanced brace
        return frozenset({"<broken braces>"})


def problems(catalog: Catalog, source: Catalog) -> list[str]:
    """What keeps `catalog` from being complete against the source: each lacking,
    untranslated or fuzzy message, each placeholder that differs, each missing plural form,
    each message the source does not have. Empty when complete."""
    found: list[str] = []
    theirs = {_key(m): m for m in catalog if m.id}
    plurals = catalog.num_plurals
    for message in source:
        if not message.id:
            continue
        key = _key(message)
        wanted_forms = forms(message.string)
        wanted = frozenset().union(*(placeholders(form) for form in wanted_forms))
        mine = theirs.pop(key, None)
        if mine is None:
            found.append(f"{key}: missing")
            continue
        if mine.fuzzy:
            found.append(f"{key}: fuzzy (not yet reviewed)")
        theirs_forms = forms(mine.string)
        if isinstance(message.id, str) != isinstance(mine.id, str):
            found.append(f"{key}: plural in one catalogue, not in the other")
            continue
        if not isinstance(mine.id, str) and len(theirs_forms) != plurals:
            found.append(f"{key}: {len(theirs_forms)} plural forms, the language has {plurals}")
        if not all(theirs_forms):
            found.append(f"{key}: not translated")
            continue
        have = frozenset().union(*(placeholders(form) for form in theirs_forms))
        extra = frozenset().union(*(placeholders(form) - wanted for form in theirs_forms))
        if have != wanted or extra:
            found.append(f"{key}: placeholders {sorted(have)} where {SOURCE} has {sorted(wanted)}")
    found.extend(f"{key}: not in the {SOURCE} catalogue" for key in sorted(theirs))
    return found


def catalogue_dirs() -> tuple[Path, ...]:
    """Where languages are looked for: the packaged ones, then PALAUTE_LOCALE_DIR's (which
    may add languages or replace packaged ones)."""
    extra = os.environ.get(LOCALE_DIR_VARIABLE, "").strip()
    return (PACKAGED, Path(extra)) if extra else (PACKAGED,)


def _language_dirs(dirs: Sequence[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise LanguageError(f"{directory} is not a directory of languages")
        for sub in sorted(directory.iterdir()):
            if TAG.match(sub.name) and (sub / "LC_MESSAGES" / f"{DOMAIN}.po").is_file():
                found[sub.name.lower()] = sub
    return found


@dataclass(frozen=True)
class Languages:
    """Every language found, the available ones compiled, the others with their problems."""

    available: Mapping[str, Catalogue]
    incomplete: Mapping[str, list[str]]

    @functools.cached_property
    def grammars(self) -> tuple[ReplyGrammar, ...]:
        """Every available language's reply grammar: a reply is read by all of them (an SMS
        reply says nothing of its language until its survey is found)."""
        return tuple(found.grammar for found in self.available.values())

    def tags(self) -> tuple[str, ...]:
        """The available languages' tags as pages list them: Finnish, Swedish and English
        (the home market's), then the others by tag."""
        first = ("fi", "sv", "en")
        return tuple(t for t in first if t in self.available) + tuple(
            sorted(t for t in self.available if t not in first)
        )

    def best(self, tag: str, offered: Iterable[str] | None = None) -> str | None:
        """The available (and offered) language that best serves a BCP 47 tag: RFC 4647
        lookup, the tag then its shorter prefixes (`sv-Latn-FI`, `sv-Latn`, `sv`)."""
        choices = {t.lower() for t in (offered if offered is not None else self.available)}
        choices &= set(self.available)
        subtags = tag.strip().replace("_", "-").lower().split("-")
        while subtags:
            candidate = "-".join(subtags)
            if candidate in choices:
                return candidate
            subtags.pop()
        return None


def load(dirs: Sequence[Path] | None = None) -> Languages:
    """Read and compile every language in `dirs` (the configured ones by default)."""
    found = _language_dirs(dirs if dirs is not None else catalogue_dirs())
    if SOURCE not in found:
        raise LanguageError(f"no {SOURCE} catalogue: it is the source of every other")
    source = read_catalog(found[SOURCE] / "LC_MESSAGES" / f"{DOMAIN}.po", SOURCE)
    available: dict[str, Catalogue] = {}
    incomplete: dict[str, list[str]] = {}
    for tag, directory in found.items():
        path = directory / "LC_MESSAGES" / f"{DOMAIN}.po"
        try:
            catalog = read_catalog(path, tag)
            lacks = problems(catalog, source)
            grammar = ReplyGrammar.read(directory / "replies.toml")
        except LanguageError as exc:
            incomplete[tag] = [str(exc)]
            continue
        if lacks:
            incomplete[tag] = lacks
            continue
        texts, plurals = _messages(catalog)
        available[tag] = Catalogue(tag, path, texts, _compile(catalog), grammar, plurals)
    return Languages(available, incomplete)


@functools.cache
def _configured(dirs: tuple[Path, ...]) -> Languages:
    return load(dirs)


def languages() -> Languages:
    """The configured languages (read once per process and per PALAUTE_LOCALE_DIR)."""
    return _configured(catalogue_dirs())


def catalogue(language: str) -> Catalogue:
    """An available language's catalogue (by its tag, or the best match of a longer tag)."""
    known = languages()
    tag = known.best(language)
    if tag is None:
        raise LanguageError(
            f"{language!r} is not an available language (available: {', '.join(known.tags())})"
        )
    return known.available[tag]


def available(language: str) -> bool:
    """Whether a language tag names an available catalogue exactly."""
    return language.lower() in languages().available


def require(codes: Iterable[str]) -> tuple[str, ...]:
    """Tags as configured, checked available; LanguageError saying what one lacks."""
    known = languages()
    checked = []
    for code in codes:
        tag = code.strip().lower()
        if tag in known.incomplete:
            lacks = known.incomplete[tag]
            more = f" (and {len(lacks) - 3} more)" if len(lacks) > 3 else ""
            raise LanguageError(
                f"the {tag} catalogue is not complete: {'; '.join(lacks[:3])}{more}"
            )
        if tag not in known.available:
            raise LanguageError(
                f"{code!r} is not an available language (available: {', '.join(known.tags())})"
            )
        checked.append(tag)
    return tuple(checked)


def for_reader(language: str) -> Catalogue:
    """The catalogue a page is shown in: the best match of the reader's tag, else the first
    available language (a survey whose language was taken away still shows its page)."""
    known = languages()
    tag = known.best(language) or known.tags()[0]
    return known.available[tag]


def language_name(tag: str, reader: str) -> str:
    """A language's name in the reader's language (Babel's CLDR data: "polski", "fiński" for
    a Polish reader), or the tag itself where either is unknown."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(tag.replace("-", "_")).get_display_name(reader.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return tag
    return name or tag


def long_date(day: date, language: str) -> str:
    """A day as the reader's language writes it (Babel's CLDR data: "6 grudnia 2026",
    "6. joulukuuta 2026", "December 6, 2026"); ISO 8601 where the language is unknown."""
    from babel import UnknownLocaleError
    from babel.dates import format_date

    try:
        return format_date(day, format="long", locale=language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return day.isoformat()
