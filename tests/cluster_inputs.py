"""A realistic mix of inputs for a cluster, and the sender that delivers them (tests.cluster).

`make_inputs(count, seed)` builds email, Sentry, Alertmanager, events-API and
Telegram inputs from the shared examples and corpora (read from ../shared,
never copied), re-numbered into threads, issues, alert fingerprints, dedup
keys and reply chains so they group into a realistic number of incidents,
with resolutions towards the end. Every input carries its number where the
source keeps it, which is how the ledger (tests.cluster_ledger) finds it again:

- email: header `X-Scale-Input: N` (and a Message-ID of its own)
- Sentry: `Request-ID: scale-<run>-N`, the natural key
- Alertmanager and events: `"scale_input": "N"` in the alert's annotations /
  the event's custom_details
- Telegram: the update_id the Bot API fixture gave it (`Input.update_id`)

`Sender(cluster).send(inputs)` delivers them: mail by IMAP APPEND into the
Dovecot mailbox, updates queued in the Bot API fixture, webhooks POSTed to the
web processes round-robin, retrying on connection errors and 5xx until a 2xx.
`Input.acked` says the source was told "received" (2xx, APPEND done, update
queued); `Input.status` is the last HTTP status.

A retry is what a real sender does, and most sources make it harmless: Sentry's
Request-ID, Alertmanager's fingerprint + startsAt + status and the mail's
Message-ID are natural keys. An events-API post has none (the route keys each
request by a fresh uuid), so one retried after its answer was lost (the web
process killed between commit and reply) is stored twice.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import CORPORA, EXAMPLES

if TYPE_CHECKING:
    from tests.cluster import Cluster

SOURCES = ("email", "sentry", "alertmanager", "events", "telegram")
# Shares of a mix: roughly what an intake desk sees in a day.
MIX = {"email": 0.2, "sentry": 0.3, "alertmanager": 0.2, "events": 0.2, "telegram": 0.1}
# Inputs per group (thread, issue, fingerprint, dedup key, reply chain), on average.
PER_GROUP = {"email": 8, "sentry": 25, "alertmanager": 12, "events": 15, "telegram": 5}
_SENTRY_DOCS = CORPORA / "sentry-docs/docs/organization/integrations/integration-platform/webhooks"
_ALERTS = CORPORA / "prometheus-msteams/alert/testdata"
_runs = itertools.count(1)


@dataclass
class Input:
    n: int
    source: str
    group: str
    body: bytes
    path: str = ""  # the webhook route; "" for mail and Telegram
    headers: dict[str, str] = field(default_factory=dict)
    update: dict[str, Any] | None = None  # a Telegram Update without its update_id
    update_id: int | None = None
    acked: bool = False
    acked_at: float | None = None  # time.monotonic() of the acknowledgement
    status: int | None = None
    attempts: int = 0


def _read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes())
    return data


class _Templates:
    """The shared files the inputs are made from, read once."""

    def __init__(self) -> None:
        self.mails = [p.read_bytes() for p in sorted(EXAMPLES.glob("*.eml"))]
        self.mails += [
            p.read_bytes() for p in sorted((CORPORA / "set-of-emails/maildir/not").glob("*.eml"))
        ]
        self.sentry_event = _read_json(EXAMPLES / "001-checkout-error-single-customer.sentry.json")
        self.sentry_issue = _read_json(_SENTRY_DOCS / "issues.payload.json")
        self.alerts = [_read_json(_ALERTS / "prom_post_request.json")]
        self.alerts.append(_read_json(_ALERTS / "prom_post_request_2_alerts.json"))
        self.telegram = [_read_json(p) for p in sorted(EXAMPLES.glob("*.telegram.json"))]


def make_inputs(count: int, seed: int = 9, mix: dict[str, float] | None = None) -> list[Input]:
    """`count` inputs in a shuffled order, the resolutions last."""
    rng = random.Random(seed)
    run = f"{int(time.time())}{next(_runs)}"
    shares = mix or MIX
    templates = _Templates()
    counts = {s: int(count * shares.get(s, 0)) for s in SOURCES}
    counts[max(shares, key=lambda s: shares[s])] += count - sum(counts.values())
    numbers = iter(range(1, count + 1))
    build = {
        "email": _emails,
        "sentry": _sentry,
        "alertmanager": _alertmanager,
        "events": _events,
        "telegram": _telegram,
    }
    opening: list[Input] = []
    closing: list[Input] = []
    for source in SOURCES:
        made = build[source](counts[source], numbers, rng, run, templates)
        opening += [i for i in made if not _closes(i)]
        closing += [i for i in made if _closes(i)]
    rng.shuffle(opening)
    rng.shuffle(closing)
    return _in_group_order(opening) + closing


def _in_group_order(items: list[Input]) -> list[Input]:
    """Groups stay interleaved, but within a group the first input (the one a reply
    answers, the alert that opens it) comes first."""
    slots: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        slots.setdefault(item.group, []).append(index)
    ordered = list(items)
    for indexes in slots.values():
        for index, item in zip(
            indexes, sorted((items[i] for i in indexes), key=lambda i: i.n), strict=True
        ):
            ordered[index] = item
    return ordered


def _closes(item: Input) -> bool:
    return item.group.endswith(":resolve")


def _groups(count: int, source: str, rng: random.Random) -> list[int]:
    """A group number for each of `count` inputs, some groups much busier than others."""
    groups = max(1, round(count / PER_GROUP[source]))
    weights = [1.0 / (g + 1) ** 0.6 for g in range(groups)]
    picked = rng.choices(range(groups), weights, k=count)
    return sorted(picked)  # a group's inputs are numbered in order: first one opens it


# --- email --------------------------------------------------------------------------------


def _emails(count: int, numbers: Any, rng: random.Random, run: str, t: _Templates) -> list[Input]:
    out: list[Input] = []
    first: dict[int, tuple[str, Message]] = {}
    now = datetime.now(UTC)
    for group in _groups(count, "email", rng):
        n = next(numbers)
        message_id = f"<scale-{run}-{n}@customer.example>"
        if group not in first:
            mail = message_from_bytes(t.mails[group % len(t.mails)], policy=compat32)
            subject = f"{mail.get('Subject', 'Problem report')} (case {run}-{group})"
            _set(mail, "Subject", subject)
            first[group] = (message_id, mail)
        else:
            root_id, root = first[group]
            mail = message_from_bytes(root.as_bytes(), policy=compat32)
            _set(mail, "Subject", f"Re: {root['Subject']}")
            _set(mail, "In-Reply-To", root_id)
            _set(mail, "References", root_id)
        _set(mail, "Message-ID", message_id)
        _set(mail, "Date", format_datetime(now - timedelta(seconds=count - n)))
        _set(mail, "X-Scale-Input", str(n))
        out.append(Input(n, "email", f"email:{group}", mail.as_bytes()))
    return out


def _set(mail: Message, name: str, value: str) -> None:
    del mail[name]
    mail[name] = value


# --- Sentry ---------------------------------------------------------------------------------


def _sentry(count: int, numbers: Any, rng: random.Random, run: str, t: _Templates) -> list[Input]:
    out: list[Input] = []
    groups = _groups(count, "sentry", rng)
    resolved = {g for g in set(groups) if g % 3 == 0}  # a third of the issues get fixed
    last = {g: k for k, g in enumerate(groups)}
    for k, group in enumerate(groups):
        n = next(numbers)
        issue_id = str(91_000_000 + group)
        if group in resolved and k == last[group] and k > 0 and groups[k - 1] == group:
            payload = copy.deepcopy(t.sentry_issue)
            payload["action"] = "resolved"
            payload["data"]["issue"].update(id=issue_id, status="resolved")
            resource, label = "issue", f"sentry:{group}:resolve"
        else:
            payload = copy.deepcopy(t.sentry_event)
            event = payload["data"]["event"]
            event["issue_id"] = issue_id
            event["event_id"] = hashlib.md5(f"{run}-{n}".encode()).hexdigest()
            event["title"] = f"{event.get('title', 'Error')} [{group}]"
            resource, label = "event_alert", f"sentry:{group}"
        body = json.dumps(payload).encode()
        out.append(
            Input(n, "sentry", label, body, "/webhooks/sentry", _signed(body, resource, run, n))
        )
    return out


def _signed(body: bytes, resource: str, run: str, n: int) -> dict[str, str]:
    from tests.cluster import SENTRY_SECRET

    return {
        "Content-Type": "application/json",
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Timestamp": str(int(time.time())),
        "Sentry-Hook-Signature": hmac.new(SENTRY_SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "Request-ID": f"scale-{run}-{n}",
    }


# --- Alertmanager ---------------------------------------------------------------------------


def _alertmanager(
    count: int, numbers: Any, rng: random.Random, run: str, t: _Templates
) -> list[Input]:
    from tests.cluster import AM_TOKEN

    out: list[Input] = []
    groups = _groups(count, "alertmanager", rng)
    last = {g: k for k, g in enumerate(groups)}
    started = datetime.now(UTC) - timedelta(hours=1)
    for k, group in enumerate(groups):
        n = next(numbers)
        notification = copy.deepcopy(t.alerts[group % len(t.alerts)])
        alert = copy.deepcopy(notification["alerts"][0])
        alert["labels"]["instance"] = f"node-{group}.{run}"
        fingerprint = hashlib.sha1(f"{run}-{group}".encode()).hexdigest()[:16]
        closes = group % 2 == 0 and k == last[group] and k > 0 and groups[k - 1] == group
        # A firing alert at each evaluation that found it; the last one of half the
        # groups resolves the alert that fired just before.
        starts = _alert_start(out[-1]) if closes else started + timedelta(seconds=n)
        alert.update(
            status="resolved" if closes else "firing",
            fingerprint=fingerprint,
            startsAt=starts.isoformat().replace("+00:00", "Z"),
        )
        alert["annotations"] = {**alert.get("annotations", {}), "scale_input": str(n)}
        notification.update(status=alert["status"], alerts=[alert])
        body = json.dumps(notification).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {AM_TOKEN}"}
        label = f"alertmanager:{group}" + (":resolve" if closes else "")
        out.append(Input(n, "alertmanager", label, body, "/webhooks/alertmanager", headers))
    return out


def _alert_start(item: Input) -> datetime:
    alert = json.loads(item.body)["alerts"][0]
    return datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))


# --- events API ------------------------------------------------------------------------------


_EVENT_SUMMARIES = [
    "Checkout 5xx at {p}% in production",
    "Payment provider latency p99 {p}00 ms",
    "Disk {p}% full on db-primary",
    "Queue backlog {p}k messages on orders",
    "Login failures up {p}x in eu-west-1",
]


def _events(count: int, numbers: Any, rng: random.Random, run: str, t: _Templates) -> list[Input]:
    from tests.cluster import ROUTING_KEY

    out: list[Input] = []
    groups = _groups(count, "events", rng)
    last = {g: k for k, g in enumerate(groups)}
    for k, group in enumerate(groups):
        n = next(numbers)
        closes = group % 2 == 1 and k == last[group] and k > 0 and groups[k - 1] == group
        summary = _EVENT_SUMMARIES[group % len(_EVENT_SUMMARIES)].format(p=10 + group % 80)
        event = {
            "routing_key": ROUTING_KEY,
            "event_action": "resolve" if closes else "trigger",
            "dedup_key": f"scale-{run}-{group}",
            "payload": {
                "summary": summary,
                "source": f"svc-{group}",
                "severity": ("critical", "error", "warning")[group % 3],
                "custom_details": {"scale_input": str(n), "region": "eu-west-1"},
            },
        }
        headers = {"Content-Type": "application/json"}
        label = f"events:{group}" + (":resolve" if closes else "")
        out.append(
            Input(n, "events", label, json.dumps(event).encode(), "/webhooks/events", headers)
        )
    return out


# --- Telegram ---------------------------------------------------------------------------------


def _telegram(count: int, numbers: Any, rng: random.Random, run: str, t: _Templates) -> list[Input]:
    from tests.cluster import INTAKE_CHAT

    out: list[Input] = []
    first: dict[int, dict[str, Any]] = {}
    message_ids = itertools.count(50_000)
    for group in _groups(count, "telegram", rng):
        n = next(numbers)
        update = copy.deepcopy(t.telegram[group % len(t.telegram)])
        update.pop("update_id", None)
        message = update["message"]
        message.pop("entities", None)  # offsets would no longer match the edited text
        message["message_id"] = next(message_ids)
        message["chat"]["id"] = INTAKE_CHAT
        message["date"] = int(time.time())
        if group in first:
            root = first[group]
            message["reply_to_message"] = copy.deepcopy(root)
            message["text"] = f"Still happening here, same as above ({n})"
        else:
            message["text"] = f"{message['text']} (room {run}-{group})"
            first[group] = message
        out.append(Input(n, "telegram", f"telegram:{group}", b"", update=update))
    return out


# --- sending --------------------------------------------------------------------------------


class Sender:
    """Delivers inputs to a running cluster the way each source does."""

    def __init__(self, cluster: Cluster, connections: int = 12, mail_connections: int = 2) -> None:
        self.cluster = cluster
        self.connections = connections
        self.mail_connections = mail_connections
        self._turn = itertools.count()

    def send(self, inputs: list[Input]) -> None:
        """Deliver every input; returns when each is acknowledged (or refused with a 4xx)."""
        mails = [i for i in inputs if i.source == "email"]
        updates = [i for i in inputs if i.source == "telegram"]
        posts = [i for i in inputs if i.path]
        threads = [
            threading.Thread(target=self._append, args=(mails[k :: self.mail_connections],))
            for k in range(self.mail_connections)
        ]
        threads.append(threading.Thread(target=self._push, args=(updates,)))
        for thread in threads:
            thread.start()
        try:
            asyncio.run(self._post_all(posts))
        finally:
            for thread in threads:
                thread.join()

    def _append(self, mails: list[Input]) -> None:
        user = self.cluster.imap_user
        if not mails:
            return
        assert user is not None, "mail inputs need a cluster with an imap_user"
        client = None
        for item in mails:
            while not item.acked:
                item.attempts += 1
                try:
                    if client is None:
                        client = user.client()
                    client.append("INBOX", item.body)
                    item.acked, item.acked_at = True, time.monotonic()
                except OSError:  # Dovecot restarting: reconnect and append again
                    client = None
                    time.sleep(0.2)
        if client is not None:
            client.logout()

    def _push(self, updates: list[Input]) -> None:
        botapi = self.cluster.botapi
        if not updates:
            return
        assert botapi is not None, "Telegram inputs need a cluster with a botapi"
        for item in updates:
            assert item.update is not None
            item.attempts += 1
            item.update_id = botapi.push_update(dict(item.update))
            item.acked, item.acked_at = True, time.monotonic()

    async def _post_all(self, posts: list[Input]) -> None:
        queue: asyncio.Queue[Input] = asyncio.Queue()
        for item in posts:
            queue.put_nowait(item)
        await asyncio.gather(*(self._poster(queue) for _ in range(self.connections)))

    async def _poster(self, queue: asyncio.Queue[Input]) -> None:
        """One keep-alive connection at a time (a bare HTTP/1.1 client: httpx would make
        the test, not the cluster, the bottleneck); a new one, to the next web process,
        after any failure."""
        connection: _Connection | None = None
        try:
            while not queue.empty():
                item = queue.get_nowait()
                while True:
                    item.attempts += 1
                    if connection is None:
                        connection = await self._connect()
                    try:
                        status = await connection.post(item)
                    except (OSError, asyncio.IncompleteReadError, ValueError):
                        connection.close()
                        connection = None
                        await asyncio.sleep(0.05)
                        continue
                    item.status = status
                    if status < 500:
                        item.acked = 200 <= status < 300
                        item.acked_at = time.monotonic() if item.acked else None
                        break
                    connection.close()  # a 5xx: try another process
                    connection = None
                    await asyncio.sleep(0.05)
        finally:
            if connection is not None:
                connection.close()

    async def _connect(self) -> _Connection:
        while True:
            ports = self.cluster.web_ports
            if ports:
                port = ports[next(self._turn) % len(ports)]
                try:
                    return _Connection(*await asyncio.open_connection("127.0.0.1", port))
                except OSError:
                    pass
            await asyncio.sleep(0.05)  # every web process is down: wait for one


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, item: Input) -> int:
        head = [f"POST {item.path} HTTP/1.1", "Host: 127.0.0.1"]
        head += [f"{k}: {v}" for k, v in item.headers.items()]
        head.append(f"Content-Length: {len(item.body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + item.body)
        answer = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 30)
        lines = answer.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()
