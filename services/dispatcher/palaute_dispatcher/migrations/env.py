"""Alembic environment of the dispatcher service (run by palaute_runtime.migrations.migrate)."""

from palaute_dispatcher.tables import metadata
from palaute_runtime.migrations import run_environment

run_environment(metadata)
