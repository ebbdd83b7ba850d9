"""Each process rides out a PostgreSQL crash, a Dovecot restart and an SMTP outage on its own.

In the main fault test a process is SIGKILLed every few seconds, so a
restart would hide one that never recovered from an outage. Here nothing is
killed: one `intake run --only ROLE` process per role lives through the three
outages, one after another, while inputs keep arriving. Every process must
still be its first start, and everything must be stored, processed and
notified exactly once: with no kill, a notification arriving twice (even
under the same Message-ID) is a duplicate.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.botapi_fixture import BotApiServer
from tests.cluster import ROLES
from tests.cluster_inputs import Sender, make_inputs
from tests.cluster_ledger import Ledger, settle
from tests.conftest import CORPORA, EXAMPLES, require_shared
from tests.faults.pacing import send_steadily
from tests.faults.schedule import Fault, FaultRunner
from tests.faults.servers import FaultyDovecot, FaultyPostgres, FaultySmtp, cluster_on

LOAD_SECONDS = 25.0
INPUTS_PER_SECOND = 8
# SMTP first: the notifications it refused retry after their backoff (up to 45 s),
# which runs while the other two outages play out.
OUTAGES = [
    Fault(2.0, "smtp", down=6.0, lane="smtp"),
    Fault(10.0, "postgres", down=3.0, lane="postgres"),
    Fault(17.0, "dovecot", down=3.0, lane="dovecot"),
]


def test_every_process_recovers_from_each_outage_without_a_restart(
    tmp_path: Path,
    faulty_postgres: FaultyPostgres,
    faulty_dovecot: FaultyDovecot,
    faulty_smtp: FaultySmtp,
    botapi: BotApiServer,
) -> None:
    require_shared(EXAMPLES)
    require_shared(CORPORA)
    began = time.monotonic()
    cluster, sink = cluster_on(
        tmp_path / "cluster", faulty_postgres, faulty_dovecot, faulty_smtp, botapi, digest_cron=None
    )
    try:
        names = [cluster.start(role, wait=False) for role in ROLES]
        for name in names:
            cluster.wait_ready(name)
        inputs = make_inputs(int(LOAD_SECONDS * INPUTS_PER_SECOND), seed=11)
        runner = FaultRunner(
            OUTAGES,
            lambda name: False,
            {
                "postgres": faulty_postgres.restart,
                "dovecot": faulty_dovecot.restart,
                "smtp": faulty_smtp.outage,
            },
        ).start()
        send_steadily(Sender(cluster), inputs, LOAD_SECONDS)
        runner.join()
        drained = settle(cluster, inputs, timeout=150)
        ledger = Ledger(cluster, inputs)
        survivors = {n: cluster.alive(n) and cluster.procs[n].starts == 1 for n in names}
    finally:
        cluster.stop()
        sink.stop()

    print(f"\nrecovery: {len(inputs)} inputs, the outages one after another, no process killed")
    print(ledger.table())
    print(f"drained {drained:.1f} s after the load; whole test {time.monotonic() - began:.1f} s")

    assert not runner.errors, runner.errors
    assert (faulty_postgres.restarts, faulty_dovecot.restarts, faulty_smtp.outages) == (1, 1, 1)
    assert all(survivors.values()), f"processes that died or were restarted: {survivors}"
    assert all(i.acked for i in inputs)
    assert (ledger.lost, ledger.duplicated, ledger.resent) == (0, 0, 0), "\n".join(
        ledger.problems()[:50]
    )
