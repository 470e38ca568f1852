"""A real IMAP server for one test: Dovecot (Debian's dovecot-imapd) with a configuration of
its own, on free ports of this machine, over TLS with a test CA's certificate (IMAPS and
STARTTLS), one user with a password and a Maildir. What an organisation's bounce mailbox is.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from palaute_runtime.local_broker import free_port
from tests.tls import Certificates, make_certificates

DOVECOT = "/usr/sbin/dovecot"


@dataclass(frozen=True)
class Mailbox:
    """Where the IMAP server listens and who may log in."""

    host: str
    imaps_port: int
    imap_port: int
    username: str
    password: str
    certificates: Certificates
    maildir: Path


def dovecot_or_skip() -> None:
    """Skip without Dovecot (a failure where PALAUTE_REQUIRE_MAILBOX=1, as in CI)."""
    if shutil.which(DOVECOT) is None and not Path(DOVECOT).exists():
        reason = "Dovecot is not installed (apt-get install dovecot-imapd)"
        if os.environ.get("PALAUTE_REQUIRE_MAILBOX") == "1":
            pytest.fail(f"{reason}; PALAUTE_REQUIRE_MAILBOX=1")
        pytest.skip(reason)


@contextmanager
def dovecot(folder: Path, username: str = "bounces", password: str = "") -> Iterator[Mailbox]:
    """Run Dovecot in `folder` until the block ends."""
    dovecot_or_skip()
    password = password or secrets.token_urlsafe(12)
    (folder / "tls").mkdir(parents=True, exist_ok=True)
    certificates = make_certificates(folder / "tls", "imap")
    imaps_port, imap_port = free_port(), free_port()
    # Dovecot keeps mail as an unprivileged user (never root), whose home must be reachable
    # by it: under /var/tmp, not the test's own (root-only) folder.
    home = Path(tempfile.mkdtemp(prefix="palaute-mail-", dir="/var/tmp"))
    shutil.chown(home, "dovecot", "dovecot")
    (folder / "run").mkdir(parents=True, exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)
    users = folder / "users"
    users.write_text(f"{username}:{{PLAIN}}{password}::::{home}/{username}\n")
    config = folder / "dovecot.conf"
    config.write_text(
        f"""
protocols = imap
listen = 127.0.0.1
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
instance_name = palaute-test-{imaps_port}
ssl = yes
ssl_cert = <{certificates.cert}
ssl_key = <{certificates.key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = {pwd.getpwnam("dovecot").pw_uid}
mail_location = maildir:~/Maildir
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service auth {{
  user = root
}}
service auth-worker {{
  user = root
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_listening(process, imaps_port, folder / "dovecot.log")
        yield Mailbox(
            "127.0.0.1",
            imaps_port,
            imap_port,
            username,
            password,
            certificates,
            home / username / "Maildir",
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(home, ignore_errors=True)


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            logged = log.read_text() if log.exists() else ""
            raise RuntimeError(f"dovecot exited: {error} {logged}"[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("dovecot did not listen within 20 s")
