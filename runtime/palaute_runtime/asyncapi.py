"""The AsyncAPI document of Palaute's Kafka interface, generated with FastStream.

Each service is described by a FastStream broker holding what it consumes (subscribers whose
payload is the topic's pydantic model) and what it publishes (publishers with the model as
schema), dead-letter topics included. The services' real consumers take raw batches, so the
document is built from these declarations; a test checks that they match the topics each
service's real broker subscribes to, and that the checked-in file is up to date.

    palaute-asyncapi            write schemas/asyncapi.json (and print where)
    palaute-asyncapi --check    exit 1 if the checked-in file is out of date
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from palaute_schemas import (
    ACCESS_REPORTED,
    ACCESS_REQUESTED,
    AUDIT_ANCHORED,
    CONTACT_CLOSED,
    DELIVERY_STATUS,
    EMAIL_BOUNCED,
    ERASURE_COMPLETED,
    ERASURE_REQUESTED,
    FIGURES_PUBLISHED,
    FOLLOW_UP_CLOSED,
    FOLLOW_UP_FIGURES,
    FOLLOW_UP_REQUESTED,
    FUNNEL_PUBLISHED,
    INVITATION_ANSWERED,
    INVITATION_FAILED,
    INVITATION_SENT,
    OPT_OUT_REQUESTED,
    REMINDER_SENT,
    SURVEY_REMINDER_DUE,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    SURVEY_WITHDRAWN,
)
from palaute_schemas.topics import AnyTopic


@dataclass(frozen=True)
class ServiceInterface:
    """What one service reads from and writes to Kafka."""

    name: str
    group_id: str
    consumes: tuple[AnyTopic, ...]
    publishes: tuple[AnyTopic, ...]


SERVICES = (
    ServiceInterface(
        "consent",
        "palaute-consent",
        consumes=(
            CONTACT_CLOSED,
            OPT_OUT_REQUESTED,
            ERASURE_COMPLETED,
            ACCESS_REPORTED,
            EMAIL_BOUNCED,
            FIGURES_PUBLISHED,  # the results page: what BI reads
            FUNNEL_PUBLISHED,
        ),
        publishes=(
            SURVEY_REQUESTED,
            SURVEY_SUPPRESSED,
            SURVEY_WITHDRAWN,
            SURVEY_REMINDER_DUE,
            ERASURE_REQUESTED,
            ACCESS_REQUESTED,
            AUDIT_ANCHORED,
        ),
    ),
    ServiceInterface(
        "dispatcher",
        "palaute-dispatcher",
        consumes=(
            SURVEY_REQUESTED,
            SURVEY_WITHDRAWN,
            SURVEY_REMINDER_DUE,
            INVITATION_ANSWERED,
            ERASURE_REQUESTED,
            ACCESS_REQUESTED,
        ),
        publishes=(
            INVITATION_SENT,
            REMINDER_SENT,
            INVITATION_FAILED,
            DELIVERY_STATUS,
            EMAIL_BOUNCED,
            ERASURE_COMPLETED,
            ACCESS_REPORTED,
        ),
    ),
    ServiceInterface(
        "collector",
        "palaute-collector",
        consumes=(
            INVITATION_SENT,
            REMINDER_SENT,
            FOLLOW_UP_CLOSED,
            DELIVERY_STATUS,
            SURVEY_SUPPRESSED,
            ERASURE_REQUESTED,
            ACCESS_REQUESTED,
        ),
        publishes=(
            ERASURE_COMPLETED,
            ACCESS_REPORTED,
            OPT_OUT_REQUESTED,
            FIGURES_PUBLISHED,
            INVITATION_ANSWERED,
            FOLLOW_UP_REQUESTED,
            FOLLOW_UP_FIGURES,
            FUNNEL_PUBLISHED,
        ),
    ),
)


def _described(topic: AnyTopic) -> str:
    return (topic.model.__doc__ or topic.model.__name__).strip().splitlines()[0]


def _documentation_handler(model: type[Any]) -> Any:
    """A handler whose payload annotation is `model`: FastStream takes the schema from it."""

    async def handle(message: Any) -> None:
        del message

    handle.__annotations__ = {"message": model, "return": None}
    handle.__name__ = model.__name__
    return handle


def service_broker(service: ServiceInterface, bootstrap: str) -> KafkaBroker:
    """A broker describing one service's Kafka interface (never started)."""
    broker = KafkaBroker(bootstrap, description=f"Palaute {service.name}")
    for topic in service.consumes:
        broker.subscriber(
            topic.name,
            group_id=service.group_id,
            title=f"{service.name}:{topic.name}",
            description=f"{service.name} consumes {topic.model.__name__}: {_described(topic)}",
        )(_documentation_handler(topic.model))
        broker.publisher(
            topic.dead_letter,
            title=f"{service.name}:{topic.dead_letter}",
            description=(
                f"{service.name} copies a {topic.name} record it cannot handle here, as it "
                "came, with headers palaute-dlt-reason (invalid | effect_failed), "
                "palaute-dlt-error and palaute-dlt-original-topic/partition/offset."
            ),
        )
    for topic in service.publishes:
        broker.publisher(
            topic.name,
            title=f"{service.name}:{topic.name}",
            description=f"{service.name} publishes {topic.model.__name__}: {_described(topic)}",
            schema=topic.model,
        )
    return broker


def document(bootstrap: str = "kafka:9092") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every service, as JSON-ready data."""
    specification = AsyncAPI(
        *(service_broker(service, bootstrap) for service in SERVICES),
        title="Palaute",
        version="1",
        description=(
            "Survey dispatch over Kafka: contacts in from the CRM, invitations out through "
            "the partner, figures out to BI. Every message is JSON; keys and topics are "
            "listed in the README."
        ),
    ).to_specification()
    jsonable: dict[str, Any] = specification.to_jsonable()
    return jsonable


def rendered() -> str:
    """The document as it is checked in."""
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
