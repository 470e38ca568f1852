"""The topic job: every topic and dead-letter topic, created with its retention and cleanup
policy (the figures topic compacted), as `palaute-create-topics` does in production."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from palaute_runtime.local_broker import LocalBroker, free_port
from palaute_schemas import (
    ALL_TOPICS,
    CONTACT_CLOSED,
    FIGURES_PUBLISHED,
    OPT_OUT_REQUESTED,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
)

DAY_MS = 86_400_000


@pytest.mark.broker
async def test_the_topic_job_creates_every_topic_with_its_configuration() -> None:
    broker = LocalBroker(free_port())
    await broker.start()
    try:
        job = await asyncio.to_thread(
            subprocess.run,
            # The program the compose file's topic job runs.
            [
                str(Path(sys.executable).parent / "palaute-create-topics"),
                "--bootstrap",
                broker.bootstrap,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            # The installation's bound for addresses on Kafka (default 3 days).
            env=os.environ | {"PALAUTE_PERSONAL_DATA_RETENTION_DAYS": "2"},
        )
        assert job.returncode == 0, job.stderr
        assert job.stdout.startswith(f"{2 * len(ALL_TOPICS)} topics present")
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            names = [
                CONTACT_CLOSED.name,
                FIGURES_PUBLISHED.name,
                CONTACT_CLOSED.dead_letter,
                SURVEY_REQUESTED.name,
                OPT_OUT_REQUESTED.dead_letter,
                SURVEY_SUPPRESSED.name,
                SURVEY_SUPPRESSED.dead_letter,
            ]
            answer = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
            )
        finally:
            await admin.close()
        configs = {
            resource[3]: {entry[0]: entry[1] for entry in resource[4]}
            for response in answer
            for resource in response.resources
        }
        assert configs[FIGURES_PUBLISHED.name]["cleanup.policy"] == "compact"
        assert configs[CONTACT_CLOSED.name]["cleanup.policy"] == "delete"
        # Records with a person's address, and their dead letters: the installation's bound.
        for name in (
            CONTACT_CLOSED.name,
            CONTACT_CLOSED.dead_letter,
            SURVEY_REQUESTED.name,
            OPT_OUT_REQUESTED.dead_letter,
        ):
            assert configs[name]["retention.ms"] == str(2 * DAY_MS), name
        # Others: a week, and an operator's month for their dead letters.
        assert configs[SURVEY_SUPPRESSED.name]["retention.ms"] == str(7 * DAY_MS)
        assert configs[SURVEY_SUPPRESSED.dead_letter]["retention.ms"] == str(30 * DAY_MS)
    finally:
        await broker.stop()
