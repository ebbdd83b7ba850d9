"""Webhook mode: POST /webhooks/telegram with the secret header; 401 otherwise; 200 after commit."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from core.config import ConfigError
from core.runtime import Runtime
from core.web.app import create_app
from ingest.telegram_webhook import HEADER, PATH, TelegramWebhook, telegram_routes
from tests.botapi_fixture import BotApiServer
from tests.telegram_helpers import command, make_bot, message, raws, reports, runtime

SECRET = "s3cret-Token_for-tests"


def webhook_runtime(db_url: str, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    rt = runtime(db_url, botapi)
    monkeypatch.setenv("INTAKE_TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("INTAKE_TEST_TELEGRAM_TOKEN", botapi.token)
    telegram = replace(
        rt.config.telegram,
        mode="webhook",
        token_env="INTAKE_TEST_TELEGRAM_TOKEN",
        webhook_secret_env="INTAKE_TEST_WEBHOOK_SECRET",
    )
    rt.config = replace(rt.config, telegram=telegram)
    return rt


def test_the_secret_header_decides_and_an_accepted_update_is_stored_before_200(
    db_url: str, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = webhook_runtime(db_url, botapi, monkeypatch)
    hook = TelegramWebhook(rt, SECRET, make_bot(rt, botapi))
    app = create_app(rt, providers=[lambda _rt: _routes(hook)])
    update = {
        "update_id": 4242,
        **message(
            "Payments are failing in production, customers cannot pay, need eng + support now"
        ),
    }
    body = json.dumps(update)

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            statuses = []
            for headers in ({}, {HEADER: "wrong"}, {HEADER: SECRET[:-1]}, {HEADER: SECRET + "x"}):
                response = await client.post(PATH, content=body, headers=headers)
                statuses.append(response.status_code)
            assert raws(rt) == []  # nothing from a request without the secret
            response = await client.post(PATH, content=body, headers={HEADER: SECRET})
            statuses.append(response.status_code)
            assert [r.natural_key for r in raws(rt)] == ["4242"]  # committed before the 200
            again = await client.post(PATH, content=body, headers={HEADER: SECRET})
            statuses.append(again.status_code)  # a redelivery: 200, stored once
            bad = await client.post(PATH, content=b"{nope", headers={HEADER: SECRET})
            statuses.append(bad.status_code)
            await hook.settle()
            await hook.bot.bot.shutdown()
            return statuses

    assert asyncio.run(scenario()) == [401, 401, 401, 401, 200, 200, 400]
    assert len(raws(rt)) == 1
    (report,) = reports(rt)
    assert report.decision == "incident"


def test_a_command_by_webhook_is_answered_through_the_bot_api(
    db_url: str, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = webhook_runtime(db_url, botapi, monkeypatch)
    hook = TelegramWebhook(rt, SECRET, make_bot(rt, botapi))
    app = create_app(rt, providers=[lambda _rt: _routes(hook)])

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            update = {"update_id": 7, **command("/status")}
            response = await client.post(PATH, json=update, headers={HEADER: SECRET})
            assert response.status_code == 200
            await hook.settle()
            await hook.bot.bot.shutdown()

    asyncio.run(scenario())
    assert [s["text"] for s in botapi.sent] == ["No open incidents."]


def test_the_route_exists_only_in_webhook_mode_and_needs_its_secret(
    db_url: str, botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rt = webhook_runtime(db_url, botapi, monkeypatch)
    assert [r.path for r in telegram_routes(rt)] == [PATH]  # type: ignore[attr-defined]
    polling = replace(rt.config, telegram=replace(rt.config.telegram, mode="polling"))
    assert telegram_routes(Runtime(polling, rt.engine, rt.factory, rt.migrated)) == []
    monkeypatch.delenv("INTAKE_TEST_WEBHOOK_SECRET")
    with pytest.raises(ConfigError, match="INTAKE_TEST_WEBHOOK_SECRET is not set"):
        telegram_routes(rt)


def _routes(hook: TelegramWebhook) -> list[object]:
    from starlette.routing import Route

    return [Route(PATH, hook.handle, methods=["POST"])]
