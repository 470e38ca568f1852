"""Reading topics from outside the services: for `palaute tail`, the summary and tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def read_records(
    bootstrap: str,
    topics: list[str],
    *,
    from_beginning: bool = True,
    idle_timeout: float | None = None,
    until_end: bool = False,
    client: Mapping[str, Any] | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield records of the topics without joining a group (nothing is committed).

    With `until_end`, stop at the end each partition had when reading began: the high
    watermark of the first fetch (what ListOffsets says is not trusted: Tansu reports 1 for
    every partition). With `idle_timeout`, stop once no record has arrived for that long.
    """
    consumer = AIOKafkaConsumer(
        *topics,
        **{"bootstrap_servers": bootstrap, **(client or {})},
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        fetch_max_wait_ms=20,
    )
    try:
        await consumer.start()
        ends: dict[TopicPartition, int] = {}
        while True:
            batch = await consumer.getmany(
                timeout_ms=int(1000 * idle_timeout) if idle_timeout else 1000
            )
            if until_end:
                for partition in consumer.assignment():
                    highwater = consumer.highwater(partition)
                    if partition not in ends and highwater is not None:
                        ends[partition] = highwater
            for partition, records in batch.items():
                for record in records:
                    if until_end and record.offset >= ends.get(partition, record.offset + 1):
                        continue  # newer than the start
                    yield record
            if until_end and await _at_end(consumer, ends):
                return
            if not batch and idle_timeout is not None:
                return
    finally:
        await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Every assigned partition read up to the end it had when reading began."""
    assigned = consumer.assignment()
    if not assigned or set(ends) != set(assigned):
        return False
    for partition in assigned:
        if await consumer.position(partition) < ends[partition]:
            return False
    return True


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
