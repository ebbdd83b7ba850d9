"""Keep reading a mailbox: IDLE where offered (renewed every 29 min), else polling; reconnect.

One connection per folder, because IDLE watches the selected folder only.
Each runs in a thread (imapclient blocks) and stops within a second of being
asked. Any network, server or database error closes the connection and
reconnects after an exponential backoff with jitter; nothing is acknowledged
that was not committed, so a reconnect never loses or doubles mail.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from imapclient import IMAPClient

from core.config_email import MailboxConfig
from core.pipeline import run_pending
from core.runtime import Runtime
from ingest.imap_lock import folder_lock
from ingest.imap_reader import FolderReader, SyncResult
from ingest.imap_session import connect, disconnect
from ingest.raw import parse_raw

log = logging.getLogger("intake.imap")

IDLE_RENEW_SECONDS = 29 * 60  # RFC 2177: servers may drop an IDLE after 30 minutes
_IDLE_TICK = 0.5  # how often an idling thread looks at its stop flag


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempt: int) -> float:
        """Exponential, capped, with jitter so many pollers do not reconnect in step."""
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)


class FolderPoller:
    def __init__(
        self,
        box: MailboxConfig,
        folder: str,
        reader: FolderReader,
        backoff: Backoff | None = None,
        idle_renew: float = IDLE_RENEW_SECONDS,
    ) -> None:
        self.box = box
        self.folder = folder
        self.reader = reader
        self.backoff = backoff or Backoff()
        self.idle_renew = idle_renew
        self.failures = 0  # consecutive; reset by a successful sync
        self.syncs = 0
        self.last_error: str | None = None

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set: connect, read, wait for news, read again; reconnect on errors."""
        waiting = False
        while not stop.is_set():
            client: IMAPClient | None = None
            try:
                with folder_lock(self.reader.factory, self.box.name, self.folder) as mine:
                    if not mine:
                        if not waiting:
                            log.info("%s/%s: another process reads it; standing by", *self._at())
                        waiting = True
                        stop.wait(min(self.box.poll_seconds, 5.0))
                        continue
                    waiting = False
                    try:
                        client = connect(self.box)
                        self._serve(client, stop)
                    finally:  # let go of the mailbox before the lock
                        if client is not None:
                            disconnect(client)
            except Exception as exc:  # network, TLS, server, database: all mean "try again later"
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = self.backoff.delay(self.failures)
                log.warning(
                    "%s/%s: %s; reconnecting in %.1f s (attempt %d)",
                    *self._at(),
                    self.last_error,
                    delay,
                    self.failures,
                )
                stop.wait(delay)

    def _at(self) -> tuple[str, str]:
        return self.box.name, self.folder

    def sync_once(self, client: IMAPClient) -> SyncResult:
        result = self.reader.sync(client)
        self.failures = 0
        self.syncs += 1
        return result

    def _serve(self, client: IMAPClient, stop: threading.Event) -> None:
        self.sync_once(client)
        idle = self.box.idle and client.has_capability("IDLE")
        while not stop.is_set():
            if idle:
                self._idle(client, stop)
            else:
                stop.wait(self.box.poll_seconds)
                if stop.is_set():
                    return
            self.sync_once(client)

    def _idle(self, client: IMAPClient, stop: threading.Event) -> None:
        """Wait until the server reports a change, `idle_renew` passes, or we are stopped."""
        client.idle()
        started = time.monotonic()
        try:
            while not stop.is_set() and time.monotonic() - started < self.idle_renew:
                tick = time.monotonic()
                responses = client.idle_check(timeout=_IDLE_TICK)
                if any(_is_news(r) for r in responses):
                    return
                if not responses and time.monotonic() - tick < _IDLE_TICK / 2:
                    # imapclient answers a closed socket with an empty list at once
                    # (it swallows the EOF): without this the poller would spin on a
                    # dead connection until the renewal instead of reconnecting.
                    raise ConnectionError("the server closed the connection during IDLE")
        finally:
            client.idle_done()


def _is_news(response: object) -> bool:
    # "* 12 EXISTS" is new mail; "* BYE" means the server is closing: read then reconnect.
    return isinstance(response, tuple) and any(
        part in (b"EXISTS", b"BYE") for part in response[1:2]
    )


def pipeline_waker(rt: Runtime) -> Callable[[int], None]:
    """Run the pipeline right after mail is committed, so new mail becomes an incident promptly.

    Errors are logged, not raised: the mail is stored and stays pending for the
    next run, and reading the mailbox must go on.
    """

    def wake(_count: int) -> None:
        try:
            run_pending(rt.work, parse_raw, rt.config)
        except Exception:
            log.exception("pipeline run after storing mail failed; the mail stays pending")

    return wake


class MailboxPoller:
    """The `intake run` component for one `[[mailbox]]`: a poller thread per folder."""

    def __init__(
        self,
        rt: Runtime,
        box: MailboxConfig,
        on_stored: Callable[[int], None] | None = None,
        backoff: Backoff | None = None,
        idle_renew: float = IDLE_RENEW_SECONDS,
    ) -> None:
        self.name = f"imap:{box.name}"
        self.folders = [
            FolderPoller(
                box, folder, FolderReader(box, folder, rt.factory, on_stored), backoff, idle_renew
            )
            for folder in box.folders
        ]

    async def run(self, stop: asyncio.Event) -> None:
        halt = threading.Event()
        tasks = [asyncio.create_task(asyncio.to_thread(p.run, halt)) for p in self.folders]
        try:
            await stop.wait()
        finally:
            halt.set()
            await asyncio.gather(*tasks, return_exceptions=True)
