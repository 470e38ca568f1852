"""Create Palaute's topics on a Kafka cluster, waiting for it to come up (the compose one-shot
job, `palaute-create-topics`)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

from aiokafka.errors import KafkaConnectionError

from palaute_runtime.cli import fail
from palaute_runtime.local_broker import create_topics, palaute_topics


async def create_when_reachable(
    bootstrap: str,
    replication: int,
    wait_seconds: float,
    personal_data_days: int,
    client: Mapping[str, Any] | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            await create_topics(
                bootstrap,
                palaute_topics(personal_data_days),
                replication=replication,
                client=client,
            )
            return
        except KafkaConnectionError:
            if loop.time() > deadline:
                fail(f"Kafka at {bootstrap} was not reachable within {wait_seconds:g} s.")
            sys.stderr.write(f"waiting for Kafka at {bootstrap}...\n")
            await asyncio.sleep(2)
