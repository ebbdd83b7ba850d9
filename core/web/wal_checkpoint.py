"""SQLite WAL checkpoints off the webhooks' commit path.

By default the commit that grows the WAL past 1,000 pages copies it back into
the database file and fsyncs that file too, all while the requests of its
batch (and the batch behind it) wait: at a few thousand alerts a second that
was several times a second, and it made the p99 latency. The webhook writer's
connection turns automatic checkpoints off and this runs a PASSIVE checkpoint
on its own thread and connection instead, which never blocks a writer.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

EVERY_ROWS = 1000  # ~3 MB of WAL at a typical 3 KB alert


class BackgroundCheckpoint:
    def __init__(self, engine: Engine, every_rows: int = EVERY_ROWS) -> None:
        self._engine = engine
        self._every = every_rows
        self._since = 0
        self._due = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None

    def stored(self, rows: int) -> None:
        """Count rows committed without a checkpoint; ask for one when enough have piled up."""
        self._since += rows
        if self._since >= self._every:
            self._since = 0
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wal-checkpoint", daemon=True
                )
                self._thread.start()
            self._due.set()

    def close(self) -> None:
        self._closing = True
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        connection: Any = None
        try:
            connection = self._engine.raw_connection()
            while True:
                self._due.wait()
                self._due.clear()
                if self._closing:
                    return
                try:
                    # Autocommit at the driver (see core.db), so no transaction wraps it.
                    connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except Exception:  # the next one catches up; SQLite's own limit still applies
                    log.exception("WAL checkpoint failed")
        finally:
            if connection is not None:
                connection.close()
