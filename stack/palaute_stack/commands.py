"""What the `palaute` commands do (run the whole stack locally, publish a ContactClosed,
print a topic), imported once `palaute_stack.cli` has parsed their arguments."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from palaute_consent.rules import reachable
from palaute_runtime.cli import fail
from palaute_runtime.kafka_security import security_options, unreachable
from palaute_runtime.local_broker import palaute_topics
from palaute_runtime.logs import configure_logging
from palaute_runtime.settings import CommonSettings
from palaute_runtime.topic_reader import as_json_line, read_records
from palaute_schemas import CONTACT_CLOSED, ContactClosed, parse_email, parse_phone
from palaute_stack.demo import (
    DEMO_PROGRAMMES,
    DemoCrm,
    DemoRespondents,
    make_customers,
    pace,
    register_opt_outs,
)
from palaute_stack.stack import LocalStack, StackOptions, StackSettings
from palaute_stack.summary import PipelineTally, follow

SETTLE_SECONDS = 60.0
FIGURES_WORTH_WAITING_FOR = 20  # answers: enough for a group of five in every breakdown


def run(args: argparse.Namespace) -> None:
    """Carry out a parsed `palaute` command."""
    settings = CommonSettings()
    if getattr(args, "bootstrap", "") is None:
        args.bootstrap = settings.kafka_bootstrap
    # TLS and SASL (PALAUTE_KAFKA_SECURITY_PROTOCOL ...), as the services connect.
    args.kafka_client = security_options(settings)
    if args.command != "up":
        configure_logging(settings.log_format, "warning")
        # The one-sentence error below says it all; aiokafka would add its own lines.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL + 1)
    try:
        if args.command == "up":
            if args.events is not None and not args.demo:
                fail("--events goes with --demo.", 2)
            _up(args)
        elif args.command == "publish":
            asyncio.run(_publish(args, _read_contact(args.file, settings)))
        else:
            asyncio.run(_tail(args))
    except KafkaError as exc:
        fail(unreachable(settings, args.bootstrap, exc).rstrip("?") + " (palaute up runs one)?")
    except KeyboardInterrupt:
        pass


def _up(args: argparse.Namespace) -> None:
    settings = StackSettings()
    if args.data_dir is not None:
        settings.data_dir = args.data_dir
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / "palaute.log"
    # The terminal shows addresses and the summary; the services' JSON log goes to a file.
    with log_path.open("a", encoding="utf-8", buffering=1) as log_file:
        configure_logging("json", settings.log_level, stream=log_file)
        asyncio.run(_run_stack(settings, args, log_path.resolve(), log_file))


async def _run_stack(
    settings: StackSettings, args: argparse.Namespace, log_path: Path, log_file: TextIO
) -> None:
    options = StackOptions.from_settings(settings, broker=args.broker)
    if args.demo and settings.programmes_file is None:
        # The demo runs the example programmes: three units in their own names and rules.
        options.extra_settings["programmes_file"] = str(DEMO_PROGRAMMES)
    stack = LocalStack(options, log_sink=log_file, say=_say)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    _say("starting the local broker, consent, dispatcher, collector and the partner sandbox...")
    try:
        await stack.start()
    except (RuntimeError, OSError) as exc:
        fail(f"the stack could not start: {exc}")
    except TimeoutError:
        fail(f"the stack did not start within a minute; see {log_path}")
    try:
        _say("Palaute is running. Ctrl-C stops it.")
        for name, address in stack.addresses().items():
            _say(f"  {name:<16} {address}")
        _say(f"  {'log':<16} {log_path}")
        _say(stack.release_rules_note())
        if note := stack.programmes_note():
            _say(note)
        if args.demo:
            await _demo(stack, args, stop)
        else:
            await stop.wait()
    finally:
        _say("stopping...")
        await stack.stop()


async def _demo(stack: LocalStack, args: argparse.Namespace, stop: asyncio.Event) -> None:
    # Separate generators: with --seed, what the CRM publishes does not depend on the timing
    # of the customers' answers.
    rng = random.Random(args.seed)
    customers = make_customers(rng, 400)
    opted_out = await register_opt_outs(stack, customers)
    _say(
        f"demo: {len(customers)} customers, {opted_out} opted out through customer service; "
        f"{args.rate:g} events/s" + (f", {args.events} events" if args.events else "")
    )
    crm = DemoCrm(stack.options.kafka_bootstrap, customers, rng, stack.kafka_client)
    respondents = DemoRespondents(stack, random.Random(rng.random()), customers)
    tally = PipelineTally()
    await crm.start()
    background = [
        asyncio.create_task(follow(stack.options.kafka_bootstrap, tally, stack.kafka_client)),
        asyncio.create_task(_answer_forever(respondents, stop)),
    ]
    try:
        last_print = 0.0
        while not stop.is_set() and (
            args.events is None
            or sum(crm.published[k] for k in ("good", "malformed")) < args.events
        ):
            await crm.publish_one()
            if time.monotonic() - last_print > 2:
                last_print = time.monotonic()
                _say(tally.render(respondents.responses))
            await pace(args.rate)
        if args.events is not None and not stop.is_set():
            settled = await _settle(stack, crm, tally, respondents, stop)
            _say(
                ""
                if settled
                else "warning: the pipeline did not settle within "
                f"{SETTLE_SECONDS:g} s; figures may be incomplete"
            )
        else:
            await stop.wait()
        # Also after Ctrl-C: what the demo did is worth seeing before the stack goes.
        _say(f"final: {tally.render(respondents.responses)}")
        _say(
            f"published by the demo CRM: {dict(crm.published)}; "
            f"customers' answers: {dict(respondents.answered)}"
        )
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await crm.stop()
        await respondents.close()


async def _answer_forever(respondents: DemoRespondents, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if await respondents.answer_new() == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.3)


async def _settle(
    stack: LocalStack,
    crm: DemoCrm,
    tally: PipelineTally,
    respondents: DemoRespondents,
    stop: asyncio.Event,
) -> bool:
    """Wait until every good event has a decision (or waits for its programme's send window),
    every invitation was read by its customer and no dead letter is missing."""
    deadline = time.monotonic() + SETTLE_SECONDS
    last_print = 0.0
    while time.monotonic() < deadline and not stop.is_set():
        waiting = await stack.waiting_plans()
        decided = tally.requested + sum(tally.suppressed.values()) + waiting
        sent = sum(tally.invitations.values())
        if (
            decided >= crm.published["good"]
            # A STOP can withdraw a survey of the same number before it is sent.
            and sent + tally.not_sent >= tally.requested
            and tally.dead_lettered >= crm.published["malformed"]
            and respondents.received >= sent
            and await respondents.answer_new() == 0
            # The figures follow the answers within a publishing round or two, once enough
            # answers stand together to be shown.
            and (tally.figures > 0 or respondents.responses < FIGURES_WORTH_WAITING_FOR)
        ):
            if waiting:
                _say(f"{waiting} contacts wait for their programme's send window to open")
            return True
        if time.monotonic() - last_print > 2:
            last_print = time.monotonic()
            _say(f"settling: {tally.render(respondents.responses)}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)
    return False


def _read_contact(file: str, settings: CommonSettings) -> ContactClosed:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}.")
    try:
        contact = ContactClosed.model_validate_json(
            text, context={"default_region": settings.default_region}
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        fail(f"{file} is not a valid ContactClosed: {where}: {first['msg']}{more}.")
    # A bad address is the customer's data, not a broken message: consent surveys by the
    # other address or suppresses with the reason. The integrator still wants to know.
    who = reachable(contact, settings.default_region)
    region = settings.default_region
    if who.phone_unusable:
        why = _why(lambda: parse_phone(contact.phone or "", region))
        _warn(f"phone is not usable ({why}); consent surveys by email or suppresses it.")
    if who.email_unusable:
        why = _why(lambda: parse_email(contact.email or ""))
        _warn(f"email is not usable ({why}); consent surveys by SMS or suppresses it.")
    return contact


def _why(check: Callable[[], object]) -> str:
    try:
        check()
    except ValueError as exc:
        return str(exc)
    return "unknown reason"


def _warn(sentence: str) -> None:
    sys.stderr.write(f"warning: {sentence}\n")


async def _publish(args: argparse.Namespace, contact: ContactClosed) -> None:
    producer = AIOKafkaProducer(
        **{"bootstrap_servers": args.bootstrap, **args.kafka_client},
        acks="all",
        request_timeout_ms=10000,
    )
    try:
        await producer.start()
        metadata = await producer.send_and_wait(
            CONTACT_CLOSED.name,
            contact.model_dump_json().encode(),
            key=CONTACT_CLOSED.key(contact).encode(),
        )
    finally:
        await producer.stop()
    print(
        json.dumps(
            {
                "event_id": str(contact.event_id),
                "topic": metadata.topic,
                "partition": metadata.partition,
                "offset": metadata.offset,
            }
        )
    )


async def _tail(args: argparse.Namespace) -> None:
    known = {spec.name for spec in palaute_topics()}
    if args.topic not in known:
        fail(f"unknown topic {args.topic!r}; known topics: {', '.join(sorted(known))}.", 2)
    records = read_records(
        args.bootstrap,
        [args.topic],
        idle_timeout=None if args.follow else args.idle_timeout,
        until_end=not args.follow,
        client=args.kafka_client,
    )
    try:
        async for record in records:
            sys.stdout.write(as_json_line(record, with_meta=args.meta) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly; nothing more is written at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
