"""The local incident mailbox: a Maildir drop folder (default `var/inbox`) watched for new mail.

Any mail delivery agent (or a person with `cp`) writes into `tmp/` and
renames into `new/`; each new file is stored through the store-raw choke
point and committed, and only then moved to `cur/` (flagged seen), the
Maildir way of saying "read". A crash in between leaves the file in `new/`:
the next scan finds it already stored and just moves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.db import transaction
from core.runtime import Runtime
from ingest.imap_poller import pipeline_waker
from ingest.imap_store import oversize_reason, store_mail

log = logging.getLogger("intake.maildir")

SCAN_SECONDS = 0.5
BATCH = 200  # files per transaction


@dataclass
class ScanResult:
    seen: int = 0
    stored: int = 0
    quarantined: int = 0


def ensure_maildir(root: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)


def _unique(name: str) -> str:
    return name.split(":", 1)[0]  # the part before the info suffix names the message


def _read(path: Path, limit: int) -> tuple[bytes, str | None, int]:
    size = path.stat().st_size
    if size <= limit:
        return path.read_bytes(), None, size
    with path.open("rb") as handle:
        head = bytearray()
        for line in handle:
            head += line
            if line in (b"\n", b"\r\n") or len(head) > 1024 * 1024:
                break
    return bytes(head), oversize_reason(size, limit), size


class MaildirWatch:
    """Component for `intake run`: stores mail dropped into a local Maildir."""

    def __init__(
        self,
        rt: Runtime,
        root: Path | None = None,
        on_stored: Callable[[int], None] | None = None,
        interval: float = SCAN_SECONDS,
    ) -> None:
        self.name = "maildir-inbox"
        self.factory = rt.factory
        self.root = root or rt.config.email.inbox
        # Made before the service says it is up, so mail can be dropped at once.
        ensure_maildir(self.root)
        self.max_bytes = rt.config.email.inbox_max_bytes
        self.on_stored = on_stored if on_stored is not None else pipeline_waker(rt)
        self.interval = interval

    def scan_once(self) -> ScanResult:
        ensure_maildir(self.root)
        result = ScanResult()
        names = sorted(n for n in os.listdir(self.root / "new") if not n.startswith("."))
        for start in range(0, len(names), BATCH):
            self._store(names[start : start + BATCH], result)
        return result

    def _store(self, names: list[str], result: ScanResult) -> None:
        done: list[str] = []
        created = 0
        with transaction(self.factory) as session:
            for name in names:
                path = self.root / "new" / name
                try:
                    body, reason, size = _read(path, self.max_bytes)
                except FileNotFoundError:
                    continue  # moved away meanwhile
                meta = {"via": "maildir", "file": name, "size": size}
                stored = store_mail(session, f"maildir:{_unique(name)}", body, meta, reason)
                created += stored.created
                result.quarantined += bool(reason and stored.created)
                if reason:
                    log.warning("%s: %s", path, reason)
                done.append(name)
        # Committed: now the file may leave new/.
        for name in done:
            target = _unique(name) + ":2,S"
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.root / "new" / name, self.root / "cur" / target)
        result.seen += len(done)
        result.stored += created
        if created:
            self.on_stored(created)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.scan_once)
            except Exception:  # a bad file or a database hiccup: log, keep watching
                log.exception("scanning %s failed; trying again", self.root)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
