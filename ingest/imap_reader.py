"""Read one IMAP folder from its cursor: store new mail, commit, and only then acknowledge it.

Per batch of UIDs: FETCH the sizes, FETCH `BODY.PEEK[]` (headers only for
mail over `max_bytes`), store every message and advance the cursor in one
transaction, commit, then set `\\Seen`, move or delete those UIDs. A crash
after the commit and before the acknowledgement leaves stored mail
unacknowledged; the next connection finishes that first (`catch_up`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from imapclient import DELETED, SEEN, IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.config_email import MailboxConfig
from core.db import transaction
from core.models import now
from core.models_email import MailboxCursor
from ingest import imap_fetch as fetch
from ingest.imap_store import oversize_reason, store_mail

log = logging.getLogger("intake.imap")

BATCH = 200  # messages per FETCH and per transaction
BATCH_BYTES = 16 * 1024 * 1024  # and at most this much mail held in memory at once


class FolderMissing(Exception):
    pass


@dataclass
class SyncResult:
    fetched: int = 0
    stored: int = 0  # new rows (the rest were already stored)
    quarantined: int = 0
    acknowledged: int = 0
    rescanned: bool = False  # UIDVALIDITY changed: the folder was read again from the start


def natural_key(mailbox: str, folder: str, uidvalidity: int, uid: int) -> str:
    return f"imap:{mailbox}/{folder}/{uidvalidity}/{uid}"


def _batches(sizes: dict[int, int], limit: int, most: int = BATCH) -> list[list[int]]:
    batches: list[list[int]] = []
    current: list[int] = []
    held = 0
    for uid in sorted(sizes):
        size = min(sizes[uid], limit)
        if current and (len(current) >= most or held + size > BATCH_BYTES):
            batches.append(current)
            current, held = [], 0
        current.append(uid)
        held += size
    if current:
        batches.append(current)
    return batches


class FolderReader:
    def __init__(
        self,
        box: MailboxConfig,
        folder: str,
        factory: sessionmaker[Session],
        on_stored: Callable[[int], None] | None = None,
        batch: int = BATCH,
    ) -> None:
        self.box = box
        self.batch = batch
        self.folder = folder
        self.factory = factory
        self.on_stored = on_stored  # told how many new rows were committed (wakes the pipeline)
        self._caught_up_on: IMAPClient | None = None  # the connection that last caught up

    def select(self, client: IMAPClient) -> int:
        if not client.folder_exists(self.folder):
            raise FolderMissing(f"folder {self.folder!r} does not exist in {self.box.name}")
        info = client.select_folder(self.folder)
        return int(info[b"UIDVALIDITY"])

    def _cursor(self, session: Session) -> MailboxCursor | None:
        return session.scalar(
            select(MailboxCursor).where(
                MailboxCursor.mailbox == self.box.name, MailboxCursor.folder == self.folder
            )
        )

    def position(self, uidvalidity: int) -> tuple[int, bool]:
        """(last stored UID under this UIDVALIDITY, whether the folder's UIDVALIDITY changed)."""
        with self.factory() as session:
            cursor = self._cursor(session)
        if cursor is None:
            return 0, False
        if cursor.uidvalidity != uidvalidity:
            log.warning(
                "%s/%s: UIDVALIDITY changed from %s to %s; reading the folder again "
                "(mail already stored is recognised by Message-ID and content, not doubled)",
                self.box.name,
                self.folder,
                cursor.uidvalidity,
                uidvalidity,
            )
            return 0, True
        return cursor.last_uid, False

    def sync(self, client: IMAPClient) -> SyncResult:
        """Store everything new in the folder; returns what happened."""
        uidvalidity = self.select(client)
        last_uid, changed = self.position(uidvalidity)
        result = SyncResult(rescanned=changed)
        if self._caught_up_on is not client:
            # A new connection: the previous one may have died between commit and acknowledgement.
            result.acknowledged += self.catch_up(client, last_uid)
            self._caught_up_on = client
        # Read until a fresh look finds nothing new: mail that lands during a read is
        # announced in the middle of it, and the idle that follows would not hear of it.
        seen_any = False
        while sizes := fetch.sizes_from(client, last_uid + 1):
            self._read(client, uidvalidity, sizes, result)
            last_uid = max(sizes)
            seen_any = True
        if changed and not seen_any:
            self._save_cursor_only(uidvalidity, last_uid)
        return result

    def _read(
        self, client: IMAPClient, uidvalidity: int, sizes: dict[int, int], result: SyncResult
    ) -> None:
        # Fetch batch k+1 while batch k is stored and committed in a second thread
        # (the IMAP connection stays on this one); acknowledge k once its commit is done.
        with ThreadPoolExecutor(1, thread_name_prefix="imap-store") as storer:
            pending: tuple[Future[tuple[int, int]], list[int]] | None = None
            for uids in _batches(sizes, self.box.max_bytes, self.batch):
                found = self._fetch(client, uids, sizes)
                if pending is not None:
                    self._finish(client, *pending, result)
                job = storer.submit(self._commit, uidvalidity, uids, found, sizes)
                pending = (job, sorted(found))
            if pending is not None:
                self._finish(client, *pending, result)

    def _fetch(self, client: IMAPClient, uids: list[int], sizes: dict[int, int]) -> dict[int, Any]:
        small = [u for u in uids if sizes[u] <= self.box.max_bytes]
        large = [u for u in uids if sizes[u] > self.box.max_bytes]
        found: dict[int, Any] = {u: (b, None) for u, b in fetch.bodies(client, small).items()}
        for uid, head in fetch.bodies(client, large, "HEADER").items():
            found[uid] = (head, oversize_reason(sizes[uid], self.box.max_bytes))
        return found

    def _finish(
        self,
        client: IMAPClient,
        job: Future[tuple[int, int]],
        uids: list[int],
        result: SyncResult,
    ) -> None:
        created, quarantined = job.result()  # raises if the commit failed: acknowledge nothing
        # Committed: only now may the server forget about these messages.
        result.fetched += len(uids)
        result.stored += created
        result.quarantined += quarantined
        result.acknowledged += self.acknowledge(client, uids)

    def _commit(
        self, uidvalidity: int, uids: list[int], bodies: dict[int, Any], sizes: dict[int, int]
    ) -> tuple[int, int]:
        """Store one batch and advance the cursor in one transaction; (new rows, quarantined)."""
        created = quarantined = 0
        with transaction(self.factory) as session:
            for uid in uids:
                if uid not in bodies:
                    # Expunged by someone else between the two FETCHes: nothing to keep.
                    log.info(
                        "%s/%s: UID %s vanished before it was read", self.box.name, self.folder, uid
                    )
                    continue
                body, reason = bodies[uid]
                meta = {
                    "via": "imap",
                    "mailbox": self.box.name,
                    "folder": self.folder,
                    "uidvalidity": uidvalidity,
                    "uid": uid,
                    "size": sizes[uid],
                }
                key = natural_key(self.box.name, self.folder, uidvalidity, uid)
                stored = store_mail(session, key, bytes(body), meta, reason)
                created += stored.created
                quarantined += bool(reason and stored.created)
                if reason:
                    log.warning("%s/%s UID %s: %s", self.box.name, self.folder, uid, reason)
            self._advance(session, uidvalidity, max(uids))
        if created and self.on_stored is not None:
            self.on_stored(created)  # in this thread too: triage overlaps the next FETCH
        return created, quarantined

    def _advance(self, session: Session, uidvalidity: int, last_uid: int) -> None:
        cursor = self._cursor(session)
        if cursor is None:
            session.add(
                MailboxCursor(
                    mailbox=self.box.name,
                    folder=self.folder,
                    uidvalidity=uidvalidity,
                    last_uid=last_uid,
                    updated_at=now(),
                )
            )
            return
        if cursor.uidvalidity != uidvalidity:
            cursor.uidvalidity = uidvalidity
            cursor.last_uid = last_uid
        else:
            cursor.last_uid = max(cursor.last_uid, last_uid)
        cursor.updated_at = now()

    def _save_cursor_only(self, uidvalidity: int, last_uid: int) -> None:
        with transaction(self.factory) as session:
            self._advance(session, uidvalidity, last_uid)

    def acknowledge(self, client: IMAPClient, uids: Sequence[int]) -> int:
        """Tell the server the stored messages are ours: \\Seen, moved or deleted."""
        if not uids:
            return 0
        uids = list(uids)
        if self.box.after == "seen":
            client.add_flags(uids, [SEEN], silent=True)
        elif self.box.after == "move":
            assert self.box.move_to is not None
            if client.has_capability("MOVE"):
                client.move(uids, self.box.move_to)
            else:
                client.copy(uids, self.box.move_to)
                self._expunge(client, uids)
        else:
            self._expunge(client, uids)
        return len(uids)

    def _expunge(self, client: IMAPClient, uids: list[int]) -> None:
        client.add_flags(uids, [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()

    def catch_up(self, client: IMAPClient, last_uid: int) -> int:
        """Acknowledge mail stored by an earlier run that stopped before acknowledging it."""
        if last_uid <= 0:
            return 0
        criteria: list[Any] = ["UID", f"1:{last_uid}"]
        if self.box.after == "seen":
            criteria = ["UNSEEN", *criteria]
        else:
            criteria = ["UNDELETED", *criteria] if self.box.after == "move" else criteria
        waiting = [u for u in client.search(criteria) if u <= last_uid]
        if waiting:
            log.info(
                "%s/%s: acknowledging %d stored message(s) left from an interrupted run",
                self.box.name,
                self.folder,
                len(waiting),
            )
        return self.acknowledge(client, waiting)
