"""A live tally of the pipeline, read from the topics themselves."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from palaute_runtime.topic_reader import read_records
from palaute_schemas import (
    CONTACT_CLOSED,
    FIGURES_PUBLISHED,
    INVITATION_FAILED,
    INVITATION_SENT,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    SURVEY_WITHDRAWN,
)


@dataclass
class PipelineTally:
    """Counts of what crossed each topic."""

    events_in: int = 0
    dead_lettered: int = 0
    requested: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)
    invitations: Counter[str] = field(default_factory=Counter)
    # Requested surveys that end without an invitation: withdrawn (a STOP or an opt-out came
    # first) or failed for good.
    not_sent: int = 0
    figures: int = 0
    responses_published: dict[str, int] = field(default_factory=dict)  # day → latest total

    def count(self, topic: str, value: bytes) -> None:
        """Take one record into the tally."""
        if topic == CONTACT_CLOSED.name:
            self.events_in += 1
        elif topic == CONTACT_CLOSED.dead_letter:
            self.dead_lettered += 1
        elif topic == SURVEY_REQUESTED.name:
            self.requested += 1
        elif topic == SURVEY_SUPPRESSED.name:
            self.suppressed[json.loads(value)["reason"]] += 1
        elif topic == INVITATION_SENT.name:
            self.invitations[json.loads(value)["channel"]] += 1
        elif topic in (SURVEY_WITHDRAWN.name, INVITATION_FAILED.name):
            self.not_sent += 1
        elif topic == FIGURES_PUBLISHED.name:
            cell = json.loads(value)
            self.figures += 1
            if cell["grain"] == "day" and cell["dimension"] == "total":
                self.responses_published[cell["period"]] = cell["responses"]

    def render(self, responses_recorded: int) -> str:
        """One human-readable line."""
        suppressed = ", ".join(f"{reason} {n}" for reason, n in sorted(self.suppressed.items()))
        invitations = ", ".join(f"{ch} {n}" for ch, n in sorted(self.invitations.items()))
        return (
            f"events in {self.events_in} | dead-lettered {self.dead_lettered} | "
            f"suppressed {sum(self.suppressed.values())} ({suppressed or '-'}) | "
            f"invitations {sum(self.invitations.values())} ({invitations or '-'}) | "
            f"responses {responses_recorded} | figures published {self.figures} "
            f"({sum(self.responses_published.values())} responses in "
            f"{len(self.responses_published)} days)"
        )


async def follow(
    bootstrap: str, tally: PipelineTally, client: dict[str, Any] | None = None
) -> None:
    """Keep the tally up to date until cancelled."""
    topics = [
        CONTACT_CLOSED.name,
        CONTACT_CLOSED.dead_letter,
        SURVEY_REQUESTED.name,
        SURVEY_SUPPRESSED.name,
        INVITATION_SENT.name,
        SURVEY_WITHDRAWN.name,
        INVITATION_FAILED.name,
        FIGURES_PUBLISHED.name,
    ]
    async for record in read_records(bootstrap, topics, client=client):
        tally.count(record.topic, record.value or b"")
