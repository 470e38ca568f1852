"""One unit of work: a transaction, the batch filtered through the inbox, the messages it
publishes queued in the outbox, and the relay woken once the transaction has committed.

Every handler that changes a service's database goes through it::

    async with uow(engine, outbox, inbox, batch) as work:
        for request in work.fresh:
            ...
            await work.publish(TOPIC, message)

so that no handler writes the begin / inbox / outbox / wake-the-relay sequence by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Generic, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from palaute_runtime.outbox import Inbox, Outbox
from palaute_schemas import Message, Topic

M = TypeVar("M", bound=Message)
P = TypeVar("P", bound=Message)


class UnitOfWork(Generic[M]):
    """The open transaction of one unit of work and what it will publish."""

    def __init__(self, connection: AsyncConnection, outbox: Outbox, fresh: list[M]) -> None:
        self.connection = connection
        self.fresh = fresh  # the batch's messages seen for the first time, in order
        self._outbox = outbox

    async def publish(self, topic: Topic[P], message: P) -> None:
        """Publish one message if, and only if, the transaction commits."""
        await self.publish_all(topic, [message])

    async def publish_all(self, topic: Topic[P], messages: Sequence[P]) -> None:
        """Publish messages in order if, and only if, the transaction commits."""
        await self._outbox.add_all(self.connection, topic, messages)


@overload
def uow(
    engine: AsyncEngine, outbox: Outbox
) -> AbstractAsyncContextManager[UnitOfWork[Message]]: ...


@overload
def uow(
    engine: AsyncEngine, outbox: Outbox, inbox: Inbox, batch: Sequence[M]
) -> AbstractAsyncContextManager[UnitOfWork[M]]: ...


def uow(
    engine: AsyncEngine,
    outbox: Outbox,
    inbox: Inbox | None = None,
    batch: Sequence[M] = (),
) -> AbstractAsyncContextManager[UnitOfWork[M]] | AbstractAsyncContextManager[UnitOfWork[Message]]:
    """Begin a transaction, filter `batch` through `inbox` (a redelivered message is left
    out), and after commit wake the relay if anything was queued on the transaction (by the
    unit of work or by a helper given its connection). An exception rolls everything back,
    the inbox rows included, so the batch is handled again."""
    return _unit_of_work(engine, outbox, inbox, batch)


@asynccontextmanager
async def _unit_of_work(
    engine: AsyncEngine, outbox: Outbox, inbox: Inbox | None, batch: Sequence[M]
) -> AsyncIterator[UnitOfWork[M]]:
    async with engine.begin() as connection:
        fresh = await inbox.new_messages(connection, batch) if inbox is not None else []
        work = UnitOfWork(connection, outbox, fresh)
        yield work
        queued = outbox.queued_on(connection)
    if queued:
        outbox.committed()
