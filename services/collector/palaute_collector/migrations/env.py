"""Alembic environment of the collector service (run by palaute_runtime.migrations.migrate)."""

from palaute_collector.tables import metadata
from palaute_runtime.migrations import run_environment

run_environment(metadata)
