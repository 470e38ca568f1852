"""Alembic environment of the collector service: always handed a connection by palaute_runtime."""

from alembic import context

from palaute_collector.tables import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
