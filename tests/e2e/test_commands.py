"""The commands a newcomer, a CRM integrator and BI run first, as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from palaute_runtime.local_broker import free_port
from palaute_schemas import INVITATION_SENT
from tests.e2e.conftest import Pipeline, contact, e164, mobile

pytestmark = pytest.mark.e2e


def palaute(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "palaute_stack", *args],
        input=stdin,
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stack_env(data_dir: Path) -> dict[str, str]:
    return {
        "PALAUTE_DATA_DIR": str(data_dir),
        "PALAUTE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "PALAUTE_COLLECTOR_PORT": str(free_port()),
        "PALAUTE_SANDBOX_HTTP_PORT": str(free_port()),
        "PALAUTE_SANDBOX_SMTP_PORT": str(free_port()),
    }


def test_up_with_demo_shows_events_flowing_to_invitations_answers_and_figures(
    tmp_path: Path,
) -> None:
    # 500 events: about 60 answers. With 300 (about 40, a fifth of them anonymous, over two
    # units, three languages and six contact channels) the release rule could publish no
    # group at all in some runs (seen: 39 waiting, none releasable), and the test failed.
    result = palaute(
        "up", "--demo", "--events", "500", "--rate", "150", "--seed", "7", env=stack_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    final = next(line for line in result.stdout.splitlines() if line.startswith("final:"))
    counts = _figures(final)
    assert counts["events in"] >= 300
    assert counts["invitations"] > 0
    assert counts["suppressed"] > 0
    assert counts["dead-lettered"] > 0
    assert counts["responses"] > 0
    assert counts["figures published"] > 0, result.stdout[-3000:]
    assert "did not settle" not in result.stdout
    assert (tmp_path / "palaute.log").stat().st_size > 0
    assert "+358" not in (tmp_path / "palaute.log").read_text(), "no phone numbers in logs"
    assert "@example.fi" not in (tmp_path / "palaute.log").read_text(), "no emails in logs"


def _figures(line: str) -> dict[str, int]:
    return {
        name.strip(): int(value)
        for name, value in re.findall(r"([a-z][a-z -]+?) (\d+)", line.removeprefix("final:"))
    }


def test_up_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = os.environ | stack_env(tmp_path)
    with subprocess.Popen(
        [sys.executable, "-m", "palaute_stack", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Palaute is running"):
                break
        else:
            pytest.fail(f"never came up: {process.stderr.read() if process.stderr else ''}")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    broker_port = int(env["PALAUTE_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", broker_port), timeout=5),
    ):
        pass  # the local broker is gone after Ctrl-C


async def test_publish_one_contact_from_a_json_file_then_read_topics_as_json_lines(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    phone = mobile()
    event = contact(phone=phone, contact_channel="chat")
    path = tmp_path / "contact.json"
    path.write_text(event.model_dump_json(indent=2))
    bootstrap = pipeline.stack.options.kafka_bootstrap
    published = palaute("publish", str(path), "--bootstrap", bootstrap)
    assert published.returncode == 0, published.stderr
    assert json.loads(published.stdout)["event_id"] == str(event.event_id)
    await pipeline.messages_to(e164(phone))
    tail = palaute(
        "tail", "survey.invitation-sent.v1", "--bootstrap", bootstrap, "--idle-timeout", "1"
    )
    assert tail.returncode == 0, tail.stderr
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert any(line["contact_channel"] == "chat" for line in lines)
    assert all("address" not in line for line in lines)


async def test_publish_warns_about_an_unusable_phone_and_still_publishes(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    address = "varoitus@example.fi"
    path = tmp_path / "contact.json"
    path.write_text(contact(phone="12345", email=address).model_dump_json())
    bootstrap = pipeline.stack.options.kafka_bootstrap
    published = palaute("publish", str(path), "--bootstrap", bootstrap)
    assert published.returncode == 0, published.stderr
    assert published.stderr.startswith("warning: phone is not usable")
    assert published.stderr.count("\n") == 1
    await pipeline.messages_to(address)


def test_publish_explains_an_invalid_file_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"contact_id": "K-1", "phone": "12345"}))
    result = palaute("publish", str(path), "--bootstrap", "127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {path} is not a valid ContactClosed")
    missing = palaute("publish", str(tmp_path / "nope.json"))
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr


def test_tail_rejects_an_unknown_topic_and_every_command_has_help() -> None:
    unknown = palaute("tail", "no.such.topic", "--bootstrap", "127.0.0.1:1")
    assert unknown.returncode == 2
    assert "known topics" in unknown.stderr
    for module in (
        "palaute_stack",
        "palaute_consent",
        "palaute_dispatcher",
        "palaute_collector",
        "palaute_sandbox",
    ):
        shown = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert shown.returncode == 0
        assert "usage:" in shown.stdout


def test_consent_cli_rejects_an_invalid_phone_number_in_one_sentence(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "palaute_consent",
            "optout",
            "add",
            "--phone",
            "12",
            "--reason",
            "x",
        ],
        env=os.environ | {"PALAUTE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == "error: not a valid phone number.\n"


def test_tail_and_publish_without_a_broker_say_so_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "contact.json"
    path.write_text(contact(phone=mobile()).model_dump_json())
    for args in (("tail", "survey.figures.v1"), ("publish", str(path))):
        result = palaute(*args, "--bootstrap", f"127.0.0.1:{free_port()}")
        assert result.returncode == 1
        assert result.stderr.startswith("error: Kafka at 127.0.0.1:")
        assert "could not be used over PLAINTEXT" in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr


async def test_tail_prints_what_the_topic_holds_now_then_exits_and_a_closed_pipe_is_quiet(
    pipeline: Pipeline,
) -> None:
    phone = mobile()
    await pipeline.publish(contact(phone=phone))
    await pipeline.messages_to(e164(phone))
    bootstrap = pipeline.stack.options.kafka_bootstrap
    held = len(await pipeline.records(INVITATION_SENT.name))
    # A quiet period this long outlasts the command's timeout: only the end can stop it.
    tail = await asyncio.to_thread(
        palaute, "tail", INVITATION_SENT.name, "--bootstrap", bootstrap, "--idle-timeout", "300"
    )
    assert tail.returncode == 0, tail.stderr
    assert len(tail.stdout.splitlines()) >= held
    code, errors = await asyncio.to_thread(
        run_into_a_closed_pipe, "tail", INVITATION_SENT.name, "--bootstrap", bootstrap
    )
    assert code == 0
    assert errors == "", "no traceback when the reader has gone (`| head`)"


def run_into_a_closed_pipe(*args: str) -> tuple[int, str]:
    """Run a command whose standard output is a pipe nobody reads any more, as after
    `| head -n 1` has taken its line: its first write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "palaute_stack", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    return finished.returncode, finished.stderr
