"""palaute-collector: run the collector service."""

from __future__ import annotations

import argparse

from palaute_collector.service import build
from palaute_collector.settings import CollectorSettings
from palaute_runtime.cli import load_settings, serve


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-collector."""
    parser = argparse.ArgumentParser(
        prog="palaute-collector",
        description="The collector: survey page, SMS replies, responses and aggregates.",
        epilog="Settings come from PALAUTE_* environment variables (see the README).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve the survey page and publish aggregates")
    parser.parse_args(argv)
    runtime, _ = build(load_settings(CollectorSettings))
    serve(runtime)
