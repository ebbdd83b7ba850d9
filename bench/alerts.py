"""Alert intake: durable signed Sentry webhooks against Prometheus Alertmanager, and processing lag.

Run from the repository root (needs `wrk` and `prometheus-alertmanager` from Debian):

    .venv/bin/python bench/alerts.py [--runs 3] [--seconds 10] [--connections 50]
                                     [--lag-rate 500] [--lag-seconds 10]

It prints one table:

1. our intake: `intake run --only web` (uvicorn, one process, one event loop) on a
   fresh SQLite database with durable commits, loaded by wrk with
   `--connections` connections posting one signed ~3 KB Sentry `event_alert` body per
   request; the body and its signature are fixed and every request carries its own
   Request-ID (a wrk Lua script), so each is stored as a new raw message. Accepted
   alerts/s (2xx only) and p50/p99 latency as wrk reports them. Triage runs after
   the response, in the worker role (below it runs beside the web role, in the same
   process, for the processing lag); here the web role's intake alone is measured,
   and what it stored is triaged afterwards;
2. the anchor, measured in the same run on the same machine with the same wrk
   settings: Prometheus Alertmanager (`/usr/bin/prometheus-alertmanager`, clustering
   off, a null receiver) taking one alert per `POST /api/v2/alerts`;
3. the ratio of (1) to (2) in each run, and their median; for context a no-op
   Starlette app (reads the body, answers 202) under the same wrk load: the
   framework's ceiling on this machine now;
4. processing lag at a steady `--lag-rate` alerts/s for `--lag-seconds`, with the
   service as `make run` starts it (`intake run --only web,worker`: web app and
   pipeline worker in one process): a paced
   client posts signed alerts and notes when each 2xx came back; a reader polls the
   database every 10 ms and notes when each report is there, triaged and grouped
   (committed). Lag = seen - acknowledged, p50/p99 over every alert.

Each figure is the median of `--runs` runs (intake and Alertmanager interleaved);
min..max are shown because a shared machine is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT.parent / "shared" / "examples" / "001-checkout-error-single-customer.sentry.json"
SECRET = "bench-client-secret-0123456789abcdef"
WRK_SCRIPT = """
local counter = 0
local thread_id = 0
local tag = "%(tag)s"
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  thread_id = id
end
function request()
  counter = counter + 1
  local headers = {}
  headers["Content-Type"] = "application/json"
  %(headers)s
  headers["Request-ID"] = tag .. "-" .. thread_id .. "-" .. counter
  return wrk.format("POST", "%(path)s", headers, body)
end
body = [==[%(body)s]==]
"""
ALERTMANAGER_CONFIG = """
route:
  receiver: "null"
receivers:
  - name: "null"
"""


@dataclass
class WrkResult:
    rate: float  # 2xx responses per second
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server on {port} did not start") from None
            time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    """SIGTERM, as a service manager stops it; SIGKILL if it has not gone within a minute."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def sentry_body() -> bytes:
    payload = json.loads(EXAMPLE.read_bytes())
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body


def sign(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


class Intake:
    """`intake run` on a fresh SQLite database (durable commits), as a user runs it."""

    def __init__(self, folder: Path, roles: str = "web") -> None:
        self.folder = folder
        self.db = folder / "intake.db"
        self.url = f"sqlite:///{self.db}"
        config = folder / "intake.toml"
        config.write_text(
            f'[database]\nurl = "{self.url}"\n'
            '[[sentry]]\nname = "bench"\nclient_secret_env = "BENCH_SENTRY_SECRET"\n'
        )
        self.port = free_port()
        env = {**os.environ, "BENCH_SENTRY_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
        self.log = (folder / "serve.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core.cli",
                "--config",
                str(config),
                "run",
                "--only",
                roles,
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        stop_process(self.proc, self.log)


class Alertmanager:
    def __init__(self, folder: Path) -> None:
        (folder / "am.yml").write_text(ALERTMANAGER_CONFIG)
        self.port = free_port()
        self.log = (folder / "alertmanager.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "/usr/bin/prometheus-alertmanager",
                f"--config.file={folder / 'am.yml'}",
                f"--storage.path={folder / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def run_wrk(
    port: int, path: str, body: str, headers: dict[str, str], args: argparse.Namespace, tag: str
) -> WrkResult:
    lua_headers = "\n  ".join(f'headers["{k}"] = "{v}"' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"tag": tag, "headers": lua_headers, "path": path, "body": body})
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{args.connections}",
                f"-d{args.seconds}s",
                "--latency",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    return parse_wrk(out)


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(out: str) -> WrkResult:
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    match = re.search(r"requests in ([\d.]+)(ms|s|m)", out)
    assert match
    seconds = float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2)]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(errors_match.group(1)) if errors_match else 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    assert p50 and p99, out
    return WrkResult((requests - errors) / seconds, _ms(p50.group(1)), _ms(p99.group(1)), errors)


def measure_intake(args: argparse.Namespace, run: int, roles: str = "web") -> WrkResult:
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as folder:
        intake = Intake(Path(folder), roles)
        try:
            body = sentry_body()
            headers = {"Sentry-Hook-Resource": "event_alert", "Sentry-Hook-Signature": sign(body)}
            return run_wrk(
                intake.port, "/webhooks/sentry", body.decode(), headers, args, f"{roles}{run}"
            )
        finally:
            intake.stop()


NOOP_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def accept(request):
    return JSONResponse({"read": len(await request.body())}, 202)

app = Starlette(routes=[Route("/webhooks/sentry", accept, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def measure_noop(args: argparse.Namespace, run: int) -> WrkResult:
    """The framework's ceiling on this machine now: Starlette reading the body, nothing else."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", NOOP_APP, str(port)], cwd=ROOT)
    try:
        wait_port(port, proc)
        body = sentry_body()
        headers = {"Sentry-Hook-Resource": "event_alert", "Sentry-Hook-Signature": sign(body)}
        return run_wrk(port, "/webhooks/sentry", body.decode(), headers, args, f"noop{run}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure_alertmanager(args: argparse.Namespace, run: int) -> WrkResult:
    with tempfile.TemporaryDirectory(prefix="bench-am-") as folder:
        am = Alertmanager(Path(folder))
        try:
            alert = [
                {
                    "labels": {
                        "alertname": "CheckoutErrorRate",
                        "service": "checkout",
                        "run": str(run),
                    },
                    "annotations": {"summary": "Checkout failing for customers in production"},
                    "generatorURL": "http://prometheus.example:9090/graph",
                }
            ]
            headers: dict[str, str] = {}
            return run_wrk(am.port, "/api/v2/alerts", json.dumps(alert), headers, args, f"am{run}")
        finally:
            am.stop()


def measure_lag(args: argparse.Namespace) -> list[float]:
    """Seconds from each 2xx to its report being committed, at a steady rate."""
    with tempfile.TemporaryDirectory(prefix="bench-lag-") as folder:
        intake = Intake(Path(folder), "web,worker")
        engine = create_engine(intake.url, poolclass=NullPool)
        acked: dict[str, float] = {}
        seen: dict[str, float] = {}
        done = threading.Event()

        def watch() -> None:
            last = 0
            query = text(
                "SELECT r.id, m.natural_key FROM reports r JOIN raw_messages m ON m.id = r.raw_id "
                "WHERE r.id > :last ORDER BY r.id"
            )
            while not done.is_set() or len(seen) < len(acked):
                with engine.connect() as connection:
                    rows = connection.execute(query, {"last": last}).all()
                now = time.monotonic()
                for report_id, key in rows:
                    seen.setdefault(key, now)
                    last = max(last, report_id)
                time.sleep(0.01)
                if done.is_set() and time.monotonic() > done_at[0] + 60:
                    break

        done_at = [0.0]
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            asyncio.run(paced_load(intake.port, args.lag_rate, args.lag_seconds, acked))
        finally:
            done_at[0] = time.monotonic()
            done.set()
            watcher.join()
            intake.stop()
            engine.dispose()
        return [seen[key] - acked[key] for key in acked if key in seen] + [
            float("inf") for key in acked if key not in seen
        ]


async def paced_load(port: int, rate: int, seconds: float, acked: dict[str, float]) -> None:
    body = sentry_body()
    signature = sign(body)
    connections = 20
    per_connection = rate / connections
    total = int(rate * seconds)

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while True:
            number = index + n * connections
            if number >= total:
                break
            await asyncio.sleep(max(0.0, start + n / per_connection - loop.time()))
            key = f"lag-{number}"
            head = (
                f"POST /webhooks/sentry HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n"
                f"Sentry-Hook-Resource: event_alert\r\nSentry-Hook-Signature: {signature}\r\n"
                f"Request-ID: {key}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            answer = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", answer.lower()).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if answer.split(b" ", 2)[1].startswith(b"2"):
                acked[key] = time.monotonic()
            n += 1
        writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    low, mid, high = (fmt.format(v) for v in (min(values), statistics.median(values), max(values)))
    return f"{mid} ({low}..{high})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--lag-rate", type=int, default=500)
    parser.add_argument("--lag-seconds", type=float, default=10)
    parser.add_argument("--lag-runs", type=int, default=2)
    args = parser.parse_args()
    for tool in ("wrk", "/usr/bin/prometheus-alertmanager"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing (Debian packages wrk, prometheus-alertmanager)")
    ours: list[WrkResult] = []
    theirs: list[WrkResult] = []
    noops: list[WrkResult] = []
    with_triage: list[WrkResult] = []
    for run in range(args.runs):
        ours.append(measure_intake(args, run))
        with_triage.append(measure_intake(args, run, "web,worker"))
        theirs.append(measure_alertmanager(args, run))
        noops.append(measure_noop(args, run))
        print(
            f"run {run + 1}: intake {ours[-1].rate:,.0f}/s p99 {ours[-1].p99_ms:.1f} ms "
            f"(errors {ours[-1].errors}); alertmanager {theirs[-1].rate:,.0f}/s",
            file=sys.stderr,
        )
    lags: list[list[float]] = []
    for _ in range(args.lag_runs):
        lags.append(measure_lag(args))
        print(f"lag run: p99 {percentile(lags[-1], 0.99):.3f} s", file=sys.stderr)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    our_rates = [r.rate for r in ours]
    their_rates = [r.rate for r in theirs]
    # Each run's intake and Alertmanager share that moment's machine: the ratio is taken per
    # run, then the median, which a noisy neighbour skews less than a ratio of medians.
    ratios = [o / t for o, t in zip(our_rates, their_rates, strict=True)]
    print(
        f"\nalert intake, commit {commit}, {os.cpu_count()} CPUs, wrk -t2 -c{args.connections} "
        f"-d{args.seconds}s, median of {args.runs} runs (min..max)\n"
    )
    rows = [
        ("measure", "figure", "target"),
        ("signed Sentry intake (durable, SQLite), alerts/s", spread(our_rates), ""),
        ("  p50 latency, ms", spread([r.p50_ms for r in ours], "{:.1f}"), ""),
        ("  p99 latency, ms", spread([r.p99_ms for r in ours], "{:.1f}"), "<= 50"),
        ("  non-2xx or socket errors", spread([float(r.errors) for r in ours]), "0"),
        ("Alertmanager POST /api/v2/alerts (1 alert), alerts/s", spread(their_rates), "anchor"),
        ("  p99 latency, ms", spread([r.p99_ms for r in theirs], "{:.1f}"), ""),
        ("ratio intake / Alertmanager, per run", spread(ratios, "{:.2f}"), ">= 0.25"),
        (
            "context: the same with triage in the process (web,worker), alerts/s",
            spread([r.rate for r in with_triage]),
            "",
        ),
        ("  p99 latency, ms", spread([r.p99_ms for r in with_triage], "{:.1f}"), ""),
        (
            "context: no-op Starlette (reads the body, answers 202), alerts/s",
            spread([r.rate for r in noops]),
            "",
        ),
        (
            "  ratio no-op / Alertmanager (the framework's ceiling here)",
            f"{statistics.median([r.rate for r in noops]) / statistics.median(their_rates):.2f}",
            "",
        ),
        (
            f"processing lag at {args.lag_rate}/s for {args.lag_seconds:.0f} s, p50 s",
            spread([percentile(lag, 0.5) for lag in lags], "{:.3f}"),
            "",
        ),
        ("  p99 s", spread([percentile(lag, 0.99) for lag in lags], "{:.3f}"), "<= 1"),
        ("  alerts acknowledged per lag run", spread([float(len(lag)) for lag in lags]), ""),
    ]
    width = max(len(r[0]) for r in rows)
    fig = max(len(r[1]) for r in rows)
    for name, figure, target in rows:
        print(f"{name:<{width}}  {figure:>{fig}}  {target}")


if __name__ == "__main__":
    main()
