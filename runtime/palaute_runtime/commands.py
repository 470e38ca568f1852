"""The runtime's own commands: palaute-create-topics, palaute-migrations, palaute-asyncapi,
palaute-i18n.

Each parses its arguments with the standard library only (`--help` answers at once) and
imports what it needs afterwards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Where the AsyncAPI document is checked in (the repository's schemas/ folder).
ASYNCAPI_DOCUMENT = Path(__file__).resolve().parents[2] / "schemas" / "asyncapi.json"


def create_topics(argv: list[str] | None = None) -> None:
    """Entry point of palaute-create-topics."""
    parser = argparse.ArgumentParser(
        prog="palaute-create-topics",
        description="Create every Palaute topic and its dead-letter topic; existing ones are kept.",
    )
    parser.add_argument(
        "--bootstrap", help="Kafka (PALAUTE_KAFKA_BOOTSTRAP, else the local stack's)"
    )
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for Kafka to come up (120)"
    )
    args = parser.parse_args(argv)
    import asyncio

    from palaute_runtime.cli import load_settings
    from palaute_runtime.create_topics import create_when_reachable
    from palaute_runtime.kafka_security import security_options
    from palaute_runtime.local_broker import palaute_topics
    from palaute_runtime.settings import CommonSettings

    settings = load_settings(CommonSettings)
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    asyncio.run(
        create_when_reachable(
            bootstrap,
            args.replication_factor,
            args.wait,
            settings.personal_data_retention_days,
            security_options(settings),
        )
    )
    sys.stdout.write(f"{len(palaute_topics())} topics present on {bootstrap}\n")


def migrations(argv: list[str] | None = None) -> None:
    """Entry point of palaute-migrations."""
    parser = argparse.ArgumentParser(
        prog="palaute-migrations", description="Write a service's next migration from its models."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    revision = commands.add_parser("revision", help="autogenerate a migration")
    revision.add_argument("service", choices=["consent", "dispatcher", "collector"])
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    import asyncio

    from palaute_runtime.migrations import revision as write_revision

    asyncio.run(write_revision(args.service, args.message))
    sys.stdout.write("written; review it before committing\n")


def asyncapi(argv: list[str] | None = None) -> None:
    """Entry point of palaute-asyncapi."""
    parser = argparse.ArgumentParser(
        prog="palaute-asyncapi",
        description="Write (or check) the AsyncAPI document of Palaute's Kafka interface.",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument(
        "--output", type=Path, default=ASYNCAPI_DOCUMENT, help=f"default {ASYNCAPI_DOCUMENT}"
    )
    args = parser.parse_args(argv)
    from palaute_runtime.asyncapi import rendered

    text = rendered()
    if args.check:
        if not args.output.is_file() or args.output.read_text() != text:
            sys.stderr.write(
                f"error: {args.output} is out of date; run palaute-asyncapi to rewrite it.\n"
            )
            raise SystemExit(1)
        sys.stdout.write(f"{args.output} is up to date\n")
        return
    args.output.write_text(text)
    sys.stdout.write(f"wrote {args.output}\n")


def i18n_command(argv: list[str] | None = None) -> None:
    """Entry point of palaute-i18n: the message catalogues' check, template and new ones."""
    parser = argparse.ArgumentParser(
        prog="palaute-i18n",
        description="Check the message catalogues (packaged and PALAUTE_LOCALE_DIR's), write "
        "the template translators start from, or start a new language.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "check",
        help="say which languages are complete; exit 1 naming what an incomplete one lacks",
    )
    template = commands.add_parser(
        "template", help="write palaute.pot (every message id, the English text as a comment)"
    )
    template.add_argument("--output", type=Path, help="where (default: the packaged locale)")
    new = commands.add_parser(
        "new", help="start a language: its catalogue from the template and a grammar to fill"
    )
    new.add_argument("tag", help="its BCP 47 tag, such as et or pt-BR")
    new.add_argument("directory", type=Path, help="a languages directory (PALAUTE_LOCALE_DIR)")
    args = parser.parse_args(argv)

    from palaute_runtime import catalogue_tools, i18n
    from palaute_runtime.cli import fail

    try:
        if args.command == "check":
            sys.stdout.write(catalogue_tools.report(i18n.load()))
            if i18n.load().incomplete:
                raise SystemExit(1)
        elif args.command == "template":
            output = args.output or i18n.PACKAGED / f"{i18n.DOMAIN}.pot"
            count = catalogue_tools.write_template(output)
            sys.stdout.write(f"{count} messages written to {output}\n")
        else:
            written = catalogue_tools.start_language(args.tag, args.directory)
            sys.stdout.write(
                f"started {args.tag}: translate {written[0]} and fill {written[1]}; "
                f"then PALAUTE_LOCALE_DIR={args.directory} palaute-i18n check\n"
            )
    except i18n.LanguageError as exc:
        fail(str(exc))
