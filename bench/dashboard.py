"""Dashboard incident list latency with 10,000 incidents stored, against the bare SQL of the page.

Run from the repository root:

    .venv/bin/python bench/dashboard.py [--incidents 10000] [--requests 200] [--runs 5]
                                        [--postgres]

It fills a fresh database (SQLite in a temporary folder; with `--postgres` a throwaway
PostgreSQL server with fsync on, tests/postgres_fixture.py) with `--incidents` incidents
of varied status, severity and types, each with one to three reports from varied sources
and its timeline events, written with plain INSERTs (the pipeline's own cost is
bench/pipeline.py's subject). Then it serves the whole web app (every route provider)
with real uvicorn on 127.0.0.1 and, for each page below, sends `--requests` sequential
GETs with one keep-alive httpx client and takes the p99 of the full round trip.

The anchor is the same page's bare SQL: the two statements the page needs (the count
and the 50 rows with their report counts) written by hand and run through the
database driver directly, timed the same way in the same run. The ratio says what the
web app, SQLAlchemy, the template and HTTP add to the database's own work. Each figure
is the median of `--runs` runs, page and anchor interleaved.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: bench/telegram.py would shadow the python-telegram-bot package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bench.results import Figure, write_json  # noqa: E402
from core.config import Config  # noqa: E402
from core.config_web import WebConfig  # noqa: E402
from core.db import make_engine, session_factory  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Incident, RawMessage, StoredReport, TimelineEvent, table  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.web.app import create_app  # noqa: E402

STATUSES = ["live"] * 2 + ["triage"] + ["resolved"] * 4 + ["closed"] * 8 + ["declined", "merged"]
SEVERITIES = ["SEV1", "SEV2", "SEV3", "SEV3", "SEV4", "SEV4"]
TYPES = ["engineering", "operational", "product", "customer_success", "security", "privacy"]
SOURCES = ["email", "email", "sentry", "telegram", "alertmanager"]
WORDS = (
    "checkout payments portal login api database queue latency outage customers invoices "
    "export calendar reminders sms scanner sync warehouse carrier labels backup vpn"
).split()

P99_TARGET_MS = 100.0  # issue 8: the incident list, 10,000 incidents stored
PAGES = [
    ("/incidents", "first page, no filter"),
    ("/incidents?status=closed&page=40", "status filter, page 40"),
    ("/incidents?source=sentry&severity=SEV2", "source + severity filter"),
    ("/incidents?q=payments+outage", "text search"),
]
BARE = {
    "/incidents": (
        "SELECT count(*) FROM incidents",
        "SELECT i.id, i.title, i.status, i.severity, i.types, i.opened_at, i.last_activity_at,"
        " (SELECT count(r.id) FROM reports r WHERE r.incident_id = i.id)"
        " FROM incidents i ORDER BY i.id DESC LIMIT 50 OFFSET 0",
    ),
    "/incidents?status=closed&page=40": (
        "SELECT count(*) FROM incidents WHERE status = 'closed'",
        "SELECT i.id, i.title, i.status, i.severity, i.types, i.opened_at, i.last_activity_at,"
        " (SELECT count(r.id) FROM reports r WHERE r.incident_id = i.id)"
        " FROM incidents i WHERE i.status = 'closed' ORDER BY i.id DESC LIMIT 50 OFFSET 1950",
    ),
    "/incidents?source=sentry&severity=SEV2": (
        "SELECT count(*) FROM incidents i WHERE i.severity = 'SEV2' AND EXISTS (SELECT 1 FROM"
        " reports r WHERE r.incident_id = i.id AND r.source = 'sentry')",
        "SELECT i.id, i.title, i.status, i.severity, i.types, i.opened_at, i.last_activity_at,"
        " (SELECT count(r.id) FROM reports r WHERE r.incident_id = i.id)"
        " FROM incidents i WHERE i.severity = 'SEV2' AND EXISTS (SELECT 1 FROM reports r"
        " WHERE r.incident_id = i.id AND r.source = 'sentry') ORDER BY i.id DESC LIMIT 50",
    ),
    "/incidents?q=payments+outage": (
        "SELECT count(*) FROM incidents i WHERE lower(i.title) LIKE '%payments outage%' OR"
        " EXISTS (SELECT 1 FROM reports r WHERE r.incident_id = i.id AND lower(r.title) LIKE"
        " '%payments outage%')",
        "SELECT i.id, i.title, i.status, i.severity, i.types, i.opened_at, i.last_activity_at,"
        " (SELECT count(r.id) FROM reports r WHERE r.incident_id = i.id)"
        " FROM incidents i WHERE lower(i.title) LIKE '%payments outage%' OR EXISTS (SELECT 1"
        " FROM reports r WHERE r.incident_id = i.id AND lower(r.title) LIKE '%payments outage%')"
        " ORDER BY i.id DESC LIMIT 50",
    ),
}


def commit_under_test() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "core", "templates", "bench"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return head + (" (working tree differs)" if dirty else "")


def fill(rt: Runtime, count: int, seed: int = 1) -> int:
    """`count` incidents, each with 1-3 reports and their timeline events; returns reports."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    raws, reports, incidents, events = [], [], [], []
    report_id = 0
    for n in range(1, count + 1):
        at = start + timedelta(minutes=37 * n)
        title = " ".join(rng.sample(WORDS, 4)).capitalize()
        status = rng.choice(STATUSES)
        incidents.append(
            {
                "id": n,
                "title": title,
                "status": status,
                "severity": rng.choice(SEVERITIES),
                "types": rng.sample(TYPES, rng.choice([1, 1, 2])),
                "quadrant": "incident_response",
                "opened_at": at,
                "last_activity_at": at + timedelta(minutes=30),
            }
        )
        events.append(
            {"incident_id": n, "at": at, "kind": "declared", "actor": "rule:triage", "data": {}}
        )
        for _ in range(rng.choice([1, 1, 2, 3])):
            report_id += 1
            source = rng.choice(SOURCES)
            raws.append(
                {
                    "id": report_id,
                    "source": source,
                    "natural_key": f"bench:{report_id}",
                    "received_at": at,
                    "body": b"x",
                    "meta": {},
                    "status": "processed",
                    "attempts": 0,
                    "processed_at": at,
                }
            )
            reports.append(
                {
                    "id": report_id,
                    "raw_id": report_id,
                    "source": source,
                    "title": title if rng.random() < 0.7 else " ".join(rng.sample(WORDS, 5)),
                    "text": "",
                    "created_at": at,
                    "triaged_at": at,
                    "decision": "incident",
                    "quadrant": "incident_response",
                    "planned": False,
                    "urgent": True,
                    "types": [],
                    "severity": "SEV3",
                    "golden": {},
                    "incident_id": n,
                }
            )
            events.append(
                {
                    "incident_id": n,
                    "at": at,
                    "kind": "report_attached",
                    "actor": "rule:triage",
                    "data": {"report_id": report_id},
                }
            )
    with rt.engine.begin() as connection:
        for model, rows in (
            (Incident, incidents),
            (RawMessage, raws),
            (StoredReport, reports),
            (TimelineEvent, events),
        ):
            for chunk in range(0, len(rows), 2000):
                connection.execute(insert(table(model)), rows[chunk : chunk + 2000])
        if rt.engine.dialect.name == "postgresql":
            for name in ("incidents", "raw_messages", "reports"):
                connection.execute(
                    text(f"SELECT setval('{name}_id_seq', (SELECT max(id) FROM {name}))")
                )
            connection.execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))
    return report_id


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def serve(rt: Runtime) -> Iterator[str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(rt), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = _QuietServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(action: Callable[[], Any], n: int) -> list[float]:
    action()  # warm: statement caches, templates, connection pool
    out = []
    for _ in range(n):
        began = time.perf_counter()
        action()
        out.append((time.perf_counter() - began) * 1000)
    return out


def bench(rt: Runtime, requests: int, runs: int) -> Iterator[tuple[str, str, float, float]]:
    """(path, label, page p99, bare SQL p99) per page, each the median of `runs` runs."""
    raw = rt.engine.raw_connection()
    with serve(rt) as url, httpx.Client(base_url=url, timeout=30) as client:

        def get(path: str) -> None:
            response = client.get(path)
            assert response.status_code == 200 and 'href="/incidents/INC-' in response.text, path

        def sql(count_sql: str, page_sql: str) -> None:
            cursor = raw.cursor()
            cursor.execute(count_sql)
            cursor.fetchall()
            cursor.execute(page_sql)
            cursor.fetchall()
            cursor.close()
            raw.commit()

        for path, label in PAGES:
            page_p99, bare_p99 = [], []
            for _ in range(runs):
                page_p99.append(p99(timed(lambda p=path: get(p), requests)))
                bare_p99.append(p99(timed(lambda p=path: sql(*BARE[p]), requests)))
            yield path, label, statistics.median(page_p99), statistics.median(bare_p99)
    raw.close()


def run(url: str, incidents: int, requests: int, runs: int, what: str) -> list[Figure]:
    engine = make_engine(url)
    upgrade(engine)
    web = WebConfig(generated_secret_file=Path(tempfile.mkdtemp()) / "secret")
    rt = Runtime(Config(database_url=url, web=web), engine, session_factory(engine), (None, None))
    began = time.perf_counter()
    reports = fill(rt, incidents)
    print(
        f"\n{what}: {incidents:,} incidents, {reports:,} reports stored in "
        f"{time.perf_counter() - began:.1f} s; {requests} sequential requests per run, "
        f"median of {runs} runs"
    )
    print(f"{'page':<42} {'p99 ms':>8} {'bare SQL p99 ms':>16} {'ratio':>7}")
    found = []
    for _path, label, page, bare in bench(rt, requests, runs):
        print(f"{label:<42} {page:>8.1f} {bare:>16.2f} {page / bare:>6.1f}x", flush=True)
        found.append(
            Figure(
                name=f"incident list p99, {label} ({what}, {incidents:,} incidents)",
                ours=page,
                unit="ms",
                anchor=bare,
                anchor_name="the page's bare SQL, p99",
                ratio=page / bare,
                target=f"<= {P99_TARGET_MS:.0f} ms",
                passed=page <= P99_TARGET_MS,
                note=f"{requests} sequential requests, median of {runs}",
                lower_is_better=True,
            )
        )
    engine.dispose()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (fsync on)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    print(f"bench/dashboard.py at {commit_under_test()}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        found = run(url, args.incidents, args.requests, args.runs, "SQLite")
    if args.postgres:
        from tests.postgres_fixture import new_base_dir, start_postgres

        with start_postgres(new_base_dir(), fsync=True) as server:
            found += run(server.url, args.incidents, args.requests, args.runs, "PostgreSQL")
    if args.json:
        write_json(args.json, "dashboard", found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
