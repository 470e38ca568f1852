"""palaute-sandbox: run the partner sandbox on its own."""

from __future__ import annotations

import argparse

from palaute_runtime.cli import load_settings, serve
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-sandbox."""
    parser = argparse.ArgumentParser(
        prog="palaute-sandbox",
        description="A stand-in processor partner: HTTP SMS API and SMTP server that record "
        "what they receive, and forward inbound SMS replies to the collector.",
        epilog="Settings come from PALAUTE_* environment variables (see the README).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve the SMS API and the SMTP server")
    parser.parse_args(argv)
    serve(PartnerSandbox(load_settings(SandboxSettings)))
