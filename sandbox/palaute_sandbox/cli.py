"""palaute-sandbox: run the partner sandbox on its own, or ask it whether it is ready."""

from __future__ import annotations

from typing import TYPE_CHECKING

from palaute_runtime.cli import service_main

if TYPE_CHECKING:
    from palaute_runtime.service import Startable
    from palaute_sandbox.settings import SandboxSettings


def _settings() -> type[SandboxSettings]:
    from palaute_sandbox.settings import SandboxSettings

    return SandboxSettings


def _build(settings: SandboxSettings) -> Startable:
    from palaute_sandbox.server import PartnerSandbox

    return PartnerSandbox(settings)


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-sandbox."""
    service_main(
        argv,
        prog="palaute-sandbox",
        description="A stand-in processor partner: HTTP SMS API and SMTP server that record "
        "what they receive, and forward inbound SMS replies to the collector.",
        run_help="serve the SMS API and the SMTP server",
        settings_type=_settings,
        health_address=lambda s: (s.sandbox_host, s.sandbox_http_port),
        build=_build,
    )
