"""SQLite WAL checkpoints off the webhooks' commit path.

By default the commit that grows the WAL past 1,000 pages copies it back into
the database file and fsyncs that file too, all while the requests of its
batch (and the batch behind it) wait: at a few thousand alerts a second that
was several times a second, and it made the p99 latency. The webhook writer's
connection turns automatic checkpoints off; this runs a PASSIVE checkpoint on
its own thread and connection instead, which never blocks a writer.

A PASSIVE checkpoint copies frames but cannot rewind the WAL while writes
keep coming, so under sustained load the file would grow without end. Every
`restart_rows` the writer itself runs a RESTART checkpoint between two
batches: by then nearly every frame is already copied, so it is short, and
the next write starts the WAL from the beginning again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

EVERY_ROWS = 1000  # ~3 MB of WAL at a typical 3 KB alert
RESTART_ROWS = 5_000  # the WAL file stays near 20 MB at most (4 KB pages)


class BackgroundCheckpoint:
    def __init__(
        self, engine: Engine, every_rows: int = EVERY_ROWS, restart_rows: int = RESTART_ROWS
    ) -> None:
        self._engine = engine
        self._every = every_rows
        self._restart_every = restart_rows
        self._since = 0
        self._since_restart = 0
        self._due = threading.Event()
        self._running = threading.Lock()  # one checkpoint at a time
        self._closing = False
        self._thread: threading.Thread | None = None

    def stored(self, rows: int) -> bool:
        """Count rows committed; True when the writer should now run `restart(connection)`."""
        self._since += rows
        self._since_restart += rows
        if self._since >= self._every:
            self._since = 0
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wal-checkpoint", daemon=True
                )
                self._thread.start()
            self._due.set()
        if self._since_restart >= self._restart_every:
            self._since_restart = 0
            return True
        return False

    def restart(self, driver_connection: Any) -> bool:
        """The writer's own checkpoint between batches: True once it rewound the WAL."""
        # SQLite refuses a second checkpoint at once (no busy wait) while one runs, so wait
        # for the background one here, off the loop; then give old readers a moment.
        with self._running:
            driver_connection.execute("PRAGMA busy_timeout=1000")
            try:
                checkpoint = driver_connection.execute("PRAGMA wal_checkpoint(RESTART)")
                busy, _, _ = checkpoint.fetchall()[0]
            finally:
                driver_connection.execute("PRAGMA busy_timeout=0")
        return not busy

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
                    # Autocommit at the driver (see core.db), so no transaction wraps it; read
                    # to the end, or the unfinished statement holds a read lock that stops
                    # the writer's RESTART checkpoints.
                    with self._running:
                        connection.driver_connection.execute(
                            "PRAGMA wal_checkpoint(PASSIVE)"
                        ).fetchall()
                except Exception:  # the next one catches up; SQLite's own limit still applies
                    log.exception("WAL checkpoint failed")
        finally:
            if connection is not None:
                connection.close()
