"""A guard that fails any test in which an HTTP or SMTP call starts while the same task has
a database transaction open (a lock held across a partner's answer, a partner's refusal that
rolls our own work back).

SQLAlchemy tells every `begin`; a connection that is still `in_transaction()` when the task
starts a call is a violation. The services call out through aiohttp (the partner's HTTP API)
and aiosmtplib (its relay): both are watched.
"""

from __future__ import annotations

import asyncio
import traceback
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import aiosmtplib
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

_open: weakref.WeakKeyDictionary[asyncio.Task[Any], weakref.WeakSet[Connection]] = (
    weakref.WeakKeyDictionary()
)
violations: list[str] = []


def _task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop: a synchronous caller
        return None


@event.listens_for(Engine, "begin")
def _began(connection: Connection) -> None:
    task = _task()
    if task is not None:
        _open.setdefault(task, weakref.WeakSet()).add(connection)


def open_transactions() -> int:
    """Transactions the current task holds open right now."""
    task = _task()
    if task is None or task not in _open:
        return 0
    return sum(1 for c in list(_open[task]) if not c.closed and c.in_transaction())


def _check(what: str) -> None:
    if open_transactions():
        stack = "".join(traceback.format_stack(limit=12)[:-2])
        violations.append(f"{what} started inside a database transaction:\n{stack}")


def _watch(owner: Any, name: str, what: str) -> Callable[[], None]:
    original = getattr(owner, name)
    if getattr(original, "watched_by_guard", False):  # a guard inside a guard: one watch
        return lambda: None

    async def watched(*args: Any, **kwargs: Any) -> Any:
        _check(what)
        return await original(*args, **kwargs)

    watched.watched_by_guard = True  # type: ignore[attr-defined]
    setattr(owner, name, watched)
    return lambda: setattr(owner, name, original)


@contextmanager
def guarding() -> Iterator[list[str]]:
    """Watch every HTTP (aiohttp) and SMTP (aiosmtplib) call while the block runs; yields
    the violations found."""
    undo = [
        _watch(aiohttp.ClientSession, "_request", "an HTTP call"),
        _watch(aiosmtplib.SMTP, "connect", "an SMTP connection"),
    ]
    first = len(violations)
    found: list[str] = []
    try:
        yield found
    finally:
        for restore in undo:
            restore()
        found.extend(violations[first:])
        del violations[first:]
