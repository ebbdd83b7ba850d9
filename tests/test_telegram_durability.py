"""Store before acknowledging: the getUpdates offset moves past an update only once it is committed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.models import RawMessage
from ingest import telegram_bot
from tests.botapi_fixture import BotApiServer
from tests.conftest import ROOT
from tests.telegram_helpers import (
    GROUP,
    count,
    make_bot,
    message,
    raws,
    reports,
    running,
    runtime,
    until,
)


def test_a_crash_before_the_commit_loses_nothing(
    db_url: str, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime(db_url, botapi)
    ids = [botapi.push_update(message(f"payments failing, report {n}")) for n in range(5)]
    real_accept = telegram_bot.accept

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut between receipt and commit")

    async def first_life() -> None:
        bot = make_bot(rt, botapi)
        monkeypatch.setattr(telegram_bot, "accept", crash)
        with pytest.raises(RuntimeError):
            await bot.poll_once()
        assert bot.offset is None  # nothing confirmed
        await bot.bot.shutdown()

    async def second_life() -> None:
        monkeypatch.setattr(telegram_bot, "accept", real_accept)
        bot = make_bot(rt, botapi)
        while (bot.offset or 0) <= ids[-1]:
            await bot.poll_once()
        await bot.process_pending()
        await bot.bot.shutdown()

    asyncio.run(first_life())
    assert raws(rt) == []
    assert botapi.offsets == [None]
    asyncio.run(second_life())
    assert [r.natural_key for r in raws(rt)] == [str(i) for i in ids]
    assert len(reports(rt)) == 5


def test_a_crash_after_the_commit_gets_the_batch_again_and_stores_it_once(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi)
    ids = [botapi.push_update(message(f"search is slow, report {n}")) for n in range(3)]

    async def life(expect_duplicates: int) -> None:
        bot = make_bot(rt, botapi)  # a fresh process knows no offset
        accepted = await bot.poll_once()
        assert accepted is not None
        assert accepted.duplicates == expect_duplicates
        await bot.bot.shutdown()

    asyncio.run(life(0))  # stored and committed; the process dies before confirming
    asyncio.run(life(3))  # Telegram sends the same batch again
    assert count(rt, RawMessage) == 3
    assert botapi.confirmed < ids[0]  # never confirmed yet: the offset was never sent


def _config(tmp: Path, url: str, server: BotApiServer) -> Path:
    path = tmp / "intake.toml"
    path.write_text(
        f"""
[database]
url = "{url}"

[telegram]
token_env = "INTAKE_TEST_TELEGRAM_TOKEN"
base_url = "{server.base_url}"
poll_timeout = 1

[[telegram.chats]]
id = {GROUP}
mode = "all"
""",
        encoding="utf-8",
    )
    return path


def _poll(config: Path, server: BotApiServer) -> subprocess.Popen[bytes]:
    env = {**os.environ, "INTAKE_TEST_TELEGRAM_TOKEN": server.token, "INTAKE_CONFIG": str(config)}
    env.pop("INTAKE_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", "telegram", "poll"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_sigkill_mid_stream_then_restart_loses_nothing_and_stores_each_update_once(
    db_url: str, botapi: BotApiServer, tmp_path: Path
) -> None:
    rt = runtime(db_url, botapi)
    total = 250  # three getUpdates batches
    ids = [botapi.push_update(message(f"lunch order {n}: pizza")) for n in range(total)]
    config = _config(tmp_path, db_url, botapi)
    process = _poll(config, botapi)
    try:
        # Kill as soon as the bot confirms its first batch: the second is then on its way.
        botapi.wait_for(lambda: any(botapi.offsets), timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        process.kill()
    stored_at_kill = count(rt, RawMessage)
    # Every update Telegram was told to forget (below the offset) is in the database.
    stored = {int(r.natural_key) for r in raws(rt)}
    assert botapi.confirmed >= ids[0] and {i for i in ids if i <= botapi.confirmed} <= stored
    assert stored_at_kill < total, "the kill came too late to test anything"
    # The restart: a fresh bot (in this process, to save a second interpreter start)
    # that knows no offset, as a restarted `intake telegram poll` would.

    async def restart() -> None:
        async with running(make_bot(rt, botapi)):
            await until(lambda: count(rt, RawMessage) == total and botapi.confirmed >= ids[-1])
            await until(lambda: len(reports(rt)) == total)

    asyncio.run(restart())
    assert sorted(int(r.natural_key) for r in raws(rt)) == ids
