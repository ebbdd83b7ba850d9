"""Digests: cron in the audience's zone across DST, exactly once per period, catch-up on start."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core import lifecycle
from core.config_notify import Audience, Digest
from notify import digests
from tests.helpers import tx
from tests.notify_helpers import notify_runtime, outbox

CONFIG = """
[[audience]]
name = "support"
emails = ["support@ourco.example", "lead@ourco.example"]
events = []
digest = { cron = "0 9 * * *", timezone = "Europe/Berlin", options = { grace_minutes = 120 } }
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_fire_times_follow_the_wall_clock_across_dst() -> None:
    nine = Audience("a", digest=Digest("0 9 * * *", "Europe/Berlin"))
    spring = digests.fire_times(nine, utc(2026, 3, 27), utc(2026, 3, 31))
    assert [t.astimezone(UTC).hour for t in spring] == [8, 8, 7, 7]  # 09:00 CET, then CEST
    assert all(t.hour == 9 for t in spring)
    night = Audience("b", digest=Digest("30 2 * * *", "Europe/Berlin"))
    autumn = digests.fire_times(night, utc(2026, 10, 24), utc(2026, 10, 27))
    assert [t.astimezone(UTC) for t in autumn] == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),  # 02:30 happens twice that night: sent once
        utc(2026, 10, 26, 1, 30),
    ]
    gap = digests.fire_times(night, utc(2026, 3, 28), utc(2026, 3, 30))
    assert [t.astimezone(UTC) for t in gap] == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30)]
    start, end = digests.period_for(nine, spring[2])
    assert (start, end) == (spring[1], spring[2])


def test_digest_content_and_exactly_once_with_two_schedulers(db_url: str) -> None:
    rt = notify_runtime(db_url, CONFIG)
    with tx(rt) as session:
        first = lifecycle.declare(session, "cli:ana", title="Portal <down>", severity="SEV1").ref
        lifecycle.post_update(session, first, "Vendor engaged", "cli:ana")
        lifecycle.open_incident(session, "Maybe a leak", "rule:triage", "thin", status="triage")
    audience = rt.config.notify.audience("support")
    assert audience is not None
    at = datetime.now(UTC)
    fire = digests.latest_fire(audience, at)
    assert fire is not None
    if at - fire > timedelta(minutes=120):
        at = fire + timedelta(minutes=5)  # inside the grace period
    results: list[int | None] = []
    barrier = threading.Barrier(2)

    def scheduler(name: str) -> None:
        barrier.wait()
        results.append(digests.run_due(rt, audience, at, name))

    threads = [threading.Thread(target=scheduler, args=(f"s{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [2, None], (
        "one scheduler queued it, the other found it claimed"
    )
    rows = outbox(rt, kind="digest")
    assert sorted(r.recipient for r in rows) == ["lead@ourco.example", "support@ourco.example"]
    digest = rows[0].context["digest"]
    assert digest["open_count"] == 2
    assert [i["ref"] for i in digest["triage"]] == ["INC-2"]
    sev1 = digest["open_by_severity"][0]
    assert sev1["severity"] == "SEV1" and sev1["incidents"][0]["last_update"] == "Vendor engaged"
    assert digests.run_due(rt, audience, at + timedelta(minutes=1)) is None  # same period again
    text = digests.dry_run(rt, audience)
    assert "INC-1" in text and "Vendor engaged" in text and "Waiting for triage (1)" in text


def test_missed_digest_within_grace_is_sent_once_and_older_never(db_url: str) -> None:
    rt = notify_runtime(db_url, CONFIG)
    audience = rt.config.notify.audience("support")
    assert audience is not None
    fire = utc(2026, 1, 14, 8)  # 09:00 in Berlin
    assert digests.run_due(rt, audience, fire + timedelta(minutes=90)) == 2  # started late
    assert digests.run_due(rt, audience, fire + timedelta(minutes=95)) is None
    assert digests.run_due(rt, audience, fire + timedelta(days=1, minutes=121)) is None  # too old
    assert len(outbox(rt, kind="digest")) == 2


def test_scheduler_component_catches_up_on_start_and_stops(db_url: str) -> None:
    import asyncio

    from notify.scheduler import NotifyScheduler

    rt = notify_runtime(db_url, CONFIG)
    audience = rt.config.notify.audience("support")
    assert audience is not None
    fire = utc(2026, 1, 14, 8)
    clock_at = fire + timedelta(minutes=30)  # the service was down at 09:00 Berlin time

    async def main() -> None:
        stop = asyncio.Event()
        scheduler = NotifyScheduler(rt, clock=lambda: clock_at)
        task = asyncio.create_task(scheduler.run(stop))
        for _ in range(100):
            if outbox(rt, kind="digest"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
        second = NotifyScheduler(rt, clock=lambda: clock_at)  # a restart: nothing more
        stop2 = asyncio.Event()
        task2 = asyncio.create_task(second.run(stop2))
        await asyncio.sleep(0.3)
        stop2.set()
        await asyncio.wait_for(task2, 5)

    asyncio.run(main())
    assert len(outbox(rt, kind="digest")) == 2  # two recipients, one digest


def test_digest_command_dry_run_and_send(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from core.cli import main

    config = tmp_path / "intake.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/db.sqlite"\n' + CONFIG)
    runner = CliRunner()
    declared = runner.invoke(main, ["--config", str(config), "declare", "--title", "Lift stuck"])
    assert declared.exit_code == 0, declared.output
    dry = runner.invoke(main, ["--config", str(config), "digest", "support", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert (
        "Subject: Incident digest for support: 1 open" in dry.output and "Lift stuck" in dry.output
    )
    sent = runner.invoke(main, ["--config", str(config), "digest", "support", "--send"])
    assert sent.exit_code == 0 and "2 message(s)" in sent.output
