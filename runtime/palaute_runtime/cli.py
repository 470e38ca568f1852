"""What every Palaute command line shares: one-sentence errors, settings errors, logging."""

from __future__ import annotations

import asyncio
import sys
from typing import NoReturn, TypeVar

from pydantic import ValidationError

from palaute_runtime.database import DatabaseInUse
from palaute_runtime.logs import configure_logging
from palaute_runtime.service import Startable, run_until_signalled
from palaute_runtime.settings import CommonSettings

S = TypeVar("S", bound=CommonSettings)


def fail(sentence: str, code: int = 1) -> NoReturn:
    """Print one sentence to stderr and exit non-zero."""
    sys.stderr.write(f"error: {sentence}\n")
    raise SystemExit(code)


def load_settings(settings_type: type[S]) -> S:
    """Read settings from the environment, prepare the data folder, configure logging."""
    try:
        settings = settings_type()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"setting PALAUTE_{str(first['loc'][0]).upper()} is invalid: {first['msg']}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log_format, settings.log_level)
    return settings


def serve(*services: Startable) -> None:
    """Run services until SIGINT or SIGTERM; a refused start is one sentence and exit 1."""
    try:
        asyncio.run(run_until_signalled(*services))
    except DatabaseInUse as exc:
        fail(f"{exc}.")
