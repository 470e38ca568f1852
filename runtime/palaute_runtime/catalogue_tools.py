"""Writing message catalogues: what `palaute-i18n` does. The check's report, the template
every translation starts from (each message id, its English text as the translator's
comment), and a new language started from it with its plural rule (Babel's CLDR data) and
a reply grammar to fill. Reading and using catalogues is palaute_runtime.i18n."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog

from palaute_runtime import i18n


def report(known: i18n.Languages) -> str:
    """What `palaute-i18n check` says: each language complete or what it lacks."""
    lines = []
    for tag in known.tags():
        found = known.available[tag]
        grammar = found.grammar
        lines.append(
            f"{tag}: complete, {len(found.messages) + len(found.plurals)} messages "
            f"({found.path}); replies: "
            f"{len(grammar.stop_words)} stop words, {len(grammar.score_words)} score words, "
            f"{len(grammar.requests)} call requests, {len(grammar.negations)} negations"
        )
    for tag, lacks in sorted(known.incomplete.items()):
        lines.append(f"{tag}: NOT available, {len(lacks)} problem(s):")
        lines.extend(f"  {problem}" for problem in lacks)
    return "\n".join(lines) + "\n"


def _source_catalog() -> Catalog:
    return i18n.read_catalog(
        i18n.PACKAGED / i18n.SOURCE / "LC_MESSAGES" / f"{i18n.DOMAIN}.po", i18n.SOURCE
    )


def template() -> Catalog:
    """The template every translation starts from: each message id of the source, its
    English text as the translators' comment, nothing translated."""
    pot = Catalog(domain=i18n.DOMAIN, project="Palaute", version="1", fuzzy=False)
    for message in _source_catalog():
        if not message.id:
            continue
        english = " | ".join(i18n.forms(message.string)).replace("\n", "\\n")
        empty: str | tuple[str, ...] = "" if isinstance(message.id, str) else ("", "")
        pot.add(message.id, empty, auto_comments=[english])
    return pot


def write_template(output: Path) -> int:
    """Write the template (.pot) to `output`; how many messages it has."""
    from babel.messages.pofile import write_po

    pot = template()
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as file:
        write_po(file, pot, width=0, sort_output=True, omit_header=False)
    return len(pot)


def start_language(tag: str, directory: Path) -> tuple[Path, Path]:
    """Start a language in a languages directory: its catalogue from the template, with the
    language's plural rule (Babel's CLDR data), and a reply grammar to fill in."""
    from babel import Locale, UnknownLocaleError
    from babel.messages.pofile import write_po

    if not i18n.TAG.match(tag):
        raise i18n.LanguageError(f"{tag!r} is not a BCP 47 language tag such as et or pt-BR")
    try:
        Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise i18n.LanguageError(f"Babel knows no language {tag!r} (its plural rule)") from None
    home = directory / tag.lower()
    po = home / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    grammar = home / "replies.toml"
    if po.exists() or grammar.exists():
        raise i18n.LanguageError(f"{home} exists: edit it rather than start it again")
    catalog = Catalog(
        locale=tag.replace("-", "_"), domain=i18n.DOMAIN, project="Palaute", fuzzy=False
    )
    for message in template():
        if message.id:
            empty = "" if isinstance(message.id, str) else ("",) * catalog.num_plurals
            catalog.add(message.id, empty, auto_comments=message.auto_comments)
    po.parent.mkdir(parents=True, exist_ok=True)
    with po.open("wb") as file:
        write_po(file, catalog, width=0, sort_output=True)
    grammar.write_text(_GRAMMAR_SKELETON.format(tag=tag), "utf-8")
    return po, grammar


_GRAMMAR_SKELETON = """\
# How replies in {tag} to a survey SMS are read. Words and patterns are matched on folded
# text: lower case, no diacritics. See the packaged ones (fi, sv, en, pl) and CONTRIBUTING.md.

# Whole replies that opt out of surveys. Not a word that also answers the question ("no").
stop = ["stop"]

# Number words read as a score when they open the reply: zero = 0 ... ten = 10 (a word with
# letters outside a-z is quoted: "kümme" = 10).
[scores]

[call_requests]
# Words that end one thought and begin the next ("but").
clause_breaks = []
# Regular expressions: a clause asks for a call when one holds and no negation does.
requests = []
negations = []

# What the grammar must read this way; the tests check every line.
[examples]
scores = []
stops = ["STOP"]
not_stops = []
asks = []
does_not_ask = []
"""
