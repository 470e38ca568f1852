"""palaute-dispatcher: run the dispatcher service, or ask a running one whether it is ready."""

from __future__ import annotations

from palaute_dispatcher.service import build
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.cli import service_main


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-dispatcher."""
    service_main(
        argv,
        prog="palaute-dispatcher",
        description="The dispatcher: turns SurveyRequested into one delivered invitation.",
        run_help="consume SurveyRequested and deliver invitations",
        settings_type=DispatcherSettings,
        address=lambda s: (s.dispatcher_host, s.dispatcher_port),
        build=lambda s: build(s)[0],
    )
