"""Fixtures of the fault test: its own PostgreSQL, Dovecot and SMTP sink, restartable.

The top-level conftest's plugins (postgres, dovecot, smtp, botapi fixtures) apply
here too; these wrap servers started for the fault test alone.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.dovecot_fixture import running_dovecot
from tests.faults.servers import FaultyDovecot, FaultyPostgres, FaultySmtp
from tests.postgres_fixture import new_base_dir, require_postgres, start_postgres
from tests.smtp_fixture import SmtpServer


@pytest.fixture
def faulty_postgres() -> Iterator[FaultyPostgres]:
    """A PostgreSQL of the test's own with durable settings (fsync on, as in production):
    it is crash-stopped mid-load, and what was committed must survive that."""
    require_postgres()
    base_dir = new_base_dir(in_memory=True)
    try:
        with start_postgres(base_dir, fsync=True) as server:
            yield FaultyPostgres(server)
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture
def faulty_dovecot() -> Iterator[FaultyDovecot]:
    with running_dovecot(ssl=False) as server:
        yield FaultyDovecot(server)


@pytest.fixture
def faulty_smtp() -> Iterator[FaultySmtp]:
    server = SmtpServer("plain")
    server.start()
    try:
        yield FaultySmtp(server)
    finally:
        server.stop()
