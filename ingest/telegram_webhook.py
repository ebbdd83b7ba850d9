"""Webhook mode: Telegram POSTs each Update to /webhooks/telegram.

Telegram sends the secret given to setWebhook in `X-Telegram-Bot-Api-Secret-Token`;
a request without it, or with another, gets 401 (compared in constant time).
An accepted Update is stored (and its command, press or edit applied) and
committed before the 200 goes back: Telegram redelivers anything not answered
200, and `store_raw` stores a redelivered update once. Triage, cards and
answers follow after the response.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core import config_telegram
from core.runtime import Runtime
from ingest.telegram_bot import TelegramBot

log = logging.getLogger("intake.telegram")
PATH = "/webhooks/telegram"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1 << 20  # an Update is a few KB; refuse anything absurd


class TelegramWebhook:
    def __init__(self, rt: Runtime, secret: str, bot: TelegramBot | None = None) -> None:
        self.rt = rt
        self._secret = secret.encode()
        self._bot = bot
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def bot(self) -> TelegramBot:
        if self._bot is None:  # built on first use: the token is read then
            self._bot = TelegramBot.from_runtime(self.rt)
        return self._bot

    async def handle(self, request: Request) -> Response:
        given = request.headers.get(HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return JSONResponse({"error": "wrong or missing secret token"}, status_code=401)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            update = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return JSONResponse({"error": "not a Telegram Update (no update_id)"}, status_code=400)
        accepted = await self.bot.receive([update])  # committed when this returns
        if accepted.pending or accepted.changed_reports:
            task = asyncio.create_task(self._triage())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return Response(status_code=200)

    async def _triage(self) -> None:
        try:
            await self.bot.process_pending()
        except Exception:  # stored already: the next update (or `intake process`) retries
            log.exception("telegram webhook: triage after storing failed")

    async def settle(self) -> None:
        """Wait for triage started by earlier requests and for queued sends (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        await self.bot.drain()


def telegram_routes(rt: Runtime) -> Sequence[BaseRoute]:
    """The webhook route, in webhook mode only (polling needs no open port)."""
    config = rt.config.telegram
    if not config.enabled or config.mode != "webhook":
        return []
    webhook = TelegramWebhook(rt, config_telegram.webhook_secret(config))
    return [Route(PATH, webhook.handle, methods=["POST"], name="telegram_webhook")]
