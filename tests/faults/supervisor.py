"""Restart what dies, as systemd's `Restart=always` would, and SIGKILL on the fault plan's cue.

A process killed by the plan is started again at once. The plan's kills strike
processes at work: started (their components announced) and then left to work
for a random while (`WORK_SECONDS`), so a kill lands anywhere in what a process
does, not in its imports, and not always right after it started when the plan
asks for kills faster than processes come back. One that exits on its own
(`intake run` refuses to start while PostgreSQL is down: it checks the schema
first) is started again after a short pause, and counted.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from tests.cluster import Cluster

RESTART_PAUSE = 0.5  # seconds between looks for processes that exited on their own
WORK_SECONDS = (1.0, 4.0)  # how long a process works after starting before a kill may strike


class Supervisor:
    def __init__(self, cluster: Cluster, seed: int) -> None:
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.kills: Counter[str] = Counter()  # by role: SIGKILLs that struck a working process
        self.exits: Counter[str] = Counter()  # by role: exits nobody asked for, restarted
        self._working_from: dict[str, float] = {}  # when each process may be struck
        self._lock = threading.Lock()  # one start or kill of a process at a time
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def role(self, name: str) -> str:
        return self.cluster.procs[name].role

    def working(self, name: str) -> bool:
        """Started (it logs "starting <component>" once it has) and at work for a while."""
        if not self.cluster.alive(name):
            return False
        if name not in self._working_from:
            proc = self.cluster.procs[name]
            with proc.log.open("rb") as log:
                log.seek(proc.log_offset)
                if b"\nstarting " not in log.read():
                    return False
            self._working_from[name] = time.monotonic() + self.rng.uniform(*WORK_SECONDS)
        return time.monotonic() >= self._working_from[name]

    def kill_and_restart(self, name: str, patience: float = 60.0) -> bool:
        """SIGKILL `name` (or, if it is not at work yet, the first of its role that is)
        and start it again at once; False if none was at work within `patience` s."""
        role = self.role(name)
        candidates = [name, *(n for n in self.cluster.names(role) if n != name)]
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            with self._lock:
                victim = next((n for n in candidates if self.working(n)), None)
                if victim is not None:
                    self.cluster.kill(victim)
                    self.kills[role] += 1
                    self._restart(victim)
                    return True
            time.sleep(0.05)
        return False

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join()

    def _restart(self, name: str) -> None:
        self._working_from.pop(name, None)
        self.cluster.start(self.role(name), name, wait=False)

    def _watch(self) -> None:
        while not self._halt.wait(RESTART_PAUSE):
            for name in self.cluster.names():
                with self._lock:
                    if self._halt.is_set() or self.cluster.alive(name):
                        continue
                    self.exits[self.role(name)] += 1
                    self._restart(name)
