"""What became of a cluster's inputs: stored, processed, notified; lost and duplicated (tests.cluster).

`Ledger(cluster, inputs)` reads the database and the sinks once:

- inputs: each found again among the raw messages by its number (see
  tests.cluster_inputs); *lost* if acknowledged but not stored, or stored but
  never processed; *duplicated* if stored more than once or turned into more
  than one report (a raw message processed twice), except *re-sent*: an
  events-API post stored again because its sender retried after the 2xx was
  lost (a web process killed between its commit and its answer). That API
  has no delivery id, and by its contract a repeat is a new event
  (core.web.webhooks_events): each copy is one raw message and one report.
- notifications: every outbox row (planned) against what each channel's sink
  received, identified exactly: email by `X-Intake-Notification: <row id>; kind`
  and its Message-ID (the one the row recorded), webhooks by
  `X-Intake-Delivery: <row id>`. A Telegram message carries no id, so each
  Telegram row is rendered as the delivery worker renders it and the
  sendMessage calls to the notification chat are matched by (chat, text):
  exact as long as no two rows read alike, which a row's incident ref and
  event make so. *lost*: planned but not received; *duplicated*: the system
  made or sent a notification twice (two outbox rows for one incident event
  and recipient, or one row's mail under two Message-IDs); *re-sent*: one
  row arriving again, the at-least-once re-send of a worker killed between a
  send and the commit recording it (notify.delivery). Email and webhooks
  carry the row's own id (Message-ID, X-Intake-Delivery), by which the
  receiver drops the copy; a Telegram chat shows it.

`table()` prints both as rows; `problems()` lists every lost, duplicated or
re-sent item by name, for an assertion message. `settle(cluster, inputs)` waits until
nothing is pending.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from core.models import (
    IGNORED,
    PENDING,
    PROCESSED,
    QUARANTINED,
    Incident,
    RawMessage,
    StoredReport,
)
from core.models_notify import PENDING as OUTBOX_PENDING
from core.models_notify import SENT, DigestRun, OutboxMessage
from notify.channel_smtp import HEADER
from notify.render import Renderer
from notify.samples import template_context
from notify.telegram_send import split_html
from tests.cluster_inputs import SOURCES, Input

if TYPE_CHECKING:
    from tests.cluster import Cluster

_MAIL_INPUT = re.compile(rb"^X-Scale-Input: (\d+)\r?$", re.MULTILINE)
_JSON_INPUT = re.compile(rb'"scale_input": "(\d+)"')
_REQUEST_INPUT = re.compile(r"^scale-\d+-(\d+)$")
CHANNELS = ("email", "telegram", "webhook")
EVENT_KINDS = ("declared", "triage_needed", "resolved")  # each at most once per incident


@dataclass
class Row:
    """One line of the table."""

    name: str
    planned: int = 0  # inputs sent / notifications planned
    acked: int = 0  # inputs acknowledged / notifications marked sent
    stored: int = 0
    processed: int = 0
    received: int = 0  # notifications that reached the sink
    lost: int = 0
    duplicated: int = 0
    resent: int = 0  # at-least-once copies: see the module's docstring


class Ledger:
    def __init__(self, cluster: Cluster, inputs: list[Input]) -> None:
        self.inputs = {s: Row(s) for s in SOURCES}
        self.notifications = {c: Row(c) for c in CHANNELS}
        self.incidents = self.resolved = self.reports = 0
        self.digests = self.digest_rows = 0  # digest periods claimed; digest outbox rows
        self.unknown_raw = 0  # raw messages that match no input (should be none)
        self.missing: list[str] = []  # what was lost or doubled, by name
        self.retried: list[str] = []  # raw or outbox rows that failed at least once
        self._count_inputs(cluster, inputs)
        self._count_notifications(cluster)

    # --- inputs -------------------------------------------------------------------------

    def _count_inputs(self, cluster: Cluster, inputs: list[Input]) -> None:
        by_update = {i.update_id: i.n for i in inputs if i.update_id is not None}
        raws: dict[int, list[tuple[int, str]]] = {}
        errors: dict[int, str] = {}
        with cluster.engine.connect() as db:
            for raw_id, source, key, status, body, error, attempts in db.execute(
                select(
                    RawMessage.id,
                    RawMessage.source,
                    RawMessage.natural_key,
                    RawMessage.status,
                    RawMessage.body,
                    RawMessage.last_error,
                    RawMessage.attempts,
                )
            ):
                n = _input_number(source, key, body, by_update)
                if n is None:
                    self.unknown_raw += 1
                    continue
                raws.setdefault(n, []).append((raw_id, status))
                if error:
                    errors[raw_id] = error
                if attempts:
                    self.retried.append(f"raw {raw_id} ({source}, {status}): {error}")
            reports = Counter(
                dict(db.execute(select(StoredReport.raw_id, func.count()).group_by("raw_id")).all())
            )
            self.reports = sum(reports.values())
            self.incidents = db.scalar(select(func.count()).select_from(Incident)) or 0
            self.resolved = (
                db.scalar(
                    select(func.count())
                    .select_from(Incident)
                    .where(Incident.status.in_(("resolved", "closed")))
                )
                or 0
            )
            self.digests = db.scalar(select(func.count()).select_from(DigestRun)) or 0
        for item in inputs:
            row = self.inputs[item.source]
            row.planned += 1
            row.acked += item.acked
            found = raws.get(item.n, [])
            row.stored += bool(found)
            done = [r for r, status in found if status in (PROCESSED, IGNORED)]
            row.processed += bool(done)
            made = sum(reports[r] for r, _ in found)
            if item.acked and (not found or not done):
                row.lost += 1
                state = found[0][1] if found else "not stored"
                error = errors.get(found[0][0], "") if found else ""
                self.missing.append(f"input {item.n} ({item.group}) lost: {state} {error}")
            if item.source == "events" and len(found) == made > 1:
                row.resent += 1
                self.missing.append(f"input {item.n} ({item.group}) re-sent: stored {made} times")
            elif len(found) > 1 or made > 1:
                row.duplicated += 1
                self.missing.append(
                    f"input {item.n} ({item.group}) doubled: {len(found)} raw, {made} reports"
                )

    # --- notifications ---------------------------------------------------------------

    def _count_notifications(self, cluster: Cluster) -> None:
        from tests.cluster import NOTIFY_CHAT

        with cluster.engine.connect() as db:
            rows = db.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.incident_id,
                    OutboxMessage.kind,
                    OutboxMessage.audience,
                    OutboxMessage.channel,
                    OutboxMessage.recipient,
                    OutboxMessage.state,
                    OutboxMessage.message_id,
                    OutboxMessage.context,
                    OutboxMessage.attempts,
                    OutboxMessage.last_error,
                ).order_by(OutboxMessage.id)
            ).all()
        self.digest_rows = sum(r.kind == "digest" for r in rows)
        mails = _mail_counts(cluster)
        hooks = cluster.webhook_sink.counts() if cluster.webhook_sink else Counter()
        chats: Counter[tuple[int, str]] = Counter()
        if cluster.botapi is not None:
            for sent in list(cluster.botapi.sent):
                if int(sent["chat_id"]) == NOTIFY_CHAT:
                    chats[(NOTIFY_CHAT, str(sent["text"]))] += 1
        renderer = Renderer(None)
        telegram_rows: list[tuple[int, str, list[tuple[int, str]]]] = []
        for r in rows:
            if r.attempts > 1:
                self.retried.append(f"outbox {r.id} ({r.channel}, {r.state}): {r.last_error}")
            line = self.notifications[r.channel]
            line.planned += 1
            line.acked += r.state == SENT
            if r.channel == "email":
                received = mails.get(str(r.id), [])
                count = len(received)
                if under_two_ids(received, r.message_id):
                    line.duplicated += 1
                    self.missing.append(f"outbox {r.id}: sent under Message-IDs {set(received)}")
            elif r.channel == "webhook":
                count = hooks.get(str(r.id), 0)
            else:
                rendered = renderer.message(
                    "telegram", r.kind, template_context(r.kind, r.audience, r.context)
                )
                parts = [(int(r.recipient), part) for part in split_html(rendered.html)]
                telegram_rows.append((r.id, r.kind, parts))
                continue
            self._tally(line, r.id, r.kind, count)
        for row_id, kind, count in _match_texts(telegram_rows, chats):
            self._tally(self.notifications["telegram"], row_id, kind, count)
        twice: Counter[tuple[Any, ...]] = Counter(
            (r.incident_id, r.kind, r.channel, r.recipient) for r in rows if r.kind in EVENT_KINDS
        )
        for (incident, kind, channel, recipient), n in twice.items():
            if n > 1:
                self.notifications[channel].duplicated += 1
                self.missing.append(f"INC-{incident} {kind} planned {n} times for {recipient}")

    def _tally(self, line: Row, row_id: int, kind: str, received: int) -> None:
        line.received += min(received, 1)
        if received == 0:
            line.lost += 1
            self.missing.append(f"outbox {row_id} ({line.name} {kind}) never received")
        elif received > 1:
            line.resent += 1
            self.missing.append(f"outbox {row_id} ({line.name} {kind}) re-sent: {received} copies")

    # --- output ---------------------------------------------------------------------------

    @property
    def lost(self) -> int:
        rows = [*self.inputs.values(), *self.notifications.values()]
        return sum(r.lost for r in rows)

    @property
    def duplicated(self) -> int:
        rows = [*self.inputs.values(), *self.notifications.values()]
        return sum(r.duplicated for r in rows)

    @property
    def resent(self) -> int:
        rows = [*self.inputs.values(), *self.notifications.values()]
        return sum(r.resent for r in rows)

    def problems(self) -> list[str]:
        found = list(self.missing)
        if self.unknown_raw:
            found.append(f"{self.unknown_raw} raw message(s) match no input")
        return found

    def table(self) -> str:
        head = f"{'inputs':<14}{'sent':>7}{'acked':>7}{'stored':>8}{'processed':>11}"
        head += f"{'lost':>6}{'duplicated':>12}{'re-sent':>9}"
        lines = [head]
        total = Row("total")
        for row in self.inputs.values():
            lines.append(_input_line(row))
            for name in ("planned", "acked", "stored", "processed", "lost", "duplicated", "resent"):
                setattr(total, name, getattr(total, name) + getattr(row, name))
        lines.append(_input_line(total))
        lines.append(
            f"reports {self.reports}, incidents {self.incidents} ({self.resolved} resolved), "
            f"digest periods {self.digests} ({self.digest_rows} digest messages)"
        )
        if self.retried:
            lines.append(f"done after a failed attempt: {len(self.retried)}")
            lines += [f"  {line[:300]}" for line in self.retried[:10]]
        lines.append("")
        lines.append(
            f"{'notifications':<14}{'planned':>8}{'sent':>7}{'received':>10}"
            f"{'lost':>6}{'duplicated':>12}{'re-sent':>9}"
        )
        total = Row("total")
        for row in self.notifications.values():
            lines.append(_notification_line(row))
            for name in ("planned", "acked", "received", "lost", "duplicated", "resent"):
                setattr(total, name, getattr(total, name) + getattr(row, name))
        lines.append(_notification_line(total))
        if self.resent:
            lines.append(
                "re-sent: a copy sent again after a process died between the send and its record "
                "(at-least-once); email and webhook copies carry the first one's id, by which "
                "the receiver drops them"
            )
        return "\n".join(lines)


def _input_line(row: Row) -> str:
    return (
        f"{row.name:<14}{row.planned:>7}{row.acked:>7}{row.stored:>8}{row.processed:>11}"
        f"{row.lost:>6}{row.duplicated:>12}{row.resent:>9}"
    )


def _notification_line(row: Row) -> str:
    return (
        f"{row.name:<14}{row.planned:>8}{row.acked:>7}{row.received:>10}"
        f"{row.lost:>6}{row.duplicated:>12}{row.resent:>9}"
    )


def _input_number(source: str, key: str, body: bytes, by_update: dict[int, int]) -> int | None:
    match: Any = None
    if source == "email":
        match = _MAIL_INPUT.search(body.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0])
    elif source == "sentry":
        match = _REQUEST_INPUT.match(key)
    elif source in ("alertmanager", "events"):
        match = _JSON_INPUT.search(body)
    elif source == "telegram":
        return by_update.get(int(key)) if key.isdigit() else None
    return int(match.group(1)) if match else None


def _match_texts(
    rows: list[tuple[int, str, list[tuple[int, str]]]], sent: Counter[tuple[int, str]]
) -> list[tuple[int, str, int]]:
    """How many times each row's text arrived: rows reading alike share the sends in order."""
    left = Counter(sent)
    counts = {}
    for row_id, _kind, parts in rows:
        got = bool(parts) and all(left[p] > 0 for p in parts)
        if got:
            left.subtract(parts)
        counts[row_id] = int(got)
    for row_id, _kind, parts in rows:  # whatever is left over arrived once too often
        extra = min((left[p] for p in parts), default=0)
        if extra > 0 and counts[row_id]:
            counts[row_id] += extra
            left.subtract({p: extra for p in parts})
    return [(row_id, kind, counts[row_id]) for row_id, kind, _parts in rows]


def under_two_ids(message_ids: list[str], recorded: str | None) -> bool:
    """Whether one outbox row's mails came under more than one Message-ID (or not the one the
    row recorded): a person sees those twice. Copies under one id are the re-send a mail
    system drops."""
    return len(set(message_ids)) > 1 or any(recorded and mid != recorded for mid in message_ids)


def _mail_counts(cluster: Cluster) -> dict[str, list[str]]:
    """Outbox row id -> the Message-IDs of each mail received for it."""
    received: dict[str, list[str]] = {}
    parser = BytesHeaderParser(policy=compat32)
    for message in list(cluster.smtp.messages):
        headers = parser.parsebytes(message.data, headersonly=True)
        row_id = str(headers.get(HEADER, "")).split(";", 1)[0].strip()
        received.setdefault(row_id, []).append(str(headers.get("Message-ID", "")).strip())
    return received


def settle(
    cluster: Cluster, inputs: list[Input], timeout: float = 120.0, trace: list[str] | None = None
) -> float:
    """Wait until every acknowledged input is stored and processed and the outbox is empty.

    A raw message quarantined for a retry (after a failure) is still on its way.

    Returns the seconds waited; `trace` gets a line per look. Raises
    AssertionError with the counts on timeout.
    """
    started = time.monotonic()
    acked = sum(i.acked for i in inputs)
    calm = 0
    while True:
        with cluster.engine.connect() as db:
            stored = db.scalar(select(func.count()).select_from(RawMessage)) or 0
            pending = (
                db.scalar(
                    select(func.count())
                    .select_from(RawMessage)
                    .where(
                        (RawMessage.status == PENDING)
                        | (
                            (RawMessage.status == QUARANTINED)
                            & RawMessage.next_attempt_at.is_not(None)
                        )
                    )
                )
                or 0
            )
            outbox = (
                db.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.state == OUTBOX_PENDING)
                )
                or 0
            )
        done = stored >= acked and pending == 0 and outbox == 0
        if trace is not None:
            trace.append(
                f"{time.monotonic() - started:5.1f} s: {stored} stored, {pending} raw and "
                f"{outbox} notifications pending"
            )
        calm = calm + 1 if done else 0
        if calm >= 3:  # three quiet looks in a row: nothing was still on its way
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(
                f"not settled in {timeout} s: {stored}/{acked} stored, {pending} raw pending, "
                f"{outbox} notifications pending"
            )
        time.sleep(0.5)


class QuarantineWatch:
    """Notes every raw message quarantined while it runs, with its error.

    A retry that succeeds clears the error from the row, so a test that wants
    to know what failed along the way has to look while it happens.
    """

    def __init__(self, cluster: Cluster, every: float = 0.5) -> None:
        self.cluster = cluster
        self.every = every
        self.seen: dict[int, str] = {}
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> QuarantineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self._thread.join()

    def _watch(self) -> None:
        query = select(RawMessage.id, RawMessage.source, RawMessage.last_error).where(
            RawMessage.status == QUARANTINED
        )
        while not self._halt.wait(self.every):
            with contextlib.suppress(Exception), self.cluster.engine.connect() as db:
                for raw_id, source, error in db.execute(query):
                    self.seen.setdefault(raw_id, f"raw {raw_id} ({source}): {error}")
