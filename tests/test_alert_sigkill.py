"""SIGKILL `intake run --only web,worker` 20 times while signed Sentry alerts pour in: nothing acknowledged is lost.

A client posts signed webhooks with unique Request-IDs on several connections;
the server process is killed with SIGKILL at a random moment, 20 times, and
restarted. A request without a 2xx answer is retried after the restart, as
Sentry does. In the end every acknowledged request is stored exactly once and
processed, and so is every retried one.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from sqlalchemy import select

from core.models import PROCESSED, RawMessage, StoredReport
from tests.alert_helpers import (
    ServeProcess,
    alert_config,
    config_file,
    count,
    sentry_headers,
    storm_event,
    wait_until,
)
from tests.conftest import EXAMPLES, require_shared
from tests.helpers import open_db
from tests.postgres_fixture import start_postgres

KILLS = 20
CONNECTIONS = 4  # enough to be mid-request at any kill, little left to drain


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.alert_helpers import ENV

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


class Client:
    """Posts numbered signed alerts; remembers which got a 2xx and which must be retried."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.next = 0
        self.acked: set[str] = set()
        self.unanswered: list[str] = []  # sent (maybe stored) but no 2xx seen: retry

    def take(self) -> str:
        if self.unanswered:
            return self.unanswered.pop()
        self.next += 1
        return f"kill-{self.next}"

    async def run(self, seconds: float) -> None:
        await asyncio.gather(*(self._connection(seconds) for _ in range(CONNECTIONS)))

    async def _connection(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return
        request_id = None
        try:
            while loop.time() < deadline:
                request_id = self.take()
                number = int(request_id.split("-")[1])
                body = storm_event(number % 7, number)
                headers = sentry_headers(body, "event_alert", request_id)
                head = [
                    "POST /webhooks/sentry HTTP/1.1",
                    "Host: 127.0.0.1",
                    f"Content-Length: {len(body)}",
                ]
                head += [f"{k}: {v}" for k, v in headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                answer = await reader.readuntil(b"\r\n\r\n")
                status = int(answer.split(b" ", 2)[1])
                length = next(
                    int(line.split(b":")[1])
                    for line in answer.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                if 200 <= status < 300:
                    self.acked.add(request_id)
                else:
                    self.unanswered.append(request_id)
                request_id = None
        except (OSError, asyncio.IncompleteReadError):
            pass  # killed mid-request
        finally:
            if request_id is not None:
                self.unanswered.append(request_id)
            writer.close()


def run_kill_cycles(db_url: str, tmp_path: Path) -> None:
    require_shared(EXAMPLES)
    server = ServeProcess(config_file(tmp_path, db_url), tmp_path / "serve.log")
    client = Client(server.port)
    rng = random.Random(5)
    try:
        for _ in range(KILLS):
            server.start()
            asyncio.run(_load_then_kill(client, server, rng.uniform(0.1, 0.4)))
        server.start()
        while client.unanswered:  # what never got an answer is sent again, once more
            asyncio.run(client.run(0.5))
        rt = open_db(db_url, alert_config(db_url))
        wait_until(
            lambda: count(rt, RawMessage, RawMessage.status != PROCESSED) == 0,
            timeout=300,
            what="every stored alert to be processed after the restarts",
        )
    finally:
        server.stop()
    assert len(client.acked) > KILLS * 10  # the load was real
    with rt.factory() as session:
        keys = session.scalars(select(RawMessage.natural_key)).all()
        reported = session.scalars(select(StoredReport.raw_id)).all()
    assert len(keys) == len(set(keys))  # stored once each
    assert client.acked <= set(keys)  # every 2xx was stored
    assert set(keys) == {f"kill-{n}" for n in range(1, client.next + 1)}  # retried ones too
    assert len(reported) == len(set(reported)) == len(keys)  # each processed exactly once


async def _load_then_kill(client: Client, server: ServeProcess, after: float) -> None:
    load = asyncio.ensure_future(client.run(after + 5))
    await asyncio.sleep(after)
    server.kill()
    await load


def test_sigkill_sqlite(tmp_path: Path) -> None:
    run_kill_cycles(f"sqlite:///{tmp_path}/intake.db", tmp_path)


def test_sigkill_postgresql(tmp_path: Path, postgres_base_dir: Path) -> None:
    with start_postgres(postgres_base_dir, fsync=True) as server:  # durable settings
        run_kill_cycles(server.url, tmp_path)
