"""Telegram bot throughput and latency through the loopback Bot API server.

Run from the repository root:

    .venv/bin/python bench/telegram.py [--n 3000] [--latency-n 300] [--rate 50]
                                       [--runs 3] [--postgres]

1. Throughput: N group messages (the shared Telegram examples, varied: each its
   own update_id, message_id and words) are queued in the loopback server
   (tests/botapi_fixture.py, a real HTTP server on 127.0.0.1), then the bot
   (ingest.telegram_bot, python-telegram-bot's HTTP client, long polling) starts
   and the clock runs until every message is stored (durable commit, SQLite
   synchronous=FULL) and its report triaged and grouped. Updates/s = N / time.
2. Latency: messages pushed one by one at --rate per second while the bot polls;
   for each, the time from being available in getUpdates to its report being
   visible in the database (a watcher reads new reports every 5 ms). p50 / p99.
3. Anchor, same run: bare `parse_update` + `triage` of the same updates in this
   process, no bot, no database. The ratio says what the bot costs on top.
4. The two stages alone, same updates, no HTTP: storing them (the bot's `accept`,
   100 per durable commit) and then `core.pipeline.run_pending` over them; the
   slower one bounds (1).

The pipeline trigger: after each committed batch the poll loop signals the bot's
pipeline worker, which runs core.pipeline.run_pending at once (in a thread)
while the loop fetches the next batch.
Figures are the median of --runs runs (fresh database each).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import telegram  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.results import Figure, write_json  # noqa: E402
from core.config import Config  # noqa: E402
from core.config_telegram import ChatRule, TelegramConfig  # noqa: E402
from core.db import make_engine, session_factory  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import StoredReport  # noqa: E402
from core.pipeline import run_pending  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.triage.engine import triage  # noqa: E402
from ingest.raw import parse_raw  # noqa: E402
from ingest.telegram import parse_update  # noqa: E402
from ingest.telegram_bot import TelegramBot  # noqa: E402
from ingest.telegram_bot_accept import accept  # noqa: E402
from ingest.telegram_bot_filter import BotIdentity  # noqa: E402
from tests.botapi_fixture import BotApiServer  # noqa: E402

EXAMPLES = ROOT.parent / "shared" / "examples"
RATE_TARGET = 500.0  # updates/s through the loopback server, issue 6
LATENCY_P99_TARGET_MS = 1000.0  # message available -> report triaged, issue 6
WORDS = "checkout search payments login export riders kitchen invoices api dashboard".split()


def templates() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.telegram.json"))]


def make_updates(n: int, start_id: int) -> tuple[list[dict[str, Any]], set[int]]:
    base = templates()
    updates, chats = [], set()
    for index in range(n):
        update = copy.deepcopy(base[index % len(base)])
        message = update["message"]
        message["message_id"] = 100_000 + start_id + index
        message["text"] = f"[{WORDS[index % len(WORDS)]} #{index}] " + message["text"]
        message.pop("entities", None)  # the prefix would shift their offsets
        update["update_id"] = start_id + index
        chats.add(message["chat"]["id"])
        updates.append(update)
    return updates, chats


def runtime(url: str, server: BotApiServer, chats: set[int]) -> Runtime:
    engine = make_engine(url)
    migrated = upgrade(engine)
    config = Config(
        database_url=url,
        telegram=TelegramConfig(
            token_env="UNUSED",
            base_url=server.base_url,
            chats=tuple(ChatRule(c, "all") for c in sorted(chats)),
            poll_timeout=1,
        ),
    )
    work = session_factory(make_engine(url, durable=False))
    return Runtime(config, engine, session_factory(engine), migrated, work)


def report_count(rt: Runtime) -> int:
    with rt.factory() as session:
        return int(session.scalar(select(func.count()).select_from(StoredReport)) or 0)


async def throughput(url: str, n: int) -> float:
    server = BotApiServer().start()
    updates, chats = make_updates(n, 1)
    rt = runtime(url, server, chats)
    bot = TelegramBot(rt, telegram.Bot(server.token, base_url=server.base_url))
    await bot.start()
    for update in updates:
        server.push_update(update)
    stop = asyncio.Event()
    began = time.perf_counter()
    task = asyncio.create_task(bot.run(stop))
    while await asyncio.to_thread(report_count, rt) < n:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - began
    stop.set()
    await task
    server.stop()
    rt.engine.dispose()
    return n / elapsed


class Watcher(threading.Thread):
    """Notes when each report becomes visible, by message id, polling every 5 ms."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(daemon=True)
        self.rt = rt
        self.seen: dict[int, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        last = 0
        while not self.halt.is_set():
            with self.rt.factory() as session:
                rows = session.execute(
                    select(StoredReport.id, StoredReport.fields).where(StoredReport.id > last)
                ).all()
            now = time.perf_counter()
            for report_id, fields in rows:
                self.seen[int(fields["message_id"])] = now
                last = max(last, report_id)
            time.sleep(0.005)


async def latency(url: str, n: int, rate: float) -> list[float]:
    server = BotApiServer().start()
    updates, chats = make_updates(n, 1)
    rt = runtime(url, server, chats)
    bot = TelegramBot(rt, telegram.Bot(server.token, base_url=server.base_url))
    stop = asyncio.Event()
    task = asyncio.create_task(bot.run(stop))
    await bot.start()
    await asyncio.sleep(0.5)  # the bot is in its long poll
    watcher = Watcher(rt)
    watcher.start()
    pushed: dict[int, float] = {}
    for update in updates:
        pushed[update["message"]["message_id"]] = time.perf_counter()
        server.push_update(update)
        await asyncio.sleep(1 / rate)
    deadline = time.perf_counter() + 30
    while len(watcher.seen) < n and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    watcher.halt.set()
    stop.set()
    await task
    server.stop()
    rt.engine.dispose()
    missing = n - len(watcher.seen)
    if missing:
        raise SystemExit(f"{missing} messages never triaged")
    return sorted(watcher.seen[m] - pushed[m] for m in pushed)


def stages(url: str, n: int) -> tuple[float, float]:
    """The bot's two stages alone, same updates, no HTTP: storing (accept), then the pipeline."""
    server = BotApiServer()  # not started: only its base_url goes into the config
    updates, chats = make_updates(n, 1)
    rt = runtime(url, server, chats)
    me = BotIdentity(123456, "intake_test_bot")
    began = time.perf_counter()
    for start in range(0, n, 100):
        accept(rt.factory, updates[start : start + 100], rt.config, me)
    stored = time.perf_counter()
    run_pending(rt.work, parse_raw, rt.config)
    done = time.perf_counter()
    rt.engine.dispose()
    server._http.server_close()
    return n / (stored - began), n / (done - stored)


def anchor(n: int) -> float:
    updates, _ = make_updates(n, 1)
    bodies = [json.dumps(u).encode() for u in updates]
    config = Config().triage
    began = time.perf_counter()
    for body in bodies:
        report = parse_update(body)
        assert report is not None
        triage(report, config)
    return n / (time.perf_counter() - began)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--latency-n", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="messages/s in the latency run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    found: list[Figure] = []
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(f"bench/telegram.py at {commit}, Python {platform.python_version()}, {args.runs} runs")
    databases = ([] if args.skip_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    for database in databases:
        rates, anchors, lat50, lat99, stores, pipes = [], [], [], [], [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                url = _url(database, Path(tmp), "t")
                rates.append(asyncio.run(throughput(url, args.n)))
                anchors.append(anchor(args.n))
                store_rate, pipe_rate = stages(_url(database, Path(tmp), "s"), args.n)
                stores.append(store_rate)
                pipes.append(pipe_rate)
                url = _url(database, Path(tmp), "l")
                waits = asyncio.run(latency(url, args.latency_n, args.rate))
                lat50.append(percentile(waits, 50))
                lat99.append(percentile(waits, 99))
        rate, base = statistics.median(rates), statistics.median(anchors)
        print(f"\n{database}: {args.n} updates through the loopback Bot API server")
        print(f"{'figure':<52}{'value':>14}")
        print(f"{'bot: updates stored + triaged per second':<52}{rate:>12.0f}/s")
        print(f"{'anchor: bare parse + triage per second (no bot/db)':<52}{base:>12.0f}/s")
        print(f"{'ratio bot / anchor':<52}{rate / base:>14.3f}")
        store, pipe = statistics.median(stores), statistics.median(pipes)
        print(f"{'  stage alone: storing (accept, durable commits)':<52}{store:>12.0f}/s")
        print(f"{'  stage alone: core.pipeline.run_pending':<52}{pipe:>12.0f}/s")
        p50, p99 = statistics.median(lat50) * 1000, statistics.median(lat99) * 1000
        print(f"{'latency p50, message available -> triaged':<52}{p50:>11.0f} ms")
        print(f"{'latency p99, message available -> triaged':<52}{p99:>11.0f} ms")
        print(
            f"  (latency: {args.latency_n} messages at {args.rate:.0f}/s; runs: "
            f"rates {[round(r) for r in rates]}, p99 {[round(x * 1000) for x in lat99]} ms)"
        )
        found += [
            Figure(
                name=f"Telegram bot, updates stored + triaged ({database}, {args.n:,} updates)",
                ours=rate,
                unit="updates/s",
                anchor=base,
                anchor_name="bare parse + triage, no bot or database",
                ratio=rate / base,
                target=f">= {RATE_TARGET:.0f}/s",
                passed=rate >= RATE_TARGET,
                note=f"median of {args.runs}",
            ),
            Figure(
                name=f"Telegram message available -> triaged, p99 ({database})",
                ours=p99,
                unit="ms",
                target=f"<= {LATENCY_P99_TARGET_MS:.0f} ms",
                passed=p99 <= LATENCY_P99_TARGET_MS,
                note=f"{args.latency_n} messages at {args.rate:.0f}/s, median of {args.runs}",
                lower_is_better=True,
            ),
        ]
    if args.json:
        write_json(args.json, "telegram", found)


_PG: Any = None
_PG_DBS: list[Any] = []


def _url(database: str, tmp: Path, tag: str) -> str:
    if database == "sqlite":
        return f"sqlite:///{tmp}/{tag}.db"
    global _PG
    from tests.postgres_fixture import fresh_database, new_base_dir, start_postgres

    if _PG is None:  # on disk with fsync on: durable commits cost what they cost
        _PG = start_postgres(new_base_dir(in_memory=False), fsync=True)
    database_cm = fresh_database(_PG)
    _PG_DBS.append(database_cm)  # dropped with the server at exit
    return str(database_cm.__enter__())


if __name__ == "__main__":
    try:
        main()
    finally:
        for database_cm in _PG_DBS:
            database_cm.__exit__(None, None, None)
        if _PG is not None:
            _PG.close()
