"""palaute-dispatcher: run the dispatcher service."""

from __future__ import annotations

import argparse

from palaute_dispatcher.service import build
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.cli import load_settings, serve


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-dispatcher."""
    parser = argparse.ArgumentParser(
        prog="palaute-dispatcher",
        description="The dispatcher: turns SurveyRequested into one delivered invitation.",
        epilog="Settings come from PALAUTE_* environment variables (see the README).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="consume SurveyRequested and deliver invitations")
    parser.parse_args(argv)
    runtime, _ = build(load_settings(DispatcherSettings))
    serve(runtime)
