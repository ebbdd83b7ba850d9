"""Benchmark notifications: SMTP delivery rate with connection reuse, and digest rendering.

1. 1,000 queued emails delivered by the delivery worker to a local aiosmtpd
   (claim, render, build MIME, send over one reused connection, durable
   "sent" commit per row). Anchor: raw smtplib sending the same 1,000
   messages, already built, over one connection, in the same run.
2. A digest over 10,000 incidents (database queries + sandboxed render of the
   text and HTML mail). Anchor: the bare Jinja2 render of the same templates
   with the context precomputed.

Prints medians of several runs. Usage: .venv/bin/python bench/notify.py [--runs 3]
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
# bench/ off the path: bench/telegram.py would stand in for python-telegram-bot.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape  # noqa: E402
from sqlalchemy import insert, update  # noqa: E402

from bench.results import Figure, write_json  # noqa: E402
from core import lifecycle  # noqa: E402
from core.config import parse_config  # noqa: E402
from core.db import make_engine, session_factory, transaction  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Incident, TimelineEvent, table  # noqa: E402
from core.models_notify import OutboxMessage  # noqa: E402
from core.outbox import install_runtime  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from notify import digests  # noqa: E402
from notify.channel_smtp import SmtpChannel  # noqa: E402
from notify.delivery import Delivery  # noqa: E402
from notify.render import BUILTIN, Renderer  # noqa: E402
from notify.samples import template_context  # noqa: E402

EMAILS = 1000
INCIDENTS = 10_000
DELIVERY_TARGET = 100.0  # msg/s, issue 7
DIGEST_TARGET = 1.0  # seconds, issue 7


def runtime(folder: Path, toml: str) -> Runtime:
    url = f"sqlite:///{folder}/bench.db"
    config = parse_config(tomllib.loads(toml))
    engine = make_engine(url)
    rt = Runtime(config, engine, session_factory(engine), upgrade(engine))
    install_runtime(rt)
    return rt


SERVER = """
import asyncio, sys
from aiosmtpd.controller import Controller

class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 OK"

controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
for line in sys.stdin:
    print(Count.n, flush=True)
"""


class Server:
    """aiosmtpd in its own process, as a real server would be: no GIL shared with the sender."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def received(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("?\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


class Recording(SmtpChannel):
    """The worker's SMTP channel, keeping what it sent for the anchor to send again."""

    sent: ClassVar[list[tuple[str, bytes]]] = []

    def send(self, message: bytes, recipient: str) -> None:
        super().send(message, recipient)
        self.sent.append((recipient, message))


def delivery_run(server: Server) -> tuple[float, float]:
    emails = ", ".join(f'"user{i}@ourco.example"' for i in range(EMAILS))
    toml = f"""
[smtp]
host = "127.0.0.1"
port = {server.port}
tls = "plain"
from = "Incident desk <desk@ourco.example>"
incident_address = "incidents@ourco.example"
[[audience]]
name = "everyone"
emails = [{emails}]
"""
    with tempfile.TemporaryDirectory() as tmp:
        rt = runtime(Path(tmp), toml)
        with transaction(rt.factory) as session:
            lifecycle.declare(session, "bench", title="Bench incident", severity="SEV2")
        delivery = Delivery(rt, batch=200)
        assert rt.config.notify.smtp is not None
        delivery.smtp = Recording(rt.config.notify.smtp)
        Recording.sent = []
        before = server.received()
        start = time.perf_counter()
        stats = delivery.deliver_due()
        ours = time.perf_counter() - start
        assert stats.sent == EMAILS and server.received() - before == EMAILS, stats.errors[:3]
        payloads = list(Recording.sent)
        rt.engine.dispose()
    before = server.received()
    start = time.perf_counter()
    connection = smtplib.SMTP("127.0.0.1", server.port)
    for recipient, data in payloads:
        connection.sendmail("desk@ourco.example", [recipient], data)
    connection.quit()
    anchor = time.perf_counter() - start
    assert server.received() - before == EMAILS
    return EMAILS / ours, EMAILS / anchor


def seed_incidents(rt: Runtime) -> None:
    at = datetime.now(UTC)
    rows = [
        {
            "title": f"Incident {i} <with> some title text",
            "status": ("live", "triage", "resolved")[i % 3],
            "severity": f"SEV{1 + i % 4}",
            "types": ["engineering"],
            "quadrant": "incident_response",
            "opened_at": at - timedelta(minutes=i),
            "last_activity_at": at,
            "resolved_at": at - timedelta(minutes=i // 2) if i % 3 == 2 else None,
        }
        for i in range(INCIDENTS)
    ]
    events = [
        {
            "incident_id": i + 1,
            "kind": "update_posted",
            "actor": "bench",
            "reason": f"update {i}",
            "data": {},
            "at": at,
        }
        for i in range(0, INCIDENTS, 2)
    ]
    with transaction(rt.factory) as session:
        session.execute(insert(table(Incident)), rows)
        session.execute(insert(table(TimelineEvent)), events)
        session.execute(update(table(OutboxMessage)).values(state="sent"))


def digest_run(rt: Runtime, renderer: Renderer, bare: Environment) -> tuple[float, float]:
    audience = rt.config.notify.audience("support")
    assert audience is not None
    end = datetime.now(UTC)
    start = end - timedelta(days=1)
    began = time.perf_counter()
    with rt.factory() as session:
        digest = digests.build(session, audience, start, end, "http://127.0.0.1:8000")
    context = template_context("digest", "", {"digest": digest})
    rendered = renderer.message("email", "digest", context)
    ours = time.perf_counter() - began
    assert digest["open_count"] > 6000 and "more" in rendered.html
    began = time.perf_counter()
    bare.get_template("digest/digest.txt").render(**context)
    bare.get_template("digest/digest.html").render(**context)
    anchor = time.perf_counter() - began
    return ours, anchor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(f"bench/notify.py at {commit}, median of {args.runs} runs")

    server = Server()
    try:
        rates = [delivery_run(server) for _ in range(args.runs)]
    finally:
        server.stop()
    ours_rate = statistics.median(r[0] for r in rates)
    anchor_rate = statistics.median(r[1] for r in rates)

    toml = """
[[audience]]
name = "support"
emails = ["support@ourco.example"]
digest = { cron = "0 9 * * *", timezone = "Europe/Berlin" }
"""
    with tempfile.TemporaryDirectory() as tmp:
        rt = runtime(Path(tmp), toml)
        seed_incidents(rt)
        renderer = Renderer()
        bare = Environment(
            loader=FileSystemLoader(str(BUILTIN)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        bare.filters.update(renderer.env.filters)
        times = [digest_run(rt, renderer, bare) for _ in range(args.runs)]
        rt.engine.dispose()
    digest_s = statistics.median(t[0] for t in times)
    bare_s = statistics.median(t[1] for t in times)

    print()
    print(f"{'measure':<52} {'ours':>12} {'anchor':>12} {'ratio':>7}")
    print(
        f"{'1,000 emails to local aiosmtpd (msg/s; >= 100)':<52} "
        f"{ours_rate:>12.0f} {anchor_rate:>12.0f} {ours_rate / anchor_rate:>7.2f}"
    )
    print(
        f"{'digest over 10,000 incidents (s; <= 1.0)':<52} "
        f"{digest_s:>12.3f} {bare_s:>12.3f} {digest_s / bare_s:>7.2f}"
    )
    print()
    print("anchors: raw smtplib sendmail of the same built messages over one connection;")
    print("         bare Jinja2 render of the same digest templates, context precomputed")
    if args.json:
        found = [
            Figure(
                name="1,000 queued emails delivered to a local aiosmtpd",
                ours=ours_rate,
                unit="msg/s",
                anchor=anchor_rate,
                anchor_name="raw smtplib, same built messages, one connection",
                ratio=ours_rate / anchor_rate,
                target=f">= {DELIVERY_TARGET:.0f}/s",
                passed=ours_rate >= DELIVERY_TARGET,
                note=f"median of {args.runs}",
            ),
            Figure(
                name="digest over 10,000 incidents",
                ours=digest_s,
                unit="s",
                anchor=bare_s,
                anchor_name="bare Jinja2 render, context precomputed",
                ratio=digest_s / bare_s,
                target=f"<= {DIGEST_TARGET:.1f} s",
                passed=digest_s <= DIGEST_TARGET,
                note=f"median of {args.runs}",
                lower_is_better=True,
            ),
        ]
        write_json(args.json, "notify", found)


if __name__ == "__main__":
    main()
