"""Restart what dies, as systemd's `Restart=always` would, and SIGKILL on the fault plan's cue.

A process killed by the plan is started again at once; the plan's kills strike
processes that are running (their components started), never one still starting. One that exits on its
own (`intake run` refuses to start while PostgreSQL is down: it checks the
schema first) is started again after a short pause, and counted, so the
table shows how often that happened.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from tests.cluster import Cluster

RESTART_PAUSE = 0.5  # seconds between looks for processes that exited on their own


class Supervisor:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.kills: Counter[str] = Counter()  # by role: SIGKILLs that struck a live process
        self.exits: Counter[str] = Counter()  # by role: exits nobody asked for, restarted
        self._lock = threading.Lock()  # one start or kill of a process at a time
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def role(self, name: str) -> str:
        return self.cluster.procs[name].role

    def ready(self, name: str) -> bool:
        """Running, with its components started (what it logs once it has done so)."""
        if not self.cluster.alive(name):
            return False
        proc = self.cluster.procs[name]
        with proc.log.open("rb") as log:
            log.seek(proc.log_offset)
            return b"\nstarting " in log.read()

    def kill_and_restart(self, name: str, patience: float = 60.0) -> bool:
        """SIGKILL `name` (or, if it is still starting, the first of its role that is
        running) and start it again at once. A kill must strike a process at work, not
        one still importing its modules, so this waits for one to be ready; False if
        none was within `patience` seconds."""
        role = self.role(name)
        candidates = [name, *(n for n in self.cluster.names(role) if n != name)]
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            with self._lock:
                victim = next((n for n in candidates if self.ready(n)), None)
                if victim is not None:
                    self.cluster.kill(victim)
                    self.kills[role] += 1
                    self.cluster.start(role, victim, wait=False)
                    return True
            time.sleep(0.05)
        return False

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._halt.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._halt.wait(RESTART_PAUSE):
            for name in self.cluster.names():
                with self._lock:
                    if self._halt.is_set() or self.cluster.alive(name):
                        continue
                    self.exits[self.role(name)] += 1
                    self.cluster.start(self.role(name), name, wait=False)
