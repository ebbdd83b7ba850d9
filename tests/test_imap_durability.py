"""Crashes and broken connections lose nothing and double nothing (SQLite and PostgreSQL).

- A real `intake mailbox poll` process is SIGKILLed at random points while
  mail keeps arriving; after a final clean run every message is stored once
  and moved once.
- A poller in this process reads through a loopback proxy that cuts every
  connection, mid-FETCH and mid-IDLE, over and over; then its Dovecot is
  stopped and started again. It reconnects each time and ends with every
  message stored once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from core.cli import main
from core.models import RawMessage
from core.runtime import Runtime
from ingest.imap_poller import Backoff, FolderPoller
from ingest.imap_reader import FolderReader
from tests.dovecot_fixture import MailUser, mailbox_for, running_dovecot
from tests.helpers import mail, open_db

ROOT = Path(__file__).resolve().parents[1]


def numbered(n: int) -> bytes:
    return mail(f"Report {n}", f"Message number {n}.", message_id=f"<m{n}@durability.test>")


def stored(rt: Runtime) -> tuple[int, int]:
    """(raw rows, distinct Message-IDs among them)."""
    with rt.factory() as session:
        rows = session.scalar(select(func.count()).select_from(RawMessage)) or 0
        distinct = session.scalar(select(func.count(func.distinct(RawMessage.content_key)))) or 0
    return rows, distinct


def _config(tmp_path: Path, user: MailUser, after: str = "move") -> Path:
    password = tmp_path / "password"
    password.write_text(user.password)
    config = tmp_path / "intake.toml"
    config.write_text(
        f'[[mailbox]]\nname = "incidents"\nhost = "127.0.0.1"\nport = {user.server.port}\n'
        f'tls = "plain"\nallow_plaintext = true\nusername = "{user.name}"\n'
        f'password_file = "{password}"\nafter = "{after}"\nmove_to = "Done"\n'
    )
    return config


# A zygote: imports the CLI once, then forks one child per line of JSON arguments,
# each running `intake ARGS` as the console script does (its own process, its own
# database connections), and prints the child's pid. Forked children start in
# milliseconds instead of seconds, so the test can kill twenty of them cheaply.
ZYGOTE = """
import json, os, signal, sys
from core.cli import main
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            main(json.loads(line), prog_name="intake")
        finally:
            os._exit(0)
    print(pid, flush=True)
"""


@contextlib.contextmanager
def zygote(env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def _spawn(zygote: subprocess.Popen[str], args: list[str]) -> int:
    assert zygote.stdin is not None and zygote.stdout is not None
    zygote.stdin.write(json.dumps(args) + "\n")
    zygote.stdin.flush()
    return int(zygote.stdout.readline())


def _gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_sigkill_at_random_points_loses_and_doubles_nothing(
    db_url: str, mail_user: MailUser, tmp_path: Path
) -> None:
    rt = open_db(db_url)  # migrated here, so the killed processes only read and write
    mail_user.create_folder("Done")
    config = _config(tmp_path, mail_user)
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    poll = ["--config", str(config), "mailbox", "poll", "--no-process", "--batch", "7"]
    rng = random.Random(4)
    sent = mail_user.seed(numbered(i) for i in range(1700))  # and ~300 more arrive below
    kills = mid_read = 0
    with zygote(env, tmp_path) as parent:
        for _round in range(30):
            more = rng.randint(0, 20)  # mail keeps arriving between (and during) the crashes
            mail_user.seed(numbered(i) for i in range(sent, sent + more))
            sent += more
            before = stored(rt)[0]
            pid = _spawn(parent, poll)
            deadline = time.monotonic() + 20
            # Kill once it has committed something this round (or has nothing left to do).
            while time.monotonic() < deadline and stored(rt)[0] == before and before < sent:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.15))
            os.kill(pid, signal.SIGKILL)
            _gone(pid)
            kills += 1
            mid_read += stored(rt)[0] < sent  # killed with mail still to read
            if rng.random() < 0.3:
                mail_user.append(numbered(sent))  # through IMAP, while no poller runs
                sent += 1
    # A last, clean run (in this process: the crashes are over) reads what is left.
    final = CliRunner().invoke(
        main,
        ["--config", str(config), "mailbox", "poll", "--once"],
        env={"INTAKE_DATABASE_URL": db_url},
    )
    assert final.exit_code == 0, final.output
    assert kills == 30 and mid_read >= 5  # many kills landed in the middle of reading
    assert sent >= 1950
    assert stored(rt) == (sent, sent)  # every message once, none lost
    assert mail_user.uids() == []  # every stored message acknowledged (moved) ...
    assert len(mail_user.uids("Done")) == sent  # ... exactly once


class CuttingProxy:
    """A loopback TCP proxy in front of Dovecot that can cut every open connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> int:
        with self.lock:
            victims, self.open = self.open, []
        for sock in victims:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        return len(victims) // 2

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.cut()


@contextlib.contextmanager
def poller_thread(poller: FolderPoller) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive()


def test_cut_connections_and_a_server_restart_lose_and_double_nothing(
    db_url: str, tmp_path: Path
) -> None:
    rt = open_db(db_url)
    with running_dovecot(ssl=False) as server:
        user = server.add_user()
        proxy = CuttingProxy(server.port)
        box = mailbox_for(user, tmp_path, port=proxy.port)
        poller = FolderPoller(
            box, "INBOX", FolderReader(box, "INBOX", rt.factory, batch=5), Backoff(0.02, 0.2)
        )
        rng = random.Random(7)
        sent = user.seed(numbered(i) for i in range(400))
        cuts = 0
        cut_while_reading = False  # judged at each cut: the poller may finish early
        with poller_thread(poller):
            give_up = time.monotonic() + 120  # a poller stuck on a dead connection fails here
            while cuts < 20:
                assert time.monotonic() < give_up, (
                    f"only {cuts} cuts: the poller stopped reconnecting"
                )
                time.sleep(rng.uniform(0.02, 0.2))
                behind = stored(rt)[0] < sent
                if proxy.cut() > 0:
                    cuts += 1
                    cut_while_reading |= behind
                if rng.random() < 0.3:
                    user.append(numbered(sent))
                    sent += 1
            server.stop()  # the whole server goes away, then comes back
            time.sleep(0.3)
            server.start()
            user.append(numbered(sent))
            sent += 1
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and stored(rt)[0] < sent:
                time.sleep(0.05)
        proxy.close()
        assert stored(rt) == (sent, sent)
        assert cut_while_reading  # the cuts landed while there was still mail to read
        assert poller.last_error is not None  # it did see the failures, and recovered
        flags = user.flags()
        assert len(flags) == sent and all(b"\\Seen" in f for f in flags.values())
