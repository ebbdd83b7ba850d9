"""The cluster under faults: every role SIGKILLed 20+ times, PostgreSQL, Dovecot and SMTP down once.

Eight real `intake run --only ROLE` processes (web, worker, poller, scheduler,
two of each) share the test's own PostgreSQL while a steady mix of inputs
arrives: mail appended to Dovecot, signed Sentry, Alertmanager and events
posts to the web processes, Telegram updates on the loopback Bot API. Senders
retry like the real ones until they get a 2xx. Meanwhile the fault plan
(tests.faults.schedule, seeded, the seed printed) SIGKILLs processes at random
moments and a supervisor starts each again at once; PostgreSQL is crash-stopped
(`pg_ctl stop -m immediate`, replaying its WAL on start), Dovecot restarted,
the SMTP server taken down for several seconds. Then the cluster drains and
the ledger (tests.cluster_ledger) is read from the database and the sinks:

- lost: an acknowledged input (2xx, APPEND done, update queued) that is not
  stored or never processed; a planned notification (outbox row) that no sink
  received after the drain.
- duplicated: an input stored twice or processed into reports twice; a
  notification the system made or sent twice: two outbox rows for one
  incident event and recipient, or one row's mail under two Message-IDs.
- re-sent (its own column): the at-least-once copy a sender makes when the
  other side died before answering or recording (tests.cluster_ledger).
  A worker SIGKILLed between a send and the commit recording it leaves that
  row to be sent again under the same Message-ID / X-Intake-Delivery id,
  which the receiver drops, or for Telegram with the same text; a web
  process killed between its commit and its 2xx gets the post again, which
  only the events API (no delivery id) stores twice. Bounded by the kills
  that can cause them: at most one Telegram re-send per worker kill.

Lost and duplicated must be 0. `FAULT_SEED=N` replays a run's plan; `FAULT_LOAD_SECONDS`
changes how long the load (and the faults) last.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.botapi_fixture import BotApiServer
from tests.cluster import ROLES
from tests.cluster_inputs import Sender, make_inputs
from tests.cluster_ledger import Ledger, settle
from tests.conftest import CORPORA, EXAMPLES, require_shared
from tests.faults.pacing import send_steadily
from tests.faults.schedule import FaultRunner, plan, seed_from_env
from tests.faults.servers import FaultyDovecot, FaultyPostgres, FaultySmtp, cluster_on
from tests.faults.supervisor import Supervisor
from tests.faults.table import render

LOAD_SECONDS = float(os.environ.get("FAULT_LOAD_SECONDS", "120"))
INPUTS_PER_SECOND = 8
PROCESSES_PER_ROLE = 2
KILLS_PER_ROLE = 22  # planned; each strikes a running process of the role
MIN_KILLS_PER_ROLE = 20  # (none may be found running in time: at least this many must strike)
# A killed worker's claimed notifications wait out the delivery lease (notify.delivery,
# 60 s), and one refused while SMTP was down waits out its backoff (up to 45 s).
DRAIN_SECONDS = 150.0


def test_cluster_loses_and_doubles_nothing_under_faults(
    tmp_path: Path,
    faulty_postgres: FaultyPostgres,
    faulty_dovecot: FaultyDovecot,
    faulty_smtp: FaultySmtp,
    botapi: BotApiServer,
) -> None:
    require_shared(EXAMPLES)
    require_shared(CORPORA)
    seed = seed_from_env()
    print(f"\nfault test: seed {seed} (FAULT_SEED={seed} replays this plan)", flush=True)
    began = time.monotonic()
    cluster, sink = cluster_on(
        tmp_path / "cluster", faulty_postgres, faulty_dovecot, faulty_smtp, botapi
    )
    supervisor = Supervisor(cluster, seed)
    try:
        for role in ROLES:
            for _ in range(PROCESSES_PER_ROLE):
                cluster.start(role, wait=False)
        for name in cluster.names():
            cluster.wait_ready(name)
        setup_took = time.monotonic() - began
        inputs = make_inputs(int(LOAD_SECONDS * INPUTS_PER_SECOND), seed=seed)
        faults = plan(
            seed, LOAD_SECONDS, {r: cluster.names(r) for r in ROLES}, kills_per_role=KILLS_PER_ROLE
        )
        supervisor.start()
        runner = FaultRunner(
            faults,
            supervisor.kill_and_restart,
            {
                "postgres": faulty_postgres.restart,
                "dovecot": faulty_dovecot.restart,
                "smtp": faulty_smtp.outage,
            },
        ).start()
        load_began = time.monotonic()
        send_steadily(Sender(cluster), inputs, LOAD_SECONDS)
        runner.join()
        load_took = time.monotonic() - load_began
        drained = settle(cluster, inputs, timeout=DRAIN_SECONDS)
        supervisor.stop()
        for name in cluster.names("scheduler"):  # no new digest between the count and the sinks
            cluster.terminate(name)
        settle(cluster, inputs, timeout=30)
        ledger = Ledger(cluster, inputs)
    finally:
        supervisor.stop()
        cluster.stop()
        sink.stop()

    outages = {f.kind: f.down for f in faults if f.kind != "kill"}
    fault_rows: list[tuple[str, object]] = [
        (f"SIGKILL {role} (x{PROCESSES_PER_ROLE}), restarted at once", supervisor.kills[role])
        for role in ROLES
    ]
    fault_rows += [
        (f"PostgreSQL crash-stop, {outages['postgres']:.1f} s down", faulty_postgres.restarts),
        (f"Dovecot restart, {outages['dovecot']:.1f} s down", faulty_dovecot.restarts),
        (f"SMTP server down {outages['smtp']:.1f} s", faulty_smtp.outages),
        ("exits on their own (restarted)", sum(supervisor.exits.values())),
    ]
    timing: list[tuple[str, object]] = [
        ("8 processes started (s)", setup_took),
        ("load, faults meanwhile (s)", load_took),
        ("drain after the load (s)", drained),
        ("whole test (s)", time.monotonic() - began),
    ]
    print(ledger.table())
    print(render(f"faults (seed {seed})", [("injected", fault_rows), ("time", timing)]))
    resent = {name: row.resent for name, row in ledger.notifications.items()}
    resent["events"] = ledger.inputs["events"].resent
    print(
        f"lost {ledger.lost}, duplicated {ledger.duplicated}; re-sent after a kill: "
        + ", ".join(f"{name} {n}" for name, n in resent.items()),
        flush=True,
    )

    assert not runner.errors, runner.errors
    for role in ROLES:
        assert supervisor.kills[role] >= MIN_KILLS_PER_ROLE, (role, supervisor.kills)
    assert (faulty_postgres.restarts, faulty_dovecot.restarts, faulty_smtp.outages) == (1, 1, 1)
    refused = [(i.n, i.source, i.status) for i in inputs if not i.acked]
    assert not refused, f"inputs never acknowledged: {refused[:20]}"
    assert ledger.unknown_raw == 0, "raw messages that match no input"
    problems = "\n".join(ledger.problems()[:50])
    assert ledger.lost == 0 and ledger.duplicated == 0, problems
    assert resent["telegram"] <= supervisor.kills["worker"], "a Telegram re-send without a kill"
    assert resent["events"] <= supervisor.kills["web"], "an events post stored twice without a kill"
