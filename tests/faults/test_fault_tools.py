"""The fault test's own tools do what the fault test relies on.

The servers go down and come back on the same port with what they held; the
plan is reproducible from its seed and strikes every role often enough; a
copy under the same id is told apart from one a person would see twice.
"""

from __future__ import annotations

import smtplib
import socket
from itertools import pairwise

import psycopg
import pytest

from tests.cluster_ledger import under_two_ids
from tests.faults.schedule import OUTAGES, plan
from tests.faults.servers import FaultyDovecot, FaultyPostgres, FaultySmtp
from tests.helpers import mail

PROCESSES = {role: [f"{role}-1", f"{role}-2"] for role in ("web", "worker", "poller", "scheduler")}


def test_postgres_comes_back_on_its_port_with_what_was_committed(
    faulty_postgres: FaultyPostgres,
) -> None:
    conninfo = faulty_postgres.server.conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (7)")
    survivor = psycopg.connect(conninfo)
    faulty_postgres.restart(down_seconds=0.5)
    with pytest.raises(psycopg.OperationalError):  # the crash cut every open connection
        survivor.execute("SELECT 1")
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
    assert faulty_postgres.restarts == 1


def test_smtp_refuses_while_down_and_keeps_what_it_received(faulty_smtp: FaultySmtp) -> None:
    def send(subject: str) -> None:
        with smtplib.SMTP("127.0.0.1", faulty_smtp.port, timeout=5) as client:
            client.sendmail("a@example.com", ["b@example.com"], mail(subject, "body"))

    send("before")
    faulty_smtp.down()
    with pytest.raises(OSError):
        send("while down")
    faulty_smtp.up()
    send("after")
    subjects = [m.data.split(b"Subject: ")[1].split(b"\n")[0].strip() for m in faulty_smtp.messages]
    assert subjects == [b"before", b"after"]


def test_dovecot_restarts_with_the_mailbox_intact(faulty_dovecot: FaultyDovecot) -> None:
    user = faulty_dovecot.server.add_user()
    user.append(mail("kept", "body"))
    port = faulty_dovecot.server.port
    faulty_dovecot.restart(down_seconds=0.5)
    assert faulty_dovecot.server.port == port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert sock.recv(100).startswith(b"* OK")
    assert len(user.uids()) == 1


def test_the_plan_is_replayed_from_its_seed_and_strikes_every_role() -> None:
    first = plan(42, 120.0, PROCESSES, kills_per_role=20)
    assert first == plan(42, 120.0, PROCESSES, kills_per_role=20)
    assert first != plan(43, 120.0, PROCESSES, kills_per_role=20)
    for role, names in PROCESSES.items():
        kills = [f for f in first if f.kind == "kill" and f.target in names]
        assert len(kills) == 20, role
        assert {f.target for f in kills} == set(names)  # both processes of the role are hit
    outages = [f for f in first if f.kind != "kill"]
    assert sorted(f.kind for f in outages) == sorted(kind for kind, _, _ in OUTAGES)
    spans = sorted((f.at, f.at + f.down) for f in outages)
    assert all(end <= nxt for (_, end), (nxt, _) in pairwise(spans))
    assert all(0 < f.at < 120.0 for f in first)


def test_a_re_sent_mail_is_told_apart_from_one_sent_under_two_ids() -> None:
    assert not under_two_ids(["<a@x>", "<a@x>"], "<a@x>")  # a re-send: the receiver drops it
    assert not under_two_ids(["<a@x>"], None)
    assert under_two_ids(["<c@x>", "<other@x>"], None)  # a person reads it twice
    assert under_two_ids(["<c@x>"], "<d@x>")  # not the id the row recorded
