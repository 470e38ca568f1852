"""palaute: the whole stack on one machine, demo traffic, and publish/tail for integrators.

Only the standard library is imported before the arguments are parsed (`--help` answers at
once); `palaute_stack.commands` does the work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

BOOTSTRAP_HELP = "Kafka to use (PALAUTE_KAFKA_BOOTSTRAP, else the local stack's)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palaute",
        description="Palaute on one machine: the local Kafka broker, consent, dispatcher, "
        "collector and the partner sandbox.",
        epilog="Settings come from PALAUTE_* environment variables (docs/operating.md#settings).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole stack until Ctrl-C")
    up.add_argument(
        "--demo",
        action="store_true",
        help="publish realistic ContactClosed events and answer part of the surveys",
    )
    up.add_argument(
        "--events",
        type=int,
        metavar="N",
        help="with --demo: stop after N events, once they have settled",
    )
    up.add_argument("--rate", type=float, default=20.0, help="demo events per second (20)")
    up.add_argument("--seed", type=int, default=None, help="demo random seed")
    up.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="SQLite files live here (PALAUTE_DATA_DIR, else .palaute)",
    )
    up.add_argument(
        "--broker",
        default=None,
        metavar="HOST:PORT",
        help="use this Kafka instead of starting the embedded local broker",
    )

    publish = commands.add_parser(
        "publish", help="publish one ContactClosed event from a JSON file ('-' for stdin)"
    )
    publish.add_argument("file")
    publish.add_argument("--bootstrap", help=BOOTSTRAP_HELP)

    tail = commands.add_parser("tail", help="print a topic as JSON lines")
    tail.add_argument(
        "topic", help="a Palaute topic, e.g. survey.figures.v1 (an unknown name lists them all)"
    )
    tail.add_argument("--bootstrap", help=BOOTSTRAP_HELP)
    tail.add_argument(
        "--follow",
        action="store_true",
        help="keep printing new records (without it: what the topic holds now, then exit)",
    )
    tail.add_argument(
        "--meta",
        action="store_true",
        help="wrap each value with topic, partition, offset, key and headers",
    )
    tail.add_argument(
        "--idle-timeout",
        type=float,
        default=3.0,
        help="without --follow, also stop after this many quiet seconds (3)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute."""
    args = _parser().parse_args(argv)
    from palaute_stack.commands import run

    run(args)
