"""The delivery worker: claims due outbox rows, sends them, records the outcome durably.

Claiming leases a batch (FOR UPDATE SKIP LOCKED on PostgreSQL, so several
workers share the outbox) by pushing its next attempt past the lease and
committing; the sending happens outside any transaction, so a slow SMTP
server never holds a database lock. Each outcome is its own durable commit
(SQLite synchronous=FULL, PostgreSQL synchronous_commit on): a message
marked sent stays sent after a power loss. A crash between sending and that
commit sends the row once more when its lease runs out, with the same
Message-ID, so mail clients show it once.

The lease is short (a killed worker's rows go out a minute later, sent by
another), so a worker never starts a send once half of it is spent: it hands
the rest of the batch back instead of sending rows another worker may have
taken meanwhile. If the database goes away after a send, the worker keeps
what it sent and records it first thing on its next round, within the lease.

Failures back off exponentially with jitter (30 s, 1 min, 2 min ... capped
at an hour, each 0.5x-1.5x); after the attempt cap (default 8) or a
permanent refusal the row is dead-lettered for `intake outbox resend`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, select, update

from core.config_notify import NotifyConfig
from core.db import is_postgres, transaction
from core.models import now, table
from core.models_notify import DEAD, PENDING, SENT, OutboxMessage
from core.outbox import base_url
from core.runtime import Runtime
from core.service import Component
from notify.channel_file import FileChannel
from notify.channel_smtp import (
    Envelope,
    PermanentError,
    SmtpChannel,
    build_email,
    message_id,
    sender_domain,
)
from notify.channel_webhook import WebhookChannel
from notify.chat_rate_limit import ChatBusy
from notify.render import Rendered, Renderer
from notify.samples import template_context

log = logging.getLogger("intake.notify")
_OUT = table(OutboxMessage)
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0
LEASE = timedelta(seconds=60)  # a dead worker's claimed rows wait this long for another
SENT_COMMIT_EVERY = 25  # messages marked sent per durable commit, at most
SENT_COMMIT_SECONDS = 0.5  # and at least this often
_MARK_SENT = (
    update(_OUT)
    .where(_OUT.c.id == bindparam("row"))
    .values(
        state=SENT,
        sent_at=bindparam("at"),
        attempts=bindparam("attempts"),
        message_id=bindparam("mid"),
        thread_root=bindparam("root"),
        last_error=None,
        next_attempt_at=None,
    )
)
FALLBACK_FROM = "intake <intake@localhost.localdomain>"


class TelegramSender(Protocol):
    def send(self, chat_id: int, html: str, not_after: float | None = None) -> None: ...


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
    """Exponential with jitter, so many failed rows do not all retry in the same second."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return timedelta(seconds=delay * (0.5 + rng()))


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.dead


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    incident_id: int | None
    audience: str
    channel: str
    recipient: str
    context: dict[str, Any]
    attempts: int
    created_at: datetime
    message_id: str | None


class Delivery:
    """Sends what the outbox holds, through the configured channels or into files."""

    name = "notify-delivery"

    def __init__(
        self,
        rt: Runtime,
        *,
        clock: Callable[[], datetime] = now,
        rng: Callable[[], float] = random.random,
        batch: int = 100,
        idle_seconds: float = 2.0,
        renderer: Renderer | None = None,
        telegram: TelegramSender | None = None,
        webhook: WebhookChannel | None = None,
        worker_id: str = "",
    ) -> None:
        self.rt = rt
        self.config: NotifyConfig = rt.config.notify
        self.clock = clock
        self.rng = rng
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.renderer = renderer or Renderer(self.config.templates_folder)
        self.telegram = telegram
        self.webhook = webhook
        self.files = FileChannel(self.config.outbox_dir)
        smtp = self.config.smtp
        self.smtp = SmtpChannel(smtp) if smtp is not None else None
        self.sender = smtp.sender if smtp else FALLBACK_FROM
        self.reply_to = smtp.incident_address if smtp else "incidents@localhost.localdomain"
        self.domain = sender_domain(self.sender)
        self.base_url = base_url(rt.config)
        self._roots: dict[int, str | None] = {}
        self._sent: list[dict[str, Any]] = []
        self._rendered: dict[tuple[str, str, str, str], Rendered] = {}
        self._send_by: float | None = None  # time.monotonic() a send must not wait past
        self._since = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            stats = await asyncio.to_thread(self.deliver_due)
            if stats.handled:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.idle_seconds)

    def claim(self) -> list[Claimed]:
        # The claim is a durable commit (rt.factory). The pipeline writes outbox rows in
        # relaxed commits (rt.work), but the log is sequential: SQLite's fsync of the WAL,
        # PostgreSQL's flush up to this commit record, make every earlier commit durable
        # too. So nothing is sent whose cause a power loss could still take back and
        # redo as a new row with a new Message-ID.
        at = self.clock()
        with transaction(self.rt.factory) as session:
            query = (
                select(OutboxMessage)
                .where(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= at)
                .order_by(OutboxMessage.id)
                .limit(self.batch)
            )
            if is_postgres(self.rt.engine):
                query = query.with_for_update(skip_locked=True)
            rows = session.scalars(query).all()
            claimed = [
                Claimed(
                    r.id,
                    r.kind,
                    r.incident_id,
                    r.audience,
                    r.channel,
                    r.recipient,
                    dict(r.context),
                    r.attempts,
                    r.created_at,
                    r.message_id,
                )
                for r in rows
            ]
            if claimed:
                session.execute(
                    update(_OUT)
                    .where(_OUT.c.id.in_([c.id for c in claimed]))
                    .values(next_attempt_at=at + LEASE)
                )
        return claimed

    def deliver_due(self, limit: int | None = None) -> DeliveryStats:
        """Deliver due rows, a batch at a time, until none is due (or `limit` were handled)."""
        stats = DeliveryStats()
        try:
            self._mark_sent()  # what a round cut short by a database outage had sent
            while limit is None or stats.handled < limit:
                claimed = self.claim()
                if not claimed:
                    break
                leased_at = self.clock()
                # A send held by a chat's rate limit must not outlast the lease either.
                self._send_by = time.monotonic() + LEASE.total_seconds() / 2
                self._roots.clear()
                self._rendered.clear()  # templates may change between batches, never within
                for index, row in enumerate(claimed):
                    if self.clock() - leased_at > LEASE / 2:
                        self._give_back(claimed[index:])
                        break
                    self._deliver(row, stats)
                self._mark_sent()
        finally:
            self._mark_sent()
            if self.smtp is not None:
                self.smtp.close()
        return stats

    def _deliver(self, row: Claimed, stats: DeliveryStats) -> None:
        mid = row.message_id or message_id(row.id, row.created_at, self.domain)
        root = self._thread_root(row) if row.channel == "email" else None
        try:
            self._send(row, mid, root)
        except ChatBusy as exc:  # the group has room again in exc.wait seconds
            self._give_back([row], after=exc.wait)
            log.info("outbox %s: chat %s busy for %.0f s", row.id, row.recipient, exc.wait)
            return
        except Exception as exc:
            self._failed(row, exc, mid, root, stats)
            return
        self._sent.append(
            {
                "row": row.id,
                "attempts": row.attempts + 1,
                "mid": mid if row.channel == "email" else None,
                "root": root,
                "at": self.clock(),
            }
        )
        stats.sent += 1
        if (
            row.channel == "telegram"  # a chat cannot drop a second copy by its id: record now
            or len(self._sent) >= SENT_COMMIT_EVERY
            or time.monotonic() - self._since > SENT_COMMIT_SECONDS
        ):
            self._mark_sent()

    def _mark_sent(self) -> None:
        """One durable commit for the messages sent since the last: a fsync per message would
        halve the rate. A crash before it re-sends at most these few, once, with the same
        Message-ID or X-Intake-Delivery id, by which the receiver drops the copy. A Telegram
        message carries no such id, so each is recorded as soon as it is sent."""
        self._since = time.monotonic()
        if not self._sent:
            return
        sent, self._sent = self._sent, []
        try:
            with transaction(self.rt.factory) as session:
                session.connection().execute(_MARK_SENT, sent)
        except Exception:
            self._sent = sent + self._sent  # they did go out: record them on the next round
            raise

    def _give_back(self, rows: list[Claimed], after: float = 0.0) -> None:
        """Unsent rows, due again for anyone `after` seconds from now, no attempt spent: the
        rest of a batch that outlasted half its lease, or a message for a busy group chat."""
        with transaction(self.rt.factory) as session:
            session.execute(
                update(_OUT)
                .where(_OUT.c.id.in_([r.id for r in rows]), _OUT.c.state == PENDING)
                .values(next_attempt_at=self.clock() + timedelta(seconds=after))
            )

    def _failed(
        self, row: Claimed, exc: BaseException, mid: str, root: str | None, stats: DeliveryStats
    ) -> None:
        attempts = row.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:2000]
        dead = isinstance(exc, PermanentError) or attempts >= self.config.attempts
        at = self.clock()
        with transaction(self.rt.factory) as session:
            session.execute(
                update(_OUT)
                .where(_OUT.c.id == row.id)
                .values(
                    state=DEAD if dead else PENDING,
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=None if dead else at + backoff(attempts, self.rng),
                    message_id=mid if row.channel == "email" else None,
                    thread_root=root,
                )
            )
        stats.errors.append(f"outbox {row.id}: {error}")
        if dead:
            stats.dead += 1
            log.warning("outbox %s dead after %s attempt(s): %s", row.id, attempts, error)
        else:
            stats.retried += 1

    def _thread_root(self, row: Claimed) -> str | None:
        """The Message-ID of the first stakeholder mail about the incident."""
        if row.incident_id is None or row.kind in ("ack", "digest"):
            return None
        if row.incident_id not in self._roots:
            with self.rt.factory() as session:
                first = session.execute(
                    select(OutboxMessage.id, OutboxMessage.created_at)
                    .where(
                        OutboxMessage.incident_id == row.incident_id,
                        OutboxMessage.channel == "email",
                        OutboxMessage.kind.not_in(("ack", "digest")),
                    )
                    .order_by(OutboxMessage.id)
                    .limit(1)
                ).first()
            self._roots[row.incident_id] = (
                message_id(first.id, first.created_at, self.domain) if first else None
            )
        return self._roots[row.incident_id]

    def _send(self, row: Claimed, mid: str, root: str | None) -> None:
        rendered = self._render(row)
        to_file = self.config.channel == "file"
        if row.channel == "email":
            ack = row.context.get("ack") or {}
            envelope = Envelope(
                row_id=row.id,
                kind=row.kind,
                recipient=row.recipient,
                message_id=mid,
                thread_root=root,
                in_reply_to=ack.get("in_reply_to") or None,
                incident_ref=str(row.context.get("ref", "")),
            )
            message = build_email(self.sender, self.reply_to, envelope, rendered)
            if to_file or self.smtp is None:
                self.files.write(row.id, row.kind, row.recipient, ".eml", message)
            else:
                self.smtp.send(message, row.recipient)
        elif row.channel == "telegram":
            if to_file or self.telegram is None:
                self.files.write(row.id, row.kind, row.recipient, ".txt", rendered.html.encode())
            else:
                self.telegram.send(int(row.recipient), rendered.html, self._send_by)
        elif row.channel == "webhook":
            if to_file:
                self.files.write(row.id, row.kind, "webhook", ".json", rendered.json.encode())
                return
            secret = self._webhook_secret(row)
            if self.webhook is None:
                self.webhook = WebhookChannel()
            self.webhook.send(row.recipient, secret, rendered.json, row.id)
        else:
            raise PermanentError(f"unknown channel {row.channel!r}")

    def _render(self, row: Claimed) -> Rendered:
        """One event fans out to many recipients with the same context: render it once."""
        key = (row.channel, row.kind, row.audience, json.dumps(row.context, sort_keys=True))
        rendered = self._rendered.get(key)
        if rendered is None:
            context = template_context(row.kind, row.audience, row.context)
            rendered = self.renderer.message(row.channel, row.kind, context)
            if len(self._rendered) > 256:
                self._rendered.clear()
            self._rendered[key] = rendered
        return rendered

    def _webhook_secret(self, row: Claimed) -> str:
        audience = self.config.audience(row.audience)
        hook = (
            next((w for w in audience.webhooks if w.url == row.recipient), None)
            if audience
            else None
        )
        if hook is None:
            raise PermanentError(f"webhook {row.recipient} is no longer configured")
        return hook.secret.read()


def resend(rt: Runtime, ids: list[int] | None = None, dead: bool = False) -> int:
    """Put dead (or the given) rows back in the queue with a fresh attempt count."""
    query = update(_OUT).values(state=PENDING, attempts=0, next_attempt_at=now(), last_error=None)
    if ids:
        query = query.where(_OUT.c.id.in_(ids))
    elif dead:
        query = query.where(_OUT.c.state == DEAD)
    else:
        return 0
    with transaction(rt.factory) as session:
        result: Any = session.execute(query)
        return int(result.rowcount)


def components(rt: Runtime) -> list[Component]:
    """The delivery worker for `intake run` (worker role); templates are checked first."""
    from core.outbox import install_runtime

    install_runtime(rt)
    Renderer(rt.config.notify.templates_folder).check()  # a broken template stops the start
    return [Delivery(rt, telegram=telegram_channel(rt))]


def telegram_channel(rt: Runtime) -> TelegramSender | None:
    """The bot's sender when Telegram is configured and some audience has a chat."""
    if not rt.config.telegram.enabled or not any(a.telegram for a in rt.config.notify.audiences):
        return None
    from notify.channel_telegram import TelegramChannel

    return TelegramChannel.from_config(rt.config.telegram)
