"""palaute-sandbox: run the partner sandbox on its own, or ask it whether it is ready."""

from __future__ import annotations

from palaute_runtime.cli import service_main
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-sandbox."""
    service_main(
        argv,
        prog="palaute-sandbox",
        description="A stand-in processor partner: HTTP SMS API and SMTP server that record "
        "what they receive, and forward inbound SMS replies to the collector.",
        run_help="serve the SMS API and the SMTP server",
        settings_type=SandboxSettings,
        address=lambda s: (s.sandbox_host, s.sandbox_http_port),
        build=PartnerSandbox,
    )
