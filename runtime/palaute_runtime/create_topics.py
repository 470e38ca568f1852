"""palaute-create-topics: create Palaute's topics on a Kafka cluster (the compose one-shot job)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiokafka.errors import KafkaConnectionError

from palaute_runtime.cli import fail
from palaute_runtime.local_broker import create_topics, palaute_topics
from palaute_runtime.settings import CommonSettings


async def _create_when_reachable(bootstrap: str, replication: int, wait_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            await create_topics(bootstrap, palaute_topics(), replication=replication)
            return
        except KafkaConnectionError:
            if loop.time() > deadline:
                fail(f"Kafka at {bootstrap} was not reachable within {wait_seconds:g} s.")
            sys.stderr.write(f"waiting for Kafka at {bootstrap}...\n")
            await asyncio.sleep(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-create-topics."""
    parser = argparse.ArgumentParser(
        prog="palaute-create-topics",
        description="Create every Palaute topic and its dead-letter topic; existing ones are kept.",
    )
    parser.add_argument("--bootstrap", default=CommonSettings().kafka_bootstrap)
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for Kafka to come up (120)"
    )
    args = parser.parse_args(argv)
    asyncio.run(_create_when_reachable(args.bootstrap, args.replication_factor, args.wait))
    sys.stdout.write(f"{len(palaute_topics())} topics present on {args.bootstrap}\n")


if __name__ == "__main__":
    main()
