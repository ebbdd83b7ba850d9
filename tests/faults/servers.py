"""The fault test's own servers, each able to go down and come back on the same port.

PostgreSQL, Dovecot and the SMTP sink here belong to the fault test alone, so
restarting them never disturbs the session's shared servers (or another test
running beside it). Each keeps what it held: the database's data directory,
the mailbox's Maildir, the messages the SMTP sink has received.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.botapi_fixture import BotApiServer
from tests.cluster import HOOK_SECRET, Cluster
from tests.dovecot_fixture import Dovecot
from tests.postgres_fixture import PostgresServer
from tests.smtp_fixture import Received, SmtpServer
from tests.webhook_sink import WebhookSink


class FaultyPostgres:
    """A PostgreSQL the test may crash-stop and start again (crash recovery on start)."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.restarts = 0

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self, down_seconds: float) -> None:
        """`pg_ctl stop -m immediate` (no checkpoint: the next start replays the WAL), stay
        down for `down_seconds` (every client sees refused connections), then start."""
        install = self.server.install
        command = install.command(
            install.pg_ctl, "stop", "-D", self.server.data_dir, "-m", "immediate", "-w"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LC_"))}
        subprocess.run(
            command, cwd=self.server.base_dir, env=env, check=True, capture_output=True, timeout=60
        )
        time.sleep(down_seconds)
        self.server.start()
        self.restarts += 1


class FaultyDovecot:
    """The test's Dovecot: stopped (every IMAP connection dropped), then started again."""

    def __init__(self, server: Dovecot) -> None:
        self.server = server
        self.restarts = 0

    def restart(self, down_seconds: float) -> None:
        self.server.stop()
        time.sleep(down_seconds)
        self.server.start()
        self.restarts += 1


class FaultySmtp:
    """The aiosmtpd sink: down (connections refused) for a while, then back on its port.

    What it received before going down is kept: `messages` spans every up period.
    """

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.outages = 0

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def messages(self) -> list[Received]:
        with self.server.sink.lock:
            return list(self.server.sink.messages)

    def down(self) -> None:
        self.server.stop()

    def up(self) -> None:
        self.server.start()
        self.outages += 1

    def outage(self, down_seconds: float) -> None:
        self.down()
        time.sleep(down_seconds)
        self.up()


def cluster_on(
    folder: Path,
    postgres: FaultyPostgres,
    dovecot: FaultyDovecot,
    smtp: FaultySmtp,
    botapi: BotApiServer,
    **options: Any,
) -> tuple[Cluster, WebhookSink]:
    """A cluster (no process started yet) on these servers, with a started webhook sink."""
    sink = WebhookSink(HOOK_SECRET).start()
    cluster = Cluster(
        folder,
        postgres.url,
        smtp=smtp.server,
        imap_user=dovecot.server.add_user(),
        botapi=botapi,
        webhook_sink=sink,
        **options,
    )
    return cluster, sink
