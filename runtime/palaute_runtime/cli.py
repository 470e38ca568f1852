"""What every Palaute command line shares: one-sentence errors, settings errors, logging.

Commands import only the standard library before their arguments are parsed, so `--help`
and a mistyped option answer at once; what a command needs is imported when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

from palaute_runtime.errors import RefusedStart

if TYPE_CHECKING:
    from palaute_runtime.service import Startable
    from palaute_runtime.settings import CommonSettings

S = TypeVar("S", bound="CommonSettings")


def fail(sentence: str, code: int = 1) -> NoReturn:
    """Print one sentence to stderr and exit non-zero."""
    sys.stderr.write(f"error: {sentence}\n")
    raise SystemExit(code)


def load_settings(settings_type: type[S]) -> S:
    """Read settings from the environment, prepare the data folder, configure logging."""
    from pydantic import ValidationError

    from palaute_runtime.logs import configure_logging

    try:
        settings = settings_type()
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule over several settings names them itself
            fail(f"{message}.")
        fail(f"setting PALAUTE_{str(first['loc'][0]).upper()} is invalid: {message}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log_format, settings.log_level)
    return settings


def serve(*services: Startable, settings: CommonSettings | None = None) -> None:
    """Run services until SIGINT or SIGTERM; a refused start, or a Kafka that cannot be used
    at start (unreachable, TLS or SASL refused), is one sentence and exit 1."""
    import asyncio

    from aiokafka.errors import KafkaError

    from palaute_runtime.kafka_security import unreachable
    from palaute_runtime.service import run_until_signalled

    try:
        asyncio.run(run_until_signalled(*services))
    except RefusedStart as exc:
        fail(f"{exc}.")
    except KafkaError as exc:
        if settings is None:
            raise
        fail(unreachable(settings, settings.kafka_bootstrap, exc))


HEALTH_HELP = "exit 0 if the running service says it is ready (container health checks)"


def add_health_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `health` subcommand every service has."""
    commands.add_parser("health", help=HEALTH_HELP)


def check_health(host: str, port: int) -> None:
    """Ask the service running here for /health/ready; print its answer, exit 1 unless ready."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - listening on all addresses; ask loopback
        host = "127.0.0.1"
    url = f"http://{host}:{port}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        problems = json.load(exc).get("problems", {})
        said = "; ".join(f"{part}: {what}" for part, what in problems.items())
        fail(f"the service at {url} is not ready ({said or exc.code}).")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        fail(f"nothing answers at {url} ({getattr(exc, 'reason', exc)}).")
    sys.stdout.write(f"{answer.get('status', 'ready')}\n")


def service_main(
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
    run_help: str,
    settings_type: Callable[[], type[S]],
    health_address: Callable[[S], tuple[str, int]],
    build: Callable[[S], Startable],
    more_commands: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]
    | None = None,
    other: Callable[[argparse.Namespace, S], None] | None = None,
) -> None:
    """The command line of a service: `run`, `health`, and what `more_commands` adds
    (handled by `other`). `settings_type` and `build` import the service when called, after
    the arguments are parsed."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Settings come from PALAUTE_* environment variables (docs/operating.md#settings).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help=run_help)
    add_health_command(commands)
    if more_commands is not None:
        more_commands(commands)
    args = parser.parse_args(argv)
    settings = load_settings(settings_type())
    if args.command == "health":
        check_health(*health_address(settings))
        return
    if args.command != "run" and other is not None:
        other(args, settings)
        return
    try:
        service = build(settings)
    except RefusedStart as exc:
        fail(f"{exc}.")
    serve(service, settings=settings)
