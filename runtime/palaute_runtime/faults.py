"""Telling an infrastructure fault (wait and retry) from a message that is bad in itself.

A database or broker that is down, locked or restarting says nothing about the message in
hand: the consumer pauses and retries it for as long as it takes. Anything else is the
message's own fault and may, after bounded retries, send it to the dead-letter topic.
"""

from __future__ import annotations

import sqlalchemy.exc as sa_exc
from aiokafka.errors import KafkaError

# SQLSTATE classes that describe the server or the connection, never the statement's data:
# 08 connection, 40 transaction rollback (serialization, deadlock), 53 insufficient
# resources, 57 operator intervention (shutdown, cancel), 58 system error.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_TRANSIENT_SQLSTATES = frozenset({"55P03"})  # lock_not_available


class DependencyUnavailable(Exception):
    """A service we depend on (the partner's API) cannot be reached now: wait and retry."""


def is_infrastructure_fault(exc: BaseException) -> bool:
    """True when `exc` says a database or the broker is unavailable, not that data is bad."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_transient(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_transient(exc: BaseException) -> bool:
    if isinstance(
        exc,
        sa_exc.OperationalError  # SQLite "database is locked", a server gone away
        | sa_exc.InterfaceError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError,  # connection pool exhausted
    ):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and (exc.connection_invalidated or exc.statement is None):
        # No statement: it failed while connecting (refused, database closed to connections,
        # too many clients), which no message can cause.
        return True
    # asyncpg's own errors, and SQLAlchemy's wrappers of them, carry the server's SQLSTATE.
    for holder in (exc, getattr(exc, "orig", None)):
        state = getattr(holder, "sqlstate", None)
        if isinstance(state, str) and (
            state[:2] in _TRANSIENT_SQLSTATE_CLASSES or state in _TRANSIENT_SQLSTATES
        ):
            return True
    return isinstance(exc, OSError | TimeoutError | KafkaError | DependencyUnavailable)
