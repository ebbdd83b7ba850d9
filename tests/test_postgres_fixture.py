"""The PostgreSQL test server: fixtures, fresh databases, restart, crash, cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests import postgres_fixture as pgf
from tests.conftest import ROOT

SEEN_DATABASES: set[str] = set()


def scalar(url: str, sql: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar_one()
    finally:
        engine.dispose()


def database_exists(server: pgf.PostgresServer, name: str) -> bool:
    with psycopg.connect(server.conninfo()) as conn:
        row = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
    return row is not None


def test_select_one(postgres_url: str, postgres_db_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert postgres_url.endswith("/postgres")
    assert scalar(postgres_url, "select 1") == 1
    assert scalar(postgres_db_url, "select 1") == 1
    assert str(scalar(postgres_db_url, "select current_database()")).startswith("test_")


def test_functional_server_trades_durability_for_speed(postgres_url: str) -> None:
    assert scalar(postgres_url, "show fsync") == "off"
    assert scalar(postgres_url, "show synchronous_commit") == "off"
    assert scalar(postgres_url, "show server_encoding") == "UTF8"


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_its_own_fresh_database(postgres_db_url: str, run: int) -> None:
    engine = sa.create_engine(postgres_db_url)
    try:
        with engine.begin() as conn:
            name = conn.execute(sa.text("select current_database()")).scalar_one()
            assert conn.execute(sa.text("select to_regclass('marker')")).scalar() is None
            conn.execute(sa.text("create table marker (run int)"))
    finally:
        engine.dispose()  # the fixture also drops the database with connections open
    assert name not in SEEN_DATABASES
    SEEN_DATABASES.add(name)


def test_fresh_databases_differ_and_are_dropped_even_with_open_connections(
    postgres_server: pgf.PostgresServer,
) -> None:
    with (
        pgf.fresh_database(postgres_server) as first,
        pgf.fresh_database(postgres_server) as second,
    ):
        assert first != second
        names = [url.rsplit("/", 1)[1] for url in (first, second)]
        left_open = psycopg.connect(postgres_server.conninfo(names[0]))
        left_open.execute("create table t (x int)")
        left_open.commit()
        assert scalar(second, "select to_regclass('t') is null") is True
    assert not any(database_exists(postgres_server, name) for name in names)
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("select 1")  # terminated by DROP DATABASE ... WITH (FORCE)
    left_open.close()


def test_restart_and_crash_keep_committed_rows(postgres_base_dir: Path) -> None:
    server = pgf.start_postgres(postgres_base_dir, fsync=True)
    assert server.data_dir.is_relative_to(postgres_base_dir)
    assert scalar(server.url, "show fsync") == "on"
    with psycopg.connect(server.conninfo()) as conn:
        conn.execute("create table kept (n int)")
        conn.execute("insert into kept values (1)")

    server.restart()
    assert scalar(server.url, "select count(*) from kept") == 1

    with psycopg.connect(server.conninfo()) as conn:
        conn.execute("insert into kept values (2)")
    pid = server.postmaster_pid()
    assert pid is not None
    server.kill()
    assert not server.is_running()
    server.start()  # crash recovery, same port, same URL
    assert server.postmaster_pid() != pid
    assert scalar(server.url, "select count(*) from kept") == 2
    assert "database system was interrupted" in server.log_path.read_text()

    server.close()
    assert not server.is_running()
    assert not postgres_base_dir.exists()


CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from tests.postgres_fixture import new_base_dir, start_postgres
server = start_postgres(new_base_dir(in_memory=True))
print(server.postmaster_pid(), server.base_dir, flush=True)
time.sleep(60)
"""


def test_a_killed_test_run_leaves_no_server_behind() -> None:
    pgf.require_postgres()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ROOT)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    pid_text, base_dir = child.stdout.readline().split()
    pid = int(pid_text)
    assert pgf._alive(pid)
    os.kill(child.pid, signal.SIGKILL)  # no finalizers, no atexit: only the watchdog
    child.wait()
    deadline = time.monotonic() + 15
    while (pgf._alive(pid) or Path(base_dir).exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pgf._alive(pid)
    assert not Path(base_dir).exists()


def make_fake_install(root: Path, version: str, *binaries: str) -> None:
    bin_dir = root / version / "bin"
    bin_dir.mkdir(parents=True)
    for name in binaries:
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)


def test_the_newest_complete_install_is_chosen(tmp_path: Path) -> None:
    make_fake_install(tmp_path, "9.6", "initdb", "pg_ctl")
    make_fake_install(tmp_path, "15", "initdb", "pg_ctl")
    make_fake_install(tmp_path, "16", "initdb")  # half-installed
    assert pgf.find_bin_dir(tmp_path) == tmp_path / "15" / "bin"
    assert pgf.find_bin_dir(tmp_path / "nothing") is None


def test_missing_server_skips_on_a_developer_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgf, "PG_LIB_ROOT", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"Debian package: postgresql"):
        pgf.require_postgres()
    with pytest.raises(pgf.PostgresUnavailable):
        pgf.start_postgres(tmp_path / "pg")


def test_missing_server_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgf, "PG_LIB_ROOT", tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"Debian package: postgresql"):
        pgf.require_postgres()


def test_start_postgres_refuses_a_directory_in_use(tmp_path: Path) -> None:
    pgf.require_postgres()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        pgf.start_postgres(tmp_path)
    assert (tmp_path / "notes.txt").exists()
