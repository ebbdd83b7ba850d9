"""Scale-out on PostgreSQL: eight real `intake run --only ROLE` processes share one database.

web x2, worker x2, poller x2 (one polls, one stands by), scheduler x2. 5,000
mixed inputs (mail, Sentry, Alertmanager, events, Telegram) go in while the
active poller is killed with SIGKILL; the standby must take over the mailbox
and the bot within 10 s, and then every input is processed exactly once and
every notification reaches its sink exactly once. The ledger table is
printed (run with -s to see it).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.models import Incident
from core.models_notify import OutboxMessage
from tests.botapi_fixture import BotApiServer
from tests.cluster import HOOK_SECRET, Cluster, process_cpu_seconds
from tests.cluster_inputs import Input, Sender, make_inputs
from tests.cluster_ledger import Ledger, QuarantineWatch, settle
from tests.dovecot_fixture import MailUser
from tests.postgres_fixture import PostgresServer
from tests.smtp_fixture import SmtpServer
from tests.webhook_sink import WebhookSink

INPUTS = 5000
TAKEOVER_LIMIT = 10.0  # seconds: the promise for a standby poller
KILL_AFTER = 0.4  # share of the mail appended before the active poller is killed


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink(HOOK_SECRET).start()
    yield sink
    sink.stop()


@pytest.fixture
def cluster(
    tmp_path: Path,
    postgres_db_url: str,
    smtp_server: SmtpServer,
    mail_user: MailUser,
    botapi: BotApiServer,
    webhook_sink: WebhookSink,
) -> Iterator[Cluster]:
    with Cluster(
        tmp_path,
        postgres_db_url,
        smtp=smtp_server,
        imap_user=mail_user,
        botapi=botapi,
        webhook_sink=webhook_sink,
    ) as running:
        yield running


def start_all(cluster: Cluster) -> tuple[str, str]:
    """Every role twice; the standby poller starts once the first holds both locks."""
    active = cluster.start("poller", wait=False)
    for role in ("web", "web", "worker", "worker", "scheduler", "scheduler"):
        cluster.start(role, wait=False)
    cluster.wait_holder("imap", timeout=60)
    cluster.wait_holder("telegram", timeout=60)
    standby = cluster.start("poller", wait=False)
    for name in cluster.names("web"):
        cluster.wait_ready(name)
    return active, standby


def kill_mid_run(
    cluster: Cluster, mails: list[Input], active: str, standby: str, late: list[Input]
) -> tuple[float, dict[str, float]]:
    """SIGKILL `active` once KILL_AFTER of the mail is in, then queue the `late` updates;
    how long each lock took to move."""
    cluster.wait_ready(standby)
    while sum(m.acked for m in mails) < KILL_AFTER * len(mails):
        time.sleep(0.02)
    killed_at = time.monotonic()
    cluster.kill(active)
    Sender(cluster).send(late)
    took = {}
    for kind in ("imap", "telegram"):
        cluster.wait_holder(kind, not_name=active, timeout=30)
        took[kind] = time.monotonic() - killed_at
    return killed_at, took


def server_errors(server: PostgresServer, since: int) -> list[str]:
    """What PostgreSQL logged about errors after `since` (a deadlock, a lost unique race):
    ERROR lines with their DETAIL, CONTEXT and STATEMENT and continuation lines."""
    with server.log_path.open("rb") as log:
        log.seek(since)
        lines = log.read().decode(errors="replace").splitlines()
    kept, keeping = [], False
    for line in lines:
        if line.startswith("\t"):
            if keeping:
                kept.append(line.strip())
            continue
        keeping = any(f"{tag}:" in line for tag in ("ERROR", "DETAIL", "CONTEXT", "STATEMENT"))
        if keeping:
            kept.append(line.split(" UTC ", 1)[-1])
    return kept


def notifications_by_incident(cluster: Cluster) -> dict[int, set[tuple[str, str]]]:
    found: dict[int, set[tuple[str, str]]] = defaultdict(set)
    with cluster.engine.connect() as db:
        for incident_id, kind, channel in db.execute(
            select(OutboxMessage.incident_id, OutboxMessage.kind, OutboxMessage.channel)
        ):
            if incident_id is not None:
                found[incident_id].add((kind, channel))
    return found


def test_eight_processes_process_each_input_once_and_notify_once(
    cluster: Cluster, postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    postmaster = postgres_server.postmaster_pid()
    assert postmaster is not None
    pg_before = process_cpu_seconds(postmaster, reaped_children=True) or 0.0
    pg_log_start = postgres_server.log_path.stat().st_size
    began = time.monotonic()
    victim, standby = start_all(cluster)
    started = time.monotonic() - began
    assert cluster.lock_holders() == {"imap": victim, "telegram": victim}

    inputs = make_inputs(INPUTS)
    mails = [i for i in inputs if i.source == "email"]
    updates = [i for i in inputs if i.source == "telegram"]
    late = updates[len(updates) // 2 :]  # queued only once the poller is dead
    numbers = {u.n for u in late}
    early = [i for i in inputs if i.n not in numbers]
    sending = threading.Thread(target=Sender(cluster).send, args=(early,), daemon=True)
    with QuarantineWatch(cluster) as failures:
        sending.start()
        killed_at, takeover = kill_mid_run(cluster, mails, victim, standby, late)
        sending.join()
        sent = time.monotonic() - began
        for name in cluster.names("scheduler"):  # no digest may start between settling and stop
            cluster.terminate(name)
        trace: list[str] = []
        settled = settle(cluster, inputs, timeout=120, trace=trace)
    survivors = [n for n in cluster.names() if cluster.alive(n)]
    cpu = cluster.cpu_seconds()
    by_incident = notifications_by_incident(cluster)
    with cluster.engine.connect() as db:
        incidents = db.execute(select(Incident.id, Incident.status)).all()
    cluster.stop()
    ledger = Ledger(cluster, inputs)
    pg_cpu = (process_cpu_seconds(postmaster, reaped_children=True) or 0.0) - pg_before

    logged = server_errors(postgres_server, pg_log_start)
    after_kill = [m for m in mails if m.acked_at is not None and m.acked_at > killed_at]
    with capsys.disabled():
        print(
            f"\n{len(cluster.names())} processes started (web ready) in {started:.1f} s; all "
            f"inputs acknowledged by {sent:.1f} s; settled {settled:.1f} s later; "
            f"{time.monotonic() - began:.1f} s in all"
        )
        print(
            f"SIGKILL of {victim} (active poller) at {killed_at - began:.1f} s with "
            f"{len(after_kill)} mails and {len(late)} Telegram updates still to come: "
            f"standby took IMAP after {takeover['imap']:.1f} s, Telegram after "
            f"{takeover['telegram']:.1f} s"
        )
        print(
            "CPU s: "
            + ", ".join(f"{n} {s:.1f}" for n, s in sorted(cpu.items()))
            + f"; this test process {time.process_time():.1f}; PostgreSQL {pg_cpu:.1f}"
        )
        for source in ("email", "sentry", "alertmanager", "events", "telegram"):
            last = max(i.acked_at or 0 for i in inputs if i.source == source)
            print(f"{source} all acked at {last - began:.1f} s")
        print(ledger.table())
        for failure in failures.seen.values():
            print(f"quarantined on the way: {failure[:400]}")
        for line in logged[:40]:
            print(f"PostgreSQL: {line[:400]}")
        if settled > 10:
            print("\n".join(trace[::10]))

    assert [i.n for i in inputs if not i.acked] == []
    assert ledger.problems() == []
    assert (ledger.lost, ledger.duplicated, ledger.resent) == (0, 0, 0)  # no web or worker killed
    assert ledger.reports == INPUTS  # one report per input, none processed twice
    assert sorted(survivors) == sorted(
        n for n in cluster.names() if n != victim and "scheduler" not in n
    )
    assert after_kill, "the kill came after the last mail: it proves no takeover"
    # (the ledger found every one of them, and the late updates, stored and processed)
    assert takeover["imap"] < TAKEOVER_LIMIT and takeover["telegram"] < TAKEOVER_LIMIT, takeover

    assert 20 < len(incidents) < INPUTS // 10  # grouped: not one per input, nor one in all
    channels = {"email", "telegram", "webhook"}
    for incident_id, status in incidents:
        kinds = by_incident[incident_id]
        opened = {c for k, c in kinds if k in ("declared", "triage_needed")}
        assert opened == channels, (incident_id, status, kinds)
        if status == "resolved":
            assert {c for k, c in kinds if k == "resolved"} == channels, (incident_id, kinds)

    # Both schedulers try every period (at start, and at each minute); one claims it, and
    # the database refuses the other's claim (so both did try).
    assert ledger.digests >= 1
    assert ledger.digest_rows == 3 * ledger.digests  # once per period on each channel
    assert any('"uq_digest_period"' in line for line in logged), logged
