"""Reading topics from outside the services: for `palaute tail`, the summary and tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord


async def read_records(
    bootstrap: str,
    topics: list[str],
    *,
    from_beginning: bool = True,
    idle_timeout: float | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield records of the topics without joining a group (nothing is committed).

    With `idle_timeout`, stop once no record has arrived for that many seconds.
    """
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        fetch_max_wait_ms=20,
    )
    try:
        await consumer.start()
        while True:
            batch = await consumer.getmany(
                timeout_ms=int(1000 * idle_timeout) if idle_timeout else 1000
            )
            if not batch and idle_timeout is not None:
                return
            for records in batch.values():
                for record in records:
                    yield record
    finally:
        await consumer.stop()


def as_json_line(record: ConsumerRecord[bytes, bytes], *, with_meta: bool) -> str:
    """One record as a JSON line: its value, or (with_meta) the value with where it came from."""
    raw = record.value or b""
    try:
        value: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        value = {"undecodable": raw.decode(errors="replace")}
    if not with_meta:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(
        {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": record.key.decode(errors="replace") if record.key else None,
            "headers": {name: data.decode(errors="replace") for name, data in record.headers},
            "value": value,
        },
        ensure_ascii=False,
    )
