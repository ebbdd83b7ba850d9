"""The bot against the loopback Bot API server: which messages count, storage, edits, replies."""

from __future__ import annotations

import logging

import pytest

from core.models import RawMessage
from core.triage.engine import triage
from ingest.telegram import parse_update
from ingest.telegram_bot_filter import BotIdentity
from tests.botapi_fixture import BOT_USER, BotApiServer
from tests.telegram_helpers import (
    GROUP,
    MENTION_GROUP,
    PRIVATE_USER,
    bot_user,
    command,
    count,
    example,
    incidents,
    make_bot,
    mention_entities,
    message,
    raws,
    reports,
    run,
    running,
    runtime,
    until,
)

ME = BotIdentity(BOT_USER["id"], BOT_USER["username"])


@pytest.mark.parametrize(
    "name",
    ["002-delivery-riders-shortage.telegram.json", "008-dropped-glass-office.telegram.json"],
)
def test_messages_in_an_all_chat_become_triaged_reports(
    db_url: str, botapi: BotApiServer, name: str
) -> None:
    rt = runtime(db_url, botapi)
    update = example(name)
    parsed = parse_update(update)
    assert parsed is not None
    expected = triage(parsed, rt.config.triage)

    async def scenario() -> None:
        async with running(make_bot(rt, botapi)):
            botapi.push_update(update)
            await until(lambda: reports(rt))

    run(scenario())
    (report,) = reports(rt)
    assert (report.decision, report.quadrant) == (expected.decision, expected.quadrant)
    assert report.reporter == parsed.reporter and report.text == parsed.text
    (raw,) = raws(rt)
    assert raw.source == "telegram" and raw.natural_key == str(update["update_id"])
    if expected.decision == "incident":
        (incident,) = incidents(rt)
        assert incident.status == "live" and report.incident_id == incident.id
    else:
        assert incidents(rt) == []
    assert botapi.confirmed >= update["update_id"]  # the offset moved past it


def test_mention_mode_takes_only_mentions_replies_to_the_bot_and_commands(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi)
    plain = message("checkout is down for everyone", MENTION_GROUP)
    text = "@intake_test_bot checkout is down for everyone"
    mention = message(text, MENTION_GROUP, entities=mention_entities(text, "@intake_test_bot"))
    card = {
        "message_id": 77,
        "from": bot_user(),
        "chat": {"id": MENTION_GROUP, "type": "supergroup"},
        "date": 1741979160,
        "text": "a card",
    }
    reply = message("payments failing too", MENTION_GROUP, reply_to=card)
    other_bot = command("/status@some_other_bot", MENTION_GROUP)
    status = command("/status", MENTION_GROUP)

    async def scenario() -> None:
        async with running(make_bot(rt, botapi)):
            for update in (plain, mention, reply, other_bot, status):
                botapi.push_update(update)
            await until(lambda: len(reports(rt)) == 2 and botapi.sent)

    run(scenario())
    assert sorted(r.text for r in reports(rt)) == sorted(["payments failing too", text])
    kinds = sorted(raw.meta["kind"] for raw in raws(rt))
    assert kinds == [
        "command",
        "message",
        "message",
    ]  # the plain one and the other bot's: not stored
    assert [s["text"] for s in botapi.sent] == ["No open incidents."]


def test_unknown_chats_and_the_bots_own_messages_are_ignored_and_logged_once(
    db_url: str, botapi: BotApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    rt = runtime(db_url, botapi)
    stranger = [message(f"outage number {n}: site is down", -100999) for n in range(3)]
    own = message("site is down (my own card)", GROUP, sender=bot_user())
    private_stranger = message(
        "site is down",
        42,
        chat_type="private",
        sender={"id": 42, "is_bot": False, "first_name": "Eve"},
    )

    async def scenario() -> None:
        async with running(make_bot(rt, botapi)) as bot:
            last = 0
            for update in [*stranger, own, private_stranger]:
                last = botapi.push_update(update)
            await until(lambda: botapi.confirmed >= last or (bot.offset or 0) > last)

    with caplog.at_level(logging.INFO, logger="intake.telegram"):
        run(scenario())
    assert raws(rt) == [] and reports(rt) == []
    logged = [r.getMessage() for r in caplog.records if "ignoring telegram chat" in r.getMessage()]
    assert len([line for line in logged if "-100999" in line]) == 1
    assert any("42" in line and "private_users" in line for line in logged)


def test_private_chats_count_for_allowlisted_users(db_url: str, botapi: BotApiServer) -> None:
    rt = runtime(db_url, botapi)
    update = message(
        "Payments are failing in production since 10:00, customers cannot pay",
        PRIVATE_USER,
        chat_type="private",
    )

    async def scenario() -> None:
        async with running(make_bot(rt, botapi)):
            botapi.push_update(update)
            await until(lambda: reports(rt))

    run(scenario())
    assert reports(rt)[0].decision == "incident"


def test_a_reply_joins_the_incident_of_the_message_it_answers(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi)
    first = example("002-delivery-riders-shortage.telegram.json")
    parent = {k: first["message"][k] for k in ("message_id", "from", "chat", "date", "text")}
    answer = message("ok, pausing zones 4-6 now", reply_to=parent)
    unrelated = message("Careful, I dropped a glass in the kitchen")

    async def scenario() -> None:
        async with running(make_bot(rt, botapi)):
            botapi.push_update(first)
            await until(lambda: incidents(rt))
            botapi.push_update(answer)
            botapi.push_update(unrelated)
            await until(lambda: len(reports(rt)) == 3)

    run(scenario())
    opener, reply, other = reports(rt)
    assert opener.incident_id is not None
    assert reply.incident_id == opener.incident_id
    assert other.incident_id is None
    assert len(incidents(rt)) == 1


def test_an_edit_updates_its_report_and_triages_it_again(db_url: str, botapi: BotApiServer) -> None:
    rt = runtime(db_url, botapi)
    original = message("lunch menu changed today", message_id=501)
    edit = message(
        "Payments are failing in production since 10:00, customers cannot pay, need eng + support now",
        message_id=501,
        edited=True,
    )

    async def scenario() -> None:
        async with running(make_bot(rt, botapi)):
            botapi.push_update(original)
            await until(lambda: reports(rt))
            botapi.push_update(edit)
            await until(lambda: reports(rt)[0].decision == "incident")

    run(scenario())
    (report,) = reports(rt)  # the same report, not a second one
    assert report.text.startswith("Payments are failing")
    assert report.fields["edited"] is True
    changed = {(c.field, c.old_value, c.new_value, c.actor) for c in report.changes}
    assert ("decision", "not_incident", "incident", "rule:edited") in changed
    (incident,) = incidents(rt)
    assert report.incident_id == incident.id
    assert [r.status for r in raws(rt)] == ["processed", "processed"]


def test_an_edit_arriving_with_its_original_in_one_batch_changes_one_report(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi)
    original = message("lunch menu changed today", message_id=601)
    edit = message(
        "lunch menu changed today, and the cafeteria is closed", message_id=601, edited=True
    )
    bot = make_bot(rt, botapi)

    async def scenario() -> None:
        await bot.start()
        botapi.push_update(original)
        botapi.push_update(edit)
        await bot.poll_once()
        await bot.process_pending()

    run(scenario())
    (report,) = reports(rt)
    assert report.text.endswith("cafeteria is closed")


def test_every_update_in_the_corpus_is_read_or_ignored_without_error(
    db_url: str, botapi: BotApiServer
) -> None:
    from tests.conftest import CORPORA, require_shared

    corpus = require_shared(CORPORA / "telegram_types" / "res")
    import json

    rt = runtime(db_url, botapi)
    # The corpus's private chat is user 12345678; allow them so their messages are taken.
    from dataclasses import replace

    rt.config = replace(rt.config, telegram=replace(rt.config.telegram, private_users=(12345678,)))
    bot = make_bot(rt, botapi)
    files = sorted(corpus.glob("*.json"))
    updates = [json.loads(path.read_text()) for path in files]
    updates = [u for u in updates if "update_id" in u]
    for index, update in enumerate(updates):  # the corpus reuses one update_id
        update["update_id"] = 10 + index

    async def scenario() -> None:
        await bot.start()
        for update in updates:
            botapi.push_update(update)
        while botapi.pending_updates() > 0 and (bot.offset or 0) <= updates[-1]["update_id"]:
            await bot.poll_once()
        await bot.process_pending()

    run(scenario())
    statuses = {raw.status for raw in raws(rt)}
    assert statuses <= {"processed", "ignored"}, [r.last_error for r in raws(rt)]
    assert count(rt, RawMessage) >= 10
    assert any(r.fields["has_media"] for r in reports(rt))
    assert any(r.fields["forwarded"] for r in reports(rt))


def test_the_bot_keeps_polling_through_bot_api_errors(db_url: str, botapi: BotApiServer) -> None:
    rt = runtime(db_url, botapi)
    botapi.fail_next("getUpdates", status=502)
    botapi.fail_next("getUpdates", retry_after=1)

    async def scenario() -> None:
        async with running(make_bot(rt, botapi)):
            botapi.push_update(message("lunch menu changed today"))
            await until(lambda: reports(rt))

    run(scenario())
    assert len(botapi.calls_of("getUpdates")) >= 3


def test_a_crash_inside_the_bot_surfaces_so_intake_run_restarts_it(
    db_url: str, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from core import run as host
    from ingest import telegram_bot

    rt = runtime(db_url, botapi)
    real_accept = telegram_bot.accept
    calls = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real_accept(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(telegram_bot, "accept", flaky)
    monkeypatch.setattr(host, "RESTART_PAUSE", 0.1)

    async def scenario() -> None:
        stop = asyncio.Event()
        bot = make_bot(rt, botapi)
        supervised = asyncio.create_task(host.supervise(bot, stop))
        botapi.push_update(message("lunch menu changed today"))
        await until(lambda: reports(rt))
        stop.set()
        await asyncio.wait_for(supervised, 15)

    run(scenario())
    assert len(calls) >= 2 and len(raws(rt)) == 1
