"""Demo traffic: a CRM closing contacts, and customers answering the way customers do."""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from palaute_runtime.clock import Clock
from palaute_schemas import (
    CONTACT_CLOSED,
    OPT_OUT_REQUESTED,
    ContactChannel,
    ContactClosed,
    Language,
    OptOutRequested,
    parse_phone,
)
from palaute_stack.stack import LocalStack

CONTACT_CHANNELS: tuple[ContactChannel, ...] = (
    "phone",
    "email",
    "chat",
    "branch",
    "web_form",
    "social_media",
)
# The first three fall in the example programmes (programmes.example.toml): two member banks
# and a recycling centre that asks CSAT only of half its contacts; the rest in the default.
UNITS = ("OP Helsinki", "OP Pohjanmaa Vaasa", "Kierrätyskeskus Kotka", "Kotka", "Online")
# A Polish telecom's unit (its programme surveys in Polish): its customers write pl-PL.
POLISH_UNIT = "Telekom PL Warszawa"
POLISH_MOBILE = ("50", "51", "53", "60", "66", "69", "72", "73", "78", "79", "88")
# Languages as a CRM sends them (BCP 47 tags), with their shares of the customers.
CUSTOMER_LANGUAGES = {"fi-FI": 50, "fi": 5, "sv-FI": 20, "sv": 3, "en": 12, "pl-PL": 10}
DEMO_PROGRAMMES = Path(__file__).with_name("programmes.example.toml")
# Weights of NPS scores 0-10: roughly 55 % promoters, 25 % passives, 20 % detractors.
SCORE_WEIGHTS = (2, 1, 1, 2, 2, 5, 7, 10, 15, 25, 30)
# Weights of CSAT scores 1-5: most satisfied, some not.
CSAT_WEIGHTS = (5, 7, 15, 35, 38)
SMS_REPLIES = (
    "{score}",
    "{score} kiitos",
    "{score}/10",
    "{score}!",
    "{score}, ihan ok",
    "{score} tack",
    "{score}, dziękuję",
)
_LINK = re.compile(r"https?://\S+/s/[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class DemoCustomer:
    """A customer of the demo CRM."""

    customer_id: str
    language: Language
    phone: str | None
    email: str | None
    opted_out: bool


def make_customers(rng: random.Random, count: int) -> list[DemoCustomer]:
    """A realistic mix: mostly mobiles, some landlines with email, some email only, a few
    with nothing usable; about 8 % opted out."""
    customers = []
    for n in range(count):
        language: Language = rng.choices(
            tuple(CUSTOMER_LANGUAGES), tuple(CUSTOMER_LANGUAGES.values())
        )[0]
        kind = rng.choices(("mobile", "landline", "email", "none"), (65, 10, 20, 5))[0]
        phone = {
            "mobile": f"04{rng.choice('0456')}{rng.randrange(10**6, 10**7)}",
            "landline": f"093{rng.randrange(10**5, 10**6)}",
        }.get(kind)
        if language == "pl-PL" and phone is not None:  # a Polish mobile or Warsaw landline
            phone = (
                f"+48 {rng.choice(POLISH_MOBILE)}{rng.randrange(10**6, 10**7)}"
                if kind == "mobile"
                else f"+48 22 {rng.randrange(10**6, 10**7)}"
            )
        if phone is not None and language.startswith("sv") and rng.random() < 0.3:
            phone = f"+46 70 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
        email = f"asiakas{n}@example.fi" if kind in ("landline", "email") else None
        customers.append(
            DemoCustomer(f"C{n:05d}", language, phone, email, opted_out=rng.random() < 0.08)
        )
    return customers


async def register_opt_outs(stack: LocalStack, customers: list[DemoCustomer]) -> int:
    """Ask the register to opt out the opted-out demo customers, as customer service would:
    through the opt-out topic, the same door as every other source. Returns how many."""
    requests = [
        OptOutRequested(
            source="customer_service",
            customer_id=customer.customer_id,
            reason="demo: asked for no surveys",
        )
        for customer in customers
        if customer.opted_out
    ]
    producer = AIOKafkaProducer(
        **{"bootstrap_servers": stack.options.kafka_bootstrap, **stack.kafka_client}, acks="all"
    )
    await producer.start()
    try:
        for request in requests:
            await producer.send(
                OPT_OUT_REQUESTED.name,
                request.model_dump_json().encode(),
                key=OPT_OUT_REQUESTED.key(request).encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()
    return len(requests)


class DemoCrm:
    """Publishes ContactClosed events like a CRM: mostly good, some duplicates, some broken."""

    def __init__(
        self,
        bootstrap: str,
        customers: list[DemoCustomer],
        rng: random.Random,
        client: dict[str, Any] | None = None,
    ) -> None:
        self._producer = AIOKafkaProducer(
            **{"bootstrap_servers": bootstrap, **(client or {})}, acks="all"
        )
        self._customers = customers
        self._rng = rng
        self._clock = Clock()
        # good (bad_phone among them) | duplicate | malformed
        self.published: Counter[str] = Counter()

    async def start(self) -> None:
        """Connect to the broker."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        await self._producer.stop()

    def _contact(self) -> ContactClosed:
        customer = self._rng.choice(self._customers)
        return ContactClosed(
            contact_id=f"K-{uuid.uuid4().hex[:12]}",
            customer_id=customer.customer_id,
            contact_channel=self._rng.choice(CONTACT_CHANNELS),
            language=customer.language,
            unit=POLISH_UNIT if customer.language == "pl-PL" else self._rng.choice(UNITS),
            # Closed a while ago: past the release delay a programme keeps (up to an hour).
            closed_at=self._clock.now() - timedelta(seconds=self._rng.randrange(3700, 4600)),
            phone=customer.phone,
            email=customer.email,
            anonymous=self._rng.random() < 0.2,
        )

    async def publish_one(self) -> None:
        """Publish one event: about 3 % are not a ContactClosed at all (dead letters), 3 %
        carry a garbage phone number (consent's outcome, not an error), 5 % are sent twice."""
        roll = self._rng.random()
        contact = self._contact()
        key = contact.customer_id.encode()
        if roll < 0.03:
            body = json.loads(contact.model_dump_json())
            broken = self._rng.choice(("channel", "time", "truncated"))
            if broken == "channel":
                body["contact_channel"] = "carrier_pigeon"
            elif broken == "time":
                body["closed_at"] = "yesterday"
            payload = json.dumps(body).encode()
            if broken == "truncated":
                payload = payload[: len(payload) // 2]
            await self._producer.send_and_wait(CONTACT_CLOSED.name, payload, key=key)
            self.published["malformed"] += 1
            return
        if roll < 0.06:
            garbage = self._rng.choice(("12345", "not a number", "+358 1"))
            contact = contact.model_copy(update={"phone": garbage})
            self.published["bad_phone"] += 1
        payload = contact.model_dump_json().encode()
        await self._producer.send_and_wait(CONTACT_CLOSED.name, payload, key=key)
        self.published["good"] += 1
        if 0.06 <= roll < 0.11:
            await self._producer.send_and_wait(CONTACT_CLOSED.name, payload, key=key)
            self.published["duplicate"] += 1


def addresses_of(customers: list[DemoCustomer]) -> set[str]:
    """The demo customers' addresses as the partner sees them (E.164 numbers, emails)."""
    found: set[str] = set()
    for customer in customers:
        if customer.email:
            found.add(customer.email.lower())
        if customer.phone:
            try:
                found.add(parse_phone(customer.phone, "FI"))
            except ValueError:
                continue
    return found


class DemoRespondents:
    """Demo customers who read what the partner delivered to them and answer part of it;
    a message to anyone else (a contact someone published by hand) is theirs to answer."""

    def __init__(
        self,
        stack: LocalStack,
        rng: random.Random,
        customers: list[DemoCustomer],
        answer_rate: float = 0.6,
        reading_seconds: float = 2.0,
    ) -> None:
        self._stack = stack
        self._ours = addresses_of(customers)
        self._reading = timedelta(seconds=reading_seconds)
        self._clock = Clock()
        self._rng = rng
        self._answer_rate = answer_rate
        self._seen: set[str] = set()
        self._client = httpx.AsyncClient(timeout=10)
        self.answered: Counter[str] = Counter()  # sms | email | stop | ignored
        self.received = 0

    async def close(self) -> None:
        """Release the HTTP client."""
        await self._client.aclose()

    async def answer_new(self) -> int:
        """Act on messages delivered at least the reading time ago; returns how many."""
        received = (await self._client.get(f"{self._stack.sandbox_url}/sandbox/messages")).json()
        read_by = (self._clock.now() - self._reading).isoformat()
        # People take a moment to read a message before answering it.
        new = [
            m
            for m in received["sms"] + received["email"]
            if m["id"] not in self._seen and m["received_at"] <= read_by
        ]
        for message in new:
            self._seen.add(message["id"])
            to = message["to"] if isinstance(message["to"], list) else [message["to"]]
            if not {address.lower() for address in to} & self._ours:
                continue
            self.received += 1
            if self._rng.random() >= self._answer_rate:
                self.answered["ignored"] += 1
                continue
            if message["id"].startswith("sms"):
                await self._reply_sms(message)
            else:
                await self._answer_page(message)
        return len(new)

    def _score(self) -> int:
        return self._rng.choices(range(11), SCORE_WEIGHTS)[0]

    def _csat(self) -> int:
        return self._rng.choices(range(1, 6), CSAT_WEIGHTS)[0]

    async def _reply_sms(self, message: dict[str, Any]) -> None:
        # The SMS asks NPS (0-10), or CSAT (1-5) for a programme that asks only that.
        score = self._csat() if "1-5" in message["text"] else self._score()
        text = (
            "STOP"
            if self._rng.random() < 0.03
            else self._rng.choice(SMS_REPLIES).format(score=score)
        )
        answer = await self._client.post(
            f"{self._stack.sandbox_url}/sandbox/inbound-sms",
            json={"from": message["to"], "text": text},
        )
        status = answer.json().get("status")
        self.answered[{"opted_out": "stop", "recorded": "sms"}.get(status, status)] += 1

    async def _answer_page(self, message: dict[str, Any]) -> None:
        link = _LINK.search(message["text"])
        if link is None:
            self.answered["unmatched"] += 1
            return
        page = await self._client.get(link.group(0))
        if page.status_code != 200:
            self.answered["unmatched"] += 1
            return
        comment = self._rng.choice(("", "", "Nopea palvelu.", "Snabb service!", "Hard to reach."))
        # Both questions where the page asks both (most answer the second too), else one.
        form = {"comment": comment}
        if 'name="score"' in page.text:
            form["score"] = str(self._score())
        if 'name="csat"' in page.text and ("score" not in form or self._rng.random() < 0.7):
            form["csat"] = str(self._csat())
        answer = await self._client.post(link.group(0), data=form)
        self.answered["email" if answer.status_code == 200 else "unmatched"] += 1

    @property
    def responses(self) -> int:
        """Answers the collector recorded."""
        return self.answered["sms"] + self.answered["email"]


async def pace(rate: float) -> None:
    """Wait between two demo events (the demo's own pacing, not synchronization)."""
    await asyncio.sleep(1.0 / rate)
