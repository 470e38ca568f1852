"""Alembic environment of the consent service (run by palaute_runtime.migrations.migrate)."""

from palaute_consent.tables import metadata
from palaute_runtime.migrations import run_environment

run_environment(metadata)
