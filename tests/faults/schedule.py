"""The fault plan: which fault strikes when, drawn from one seed so a failing run can be replayed.

Each role's processes are SIGKILLed at uniformly random moments of the load
(at least `kills_per_role` per role, the victim drawn among the role's
processes), and restarted at once as a supervisor would. PostgreSQL,
Dovecot and the SMTP server each go down once, at a random moment of their
own part of the load, for a few seconds, so the three outages do not overlap
and each one's recovery can be told apart in the logs.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

SEED_ENV = "FAULT_SEED"  # set it to replay a run: the seed is printed with the table

# Server outages: (kind, window of the load as fractions, seconds down as a range).
OUTAGES = (
    ("postgres", (0.25, 0.40), (2.0, 4.0)),
    ("dovecot", (0.45, 0.58), (2.0, 4.0)),
    ("smtp", (0.62, 0.75), (6.0, 10.0)),
)
MARGIN = 1.0  # seconds at each end of the load without a planned fault


@dataclass(frozen=True, order=True)
class Fault:
    at: float  # seconds after the load began
    kind: str  # "kill" or a server: "postgres", "dovecot", "smtp"
    target: str = ""  # the process a kill strikes
    down: float = 0.0  # how long a server stays down
    lane: str = ""  # faults of one lane strike one after the other: a role's kills, an outage


def seed_from_env() -> int:
    """The seed to use: $FAULT_SEED if set, else a fresh one (printed by the test)."""
    value = os.environ.get(SEED_ENV)
    return int(value) if value else random.SystemRandom().randrange(1, 2**31)


def plan(
    seed: int, seconds: float, processes: Mapping[str, Sequence[str]], kills_per_role: int
) -> list[Fault]:
    """Every fault of a run lasting `seconds`, in time order. `processes` maps each role
    to its process names; each role gets `kills_per_role` kills among them."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    for role in sorted(processes):
        names = processes[role]
        for _ in range(kills_per_role):
            at = rng.uniform(MARGIN, seconds - MARGIN)
            faults.append(Fault(at, "kill", rng.choice(list(names)), lane=role))
    for kind, (start, end), (shortest, longest) in OUTAGES:
        at = rng.uniform(start * seconds, end * seconds)
        faults.append(Fault(at, kind, down=rng.uniform(shortest, longest), lane=kind))
    return sorted(faults)


class FaultRunner:
    """Plays a plan against the clock: a thread per lane (each role's kills, each outage),
    so a kill waiting for a process to be running again, or a server kept down, holds up
    only its own lane."""

    def __init__(
        self,
        faults: Sequence[Fault],
        kill_and_restart: Callable[[str], bool],
        outages: Mapping[str, Callable[[float], None]],
    ) -> None:
        self.faults = list(faults)
        self.kill_and_restart = kill_and_restart
        self.outages = outages
        self.missed: Counter[str] = Counter()  # lanes whose fault found nothing to strike
        self.errors: list[str] = []
        self._halt = threading.Event()
        lanes = sorted({f.lane for f in self.faults})
        self._threads = [
            threading.Thread(target=self._run, args=(lane,), name=f"faults-{lane}", daemon=True)
            for lane in lanes
        ]

    def start(self) -> FaultRunner:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def _run(self, lane: str) -> None:
        for fault in sorted(f for f in self.faults if f.lane == lane):
            if self._halt.wait(max(0.0, self._started + fault.at - time.monotonic())):
                return
            try:
                if fault.kind == "kill":
                    struck = self.kill_and_restart(fault.target)
                else:
                    self.outages[fault.kind](fault.down)
                    struck = True
            except Exception as exc:  # reported with the table; the test fails on it
                self.errors.append(f"{fault}: {type(exc).__name__}: {exc}")
                continue
            if not struck:
                self.missed[lane] += 1
