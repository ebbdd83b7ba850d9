"""Alert intake tests: a config with credentials, signing, and the app served on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.pool import NullPool

from core.config import Config, parse_config
from core.models import Base
from core.runtime import Runtime
from core.web.app import create_app
from core.web.server import uvicorn_config
from core.web.webhooks import alert_routes
from core.worker import PipelineWorker
from ingest.raw import parse_raw
from tests.conftest import EXAMPLES, ROOT

SENTRY_SECRET = "3c9a7f0e0b5d4f1c8a2e6b9d7f1a0c3e"
SECOND_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
AM_TOKEN = "am-token-1f2e3d"
ROUTING_KEYS = {"ops": "R0UTINGKEY0PS000000000000000000A", "dev": "R0UTINGKEYDEV00000000000000000B"}
ENV = {
    "TEST_SENTRY_SECRET": SENTRY_SECRET,
    "TEST_SENTRY_SECRET_2": SECOND_SECRET,
    "TEST_AM_TOKEN": AM_TOKEN,
    "TEST_ROUTING_KEYS": ",".join(f"{k}={v}" for k, v in ROUTING_KEYS.items()),
    "TEST_LEGACY_TOKEN": "legacy-token-77",
}
TOML = """
[[sentry]]
name = "main"
client_secret_env = "TEST_SENTRY_SECRET"

[[sentry]]
name = "staging"
client_secret_env = "TEST_SENTRY_SECRET_2"

[sentry_legacy]
token_env = "TEST_LEGACY_TOKEN"

[alertmanager]
bearer_token_env = "TEST_AM_TOKEN"

[events]
routing_keys_env = "TEST_ROUTING_KEYS"

[alerts]
resolve = "{resolve}"
"""


def alert_config(db_url: str, resolve: str = "resolve") -> Config:
    import tomllib

    data = tomllib.loads(TOML.format(resolve=resolve))
    data["database"] = {"url": db_url}
    return parse_config(data)


def config_file(folder: Path, db_url: str) -> Path:
    path = folder / "intake.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n' + TOML.format(resolve="resolve"))
    return path


def sign(body: bytes, secret: str = SENTRY_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sentry_headers(
    body: bytes, resource: str, request_id: str, secret: str = SENTRY_SECRET
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Timestamp": str(int(time.time())),
        "Sentry-Hook-Signature": sign(body, secret),
        "Request-ID": request_id,
    }


def storm_event(issue: int, event: int) -> bytes:
    """An event_alert for Sentry issue `issue` (the checkout example, re-numbered)."""
    payload = copy.deepcopy(_checkout_example())
    inner = payload["data"]["event"]
    inner["issue_id"] = str(7000 + issue)
    inner["event_id"] = f"{issue:04d}{event:028d}"
    inner["title"] = f"TypeError: checkout step {issue} failed in production"
    return json.dumps(payload).encode()


def _checkout_example() -> dict[str, Any]:
    global _EXAMPLE
    if _EXAMPLE is None:
        _EXAMPLE = json.loads(
            (EXAMPLES / "001-checkout-error-single-customer.sentry.json").read_bytes()
        )
    return _EXAMPLE


_EXAMPLE: dict[str, Any] | None = None


_READERS: dict[str, Engine] = {}


def count(rt: Runtime, model: type[Base], *where: Any) -> int:
    """Rows of `model` now, read without taking SQLite's write lock (a WAL reader never waits)."""
    url = rt.engine.url.render_as_string(hide_password=False)
    if url not in _READERS:
        _READERS[url] = create_engine(url, poolclass=NullPool)
    query = select(func.count()).select_from(model)
    for clause in where:
        query = query.where(clause)
    with _READERS[url].connect() as connection:
        return int(connection.scalar(query) or 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # not the main thread: leave signals alone
        yield


class LiveApp:
    """The alert routes served by uvicorn on 127.0.0.1 in a thread, optionally with the worker."""

    def __init__(self, rt: Runtime, worker_threads: int = 0, poll_seconds: float = 1.0) -> None:
        self.rt = rt
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker = (
            PipelineWorker(
                rt.work, rt.config, parse_raw, threads=worker_threads, poll_seconds=poll_seconds
            )
            if worker_threads
            else None
        )
        app = create_app(rt, providers=[alert_routes])
        self.server = _QuietServer(uvicorn_config(app, "127.0.0.1", self.port))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks = [self.server.serve()]
        if self.worker is not None:
            tasks.append(self.worker.run(self._stop))
        await asyncio.gather(*tasks)

    def __enter__(self) -> LiveApp:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def wait_until(condition: Any, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class ServeProcess:
    """`intake run --only web,worker` as a real subprocess, to kill it with SIGKILL."""

    def __init__(
        self, config: Path, log: Path, port: int | None = None, threads: str = "1"
    ) -> None:
        self.config, self.log, self.threads = config, log, threads
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "core.cli",
                    "--config",
                    str(self.config),
                    "run",
                    "--only",
                    "web,worker",
                    "--port",
                    str(self.port),
                    "--pipeline-threads",
                    self.threads,
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"intake run did not start:\n{self.log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def http_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One HTTP/1.1 POST, ready to write on a keep-alive connection."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _post_on_one_connection(
    port: int, requests: list[tuple[int, bytes]], statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for index, request in requests:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            statuses[index] = status
    finally:
        writer.close()


def post_many(port: int, requests: list[bytes], connections: int = 32) -> list[int]:
    """POST every request over `connections` keep-alive connections; the status of each.

    A bare asyncio client: fast enough that the server, not the test, is what is loaded.
    """
    statuses: dict[int, int] = {}
    shares: list[list[tuple[int, bytes]]] = [[] for _ in range(connections)]
    for index, request in enumerate(requests):
        shares[index % connections].append((index, request))

    async def main() -> None:
        await asyncio.gather(*(_post_on_one_connection(port, s, statuses) for s in shares if s))

    asyncio.run(main())
    return [statuses[i] for i in range(len(requests))]
