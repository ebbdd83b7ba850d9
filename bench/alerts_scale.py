"""Alert intake on PostgreSQL: two web processes against one, as deployed for scale-out.

Run from the repository root (needs `wrk` and Debian's `postgresql`):

    .venv/bin/python bench/alerts_scale.py [--runs 3] [--seconds 10] [--connections 50]
                                           [--json FILE]

It starts its own PostgreSQL server with durable defaults (tests/postgres_fixture.py's
`start_postgres(dir, fsync=True)`, data on disk) and, for each run and each setting, a
fresh database with, as `intake run` is deployed for scale-out:

- one `intake run --only worker` process (the pipeline worker: triage and grouping of
  what the web processes store, claimed with FOR UPDATE SKIP LOCKED), paused while the
  web processes are loaded so the figure is the intake's, as in bench/alerts.py
  (`--worker-beside` keeps it triaging during the load), and
- one, then two, `intake run --only web` processes, each on its own port.

wrk loads them exactly as bench/alerts.py loads `intake serve` (its Lua script, its
signed ~3 KB Sentry `event_alert` body, a Request-ID per request so each is stored as a
new raw message, `--seconds`), with 2 wrk threads and `--connections` connections in all.
Until the web server can share one port between processes (`[web] reuse_port`, SO_REUSEPORT;
used by this bench as soon as the key exists), each web process has its own port and
its own wrk (`-t1`, half the connections), the wrk processes start together, and their
2xx rates are summed.

The figure is the median of `--runs` accepted alerts/s with two web processes; the anchor
is the same with one, measured in the same run (the settings interleaved); target: the
ratio at least 1.5, taken per run (one and two measured back to back) and then the
median. Every accepted alert must be stored: the table shows rows stored against 2xx
answers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on the path; bench/telegram.py would shadow
# the python-telegram-bot package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.alerts import (  # noqa: E402
    SECRET,
    WRK_SCRIPT,
    WrkResult,
    free_port,
    parse_wrk,
    sentry_body,
    sign,
    stop_process,
    wait_port,
)
from bench.results import Figure, write_json  # noqa: E402
from core.config_web import WebConfig  # noqa: E402

SCALE_TARGET = 1.5  # issue 9: two web processes at least 1.5 x one
SECRET_ENV = "BENCH_SENTRY_SECRET"
WRK_THREADS = 2  # bench/alerts.py's -t2, shared between the wrk processes
# Once `[web] reuse_port` exists (SO_REUSEPORT), the web processes share one port and one
# wrk loads it; until then each has its own port and wrk.
SHARED_PORT = "reuse_port" in WebConfig.__dataclass_fields__


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def code_version() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


class Role:
    """One `intake run --only ROLE` process, with its own config file and log."""

    def __init__(self, folder: Path, name: str, url: str, role: str, port: int) -> None:
        self.name = name
        self.port = port
        config = folder / f"{name}.toml"
        shared = "reuse_port = true\n" if SHARED_PORT else ""
        config.write_text(
            f'[database]\nurl = "{url}"\n'
            f"[web]\nport = {port}\n{shared}"
            f'[[sentry]]\nname = "bench"\nclient_secret_env = "{SECRET_ENV}"\n'
        )
        env = {**os.environ, SECRET_ENV: SECRET, "PYTHONPATH": str(ROOT)}
        env.pop("INTAKE_CONFIG", None)
        env.pop("INTAKE_DATABASE_URL", None)
        self.log_path = folder / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "--config", str(config), "run", "--only", role],
            cwd=folder,  # a generated web secret lands in the run's folder, not the repository
            env=env,
            stdout=self.log,
            stderr=self.log,
        )

    def wait_started(self, timeout: float = 60) -> None:
        """Until the process says it started its components (the schema is migrated then)."""
        deadline = time.monotonic() + timeout
        while b"starting " not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name} did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.proc, self.log)


@contextlib.contextmanager
def deployment(
    folder: Path, url: str, webs: int, worker_beside: bool = False
) -> Iterator[tuple[Role, list[Role]]]:
    """A worker, then `webs` web processes, all on `url`.

    Unless `worker_beside`, the worker is paused (SIGSTOP) while the web processes are
    loaded and resumed after: the figure is the intake's, as bench/alerts.py measures it
    (triage runs after the response); on 2 cores a worker triaging beside takes the core
    a second web process would use.
    """
    roles: list[Role] = []
    try:
        worker = Role(folder, "worker", url, "worker", free_port())
        roles.append(worker)
        worker.wait_started()  # it migrates the fresh database; the web processes find it done
        port = free_port()
        for n in range(webs):
            web = Role(folder, f"web{n + 1}", url, "web", port if SHARED_PORT else free_port())
            roles.append(web)
            wait_port(web.port, web.proc)
            web.wait_started()
        time.sleep(0.5)
        for role in roles:
            if role.proc.poll() is not None:  # e.g. a second process that could not bind
                raise SystemExit(f"{role.name} exited:\n{role.log_path.read_text()[-3000:]}")
        if not worker_beside:
            os.kill(worker.proc.pid, signal.SIGSTOP)
        try:
            yield worker, roles[1:]
        finally:
            os.kill(worker.proc.pid, signal.SIGCONT)
    finally:
        for role in reversed(roles):
            role.stop()


@dataclass
class Run:
    rate: float  # accepted (2xx) alerts/s, summed over the wrk processes
    accepted: int  # 2xx answers
    errors: int  # non-2xx answers and socket errors
    stored: int  # raw messages in the database afterwards
    p99_ms: float  # the worst of the wrk processes' p99
    busy: float  # share of the machine's CPU time busy during the load (every process)
    web_cpu: float  # cores used by the web processes together, on average
    worker_cpu: float  # cores used by the worker process
    postgres_cpu: float  # cores used by the server's processes (those alive throughout)


def machine_busy() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (/proc/PID/stat); 0 once gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_processes(server: Any) -> dict[int, float]:
    """CPU seconds so far of the postmaster's children (backends, WAL writer, ...)."""
    parent = str(server.postmaster_pid())
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2 :].split()[1] == parent:
                found[int(entry.name)] = cpu_seconds(int(entry.name))
    return found


def run_wrk(port: int, threads: int, connections: int, seconds: int, tag: str) -> WrkResult:
    """bench/alerts.py's wrk run (its Lua script, signed body, Request-ID per request),
    with the thread count given: the wrk processes share two threads, as one would use."""
    body = sentry_body()
    headers = {"Sentry-Hook-Resource": "event_alert", "Sentry-Hook-Signature": sign(body)}
    lua_headers = "\n  ".join(f'headers["{k}"] = "{v}"' for k, v in headers.items())
    script = WRK_SCRIPT % {
        "tag": tag,
        "headers": lua_headers,
        "path": "/webhooks/sentry",
        "body": body.decode(),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                lua.name,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return parse_wrk(out)


def load(ports: list[int], args: argparse.Namespace, tag: str) -> list[WrkResult]:
    """One wrk per port, started together, sharing 2 threads and `--connections`."""
    per_wrk = max(1, WRK_THREADS // len(ports))
    connections = max(per_wrk, args.connections // len(ports))
    results: list[WrkResult | None] = [None] * len(ports)
    failures: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results[i] = run_wrk(ports[i], per_wrk, connections, args.seconds, f"{tag}p{i}")
        except BaseException as exc:  # re-raised below, in the caller's thread
            failures.append(exc)

    runners = [threading.Thread(target=one, args=(i,)) for i in range(len(ports))]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    if failures:
        raise failures[0]
    return [r for r in results if r is not None]


def count_stored(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM raw_messages").fetchone()
    return int(row[0]) if row else 0


def measure(server: Any, webs: int, args: argparse.Namespace, run: int) -> Run:
    name = f"scale_{webs}_{run}"
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    folder = Path(tempfile.mkdtemp(prefix="bench-alerts-scale-"))
    try:
        with deployment(folder, server.url_for(name), webs, args.worker_beside) as (worker, web):
            ports = sorted({w.port for w in web})
            pids = [w.proc.pid for w in web]
            before = machine_busy(), [cpu_seconds(p) for p in pids], cpu_seconds(worker.proc.pid)
            pg_before = server_processes(server)
            began = time.perf_counter()
            results = load(ports, args, f"w{webs}r{run}")
            took = time.perf_counter() - began
            after = machine_busy(), [cpu_seconds(p) for p in pids], cpu_seconds(worker.proc.pid)
            pg_after = server_processes(server)
            pg_used = sum(pg_after[p] - pg_before[p] for p in pg_before if p in pg_after)
        seconds = args.seconds
        accepted = round(sum(r.rate for r in results) * seconds)
        stored = count_stored(server.conninfo(name))
        return Run(
            rate=sum(r.rate for r in results),
            accepted=accepted,
            errors=sum(r.errors for r in results),
            stored=stored,
            p99_ms=max(r.p99_ms for r in results),
            busy=(after[0][0] - before[0][0]) / max(1, after[0][1] - before[0][1]),
            web_cpu=(sum(after[1]) - sum(before[1])) / took,
            worker_cpu=(after[2] - before[2]) / took,
            postgres_cpu=pg_used / took,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def spread(values: list[float], fmt: str = ",.0f") -> str:
    return f"{format(min(values), fmt)}..{format(max(values), fmt)}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the measures to this file")
    parser.add_argument(
        "--worker-beside",
        action="store_true",
        help="keep the worker triaging during the load (default: paused, intake alone)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing (Debian package wrk)")
    from tests.postgres_fixture import new_base_dir, start_postgres

    began = time.perf_counter()
    runs: dict[int, list[Run]] = {1: [], 2: []}
    with start_postgres(new_base_dir(in_memory=False), fsync=True) as server:
        log(f"PostgreSQL started (fsync on) at {server.url}")
        for run in range(args.runs):
            for webs in (1, 2):
                done = measure(server, webs, args, run)
                runs[webs].append(done)
                log(
                    f"run {run + 1}, {webs} web: {done.rate:,.0f} alerts/s, p99 "
                    f"{done.p99_ms:.0f} ms, {done.errors} errors, {done.stored:,} stored"
                )
    one = statistics.median(r.rate for r in runs[1])
    two = statistics.median(r.rate for r in runs[2])
    # Each run measures one and two web processes back to back: the ratio is taken per run,
    # then the median, as bench/alerts.py does against Alertmanager.
    ratios = [b.rate / a.rate for a, b in zip(runs[1], runs[2], strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"alert intake on PostgreSQL (fsync on), code {code_version()}, {os.cpu_count()} CPUs: "
        f"`intake run --only web` x1 and x2, one `--only worker` "
        f"{'triaging beside' if args.worker_beside else 'paused during the load'}; wrk -t2, "
        f"{args.connections} connections in all, {args.seconds} s; median of {args.runs}"
    )
    print(
        f"  {'web processes':<14} {'alerts/s':>9}  {'min..max':<15} {'p99 ms':>7}  "
        f"{'stored/2xx':<18} {'CPU busy':>8}  {'web cores':>9}  {'worker cores':>12}  "
        f"{'PostgreSQL cores':>16}"
    )
    for webs, label in ((1, "1"), (2, "2 (1 port)" if SHARED_PORT else "2 (2 ports)")):
        rates = [r.rate for r in runs[webs]]
        p99 = statistics.median(r.p99_ms for r in runs[webs])
        kept = min(r.stored / max(1, r.accepted) for r in runs[webs])
        busy = statistics.median(r.busy for r in runs[webs])
        web_cpu = statistics.median(r.web_cpu for r in runs[webs])
        worker_cpu = statistics.median(r.worker_cpu for r in runs[webs])
        pg_cpu = statistics.median(r.postgres_cpu for r in runs[webs])
        print(
            f"  {label:<14} {statistics.median(rates):>9,.0f}  {spread(rates):<15} {p99:>7.0f}  "
            f"{f'{kept:.3f} (lowest)':<18} {busy:>8.0%}  {web_cpu:>9.2f}  {worker_cpu:>12.2f}  "
            f"{pg_cpu:>16.2f}"
        )
    print(
        "  (CPU busy: the whole machine during the load, every process on it; cores: CPU "
        "seconds per second of the web processes together, the worker, and the database "
        "server's processes; what is left of the 2 cores went to wrk and other work)"
    )
    passed = ratio >= SCALE_TARGET
    print(
        f"ratio 2 / 1, per run: {ratio:.2f} ({spread(ratios, '.2f')}; of the medians "
        f"{two / one:.2f}) (target >= {SCALE_TARGET}): {'PASS' if passed else 'FAIL'}; "
        f"took {(time.perf_counter() - began) / 60:.1f} min"
    )
    if args.json:
        errors = sum(r.errors for r in runs[1] + runs[2])
        found = [
            Figure(
                name=(
                    "alert intake, 2 web processes on PostgreSQL (signed Sentry, "
                    f"{'1 port, SO_REUSEPORT' if SHARED_PORT else '2 ports, 2 wrk summed'})"
                ),
                ours=two,
                unit="alerts/s",
                anchor=one,
                anchor_name="1 web process, same run",
                ratio=ratio,
                target=f">= {SCALE_TARGET:.2f}",
                passed=passed,
                note=(
                    f"median of {args.runs}; {errors} non-2xx/socket errors; machine CPU busy "
                    f"{statistics.median(r.busy for r in runs[1]):.0%} with 1 web, "
                    f"{statistics.median(r.busy for r in runs[2]):.0%} with 2"
                ),
            )
        ]
        write_json(args.json, "alerts_scale", found)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
