"""The Telegram bot: long polling (or the webhook), the pipeline trigger, cards and answers.

Why not python-telegram-bot's Application/Updater: the Updater confirms a
batch of updates (the next getUpdates offset) as soon as it has queued them
for the handlers, before anything is stored, so a crash loses them. This
loop calls getUpdates itself and moves the offset past a batch only after
`accept` has committed it; a crash before that gets the batch again from
Telegram, and `store_raw` stores each update once. python-telegram-bot's
`Bot` still does every HTTP call (and its base_url reaches a self-hosted
Bot API server or the tests' loopback server).

After each committed batch the loop signals the pipeline worker, which runs
`core.pipeline.run_pending` at once (so a message is triaged within one
batch of arriving), then posts the cards its reports need. Everything the bot
sends goes through one sender task, so a rate-limited chat never holds up
reading new updates.

On PostgreSQL several processes may host the bot; one polls (it holds an
advisory lock, ingest.poller_lock) and the others stand by, trying the lock
every STANDBY_SECONDS, so one takes over within that when the poller dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import telegram
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning

from core import config_telegram
from core.db import transaction
from core.models import StoredReport, now
from core.models_telegram import TelegramCard
from core.pipeline import Stats, run_pending
from core.runtime import Runtime
from core.service import Component
from core.worker import WAKEUP, turns_for
from ingest import telegram_cards as cards
from ingest.poller_lock import PollerLock
from ingest.raw import parse_raw
from ingest.telegram_bot_accept import Accepted, IgnoredChats, accept
from ingest.telegram_bot_filter import BotIdentity
from notify.telegram_send import edit_html, send_html

log = logging.getLogger("intake.telegram")
T = TypeVar("T")
# getUpdates goes through do_api_request on purpose: it returns Telegram's JSON as
# sent, which is what gets stored, where Bot.get_updates would rebuild it from objects.
warnings.filterwarnings("ignore", "Please use 'Bot.getUpdates'", PTBUserWarning)
ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
]
BATCH = 100  # getUpdates' own maximum
STANDBY_SECONDS = 2.0  # how often a standing-by poller tries the lock: takeover within this
COMMANDS = [
    ("incident", "declare an incident: /incident TEXT"),
    ("status", "open incidents"),
    ("update", "post an update: /update INC-n TEXT"),
    ("resolve", "resolve: /resolve INC-n [note]"),
    ("severity", "severity: /severity INC-n SEV2"),
    ("help", "what the bot does"),
]


def make_bot(config: config_telegram.TelegramConfig) -> telegram.Bot:
    return telegram.Bot(
        config_telegram.token(config),
        base_url=config.base_url,
        request=HTTPXRequest(connection_pool_size=8),
    )


@dataclass(frozen=True)
class CardToSend:
    card_id: int
    chat_id: int
    reply_to: int | None
    html: str
    markup: Any


class TelegramBot:
    """The bot as a service component (`core.service.Component`)."""

    name = "telegram"

    def __init__(self, rt: Runtime, bot: telegram.Bot | None = None) -> None:
        self.rt = rt
        self.config = rt.config.telegram
        self.bot = bot or make_bot(self.config)
        self.me: BotIdentity | None = None
        self.ignored_chats = IgnoredChats()
        self.offset: int | None = None
        self.started_at = now()
        self._wake = asyncio.Event()
        self._outbox: asyncio.Queue[Callable[[], Awaitable[Any]]] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._pipeline_lock = asyncio.Lock()
        self._carded_upto = 0  # reports up to this id have been looked at for cards
        # SQLite has one writer: storing and triaging take turns with every other
        # writer in the process (core.worker's, storing first) instead of colliding
        # in SQLite's busy handler, which sleeps up to 100 ms. PostgreSQL needs none.
        self._turns = turns_for(rt.factory)
        # On PostgreSQL one message per transaction, as core.worker does: batches of
        # several, run by two workers in a storm, can deadlock on incident rows.
        self._per_transaction = BATCH if self._turns else 1

    @classmethod
    def from_runtime(cls, rt: Runtime) -> TelegramBot:
        return cls(rt)

    # --- start and stop ------------------------------------------------------------------

    async def start(self) -> BotIdentity:
        await self.bot.initialize()  # does nothing when initialised; again after a restart
        if self.me is None:
            user = await self.bot.get_me()
            self.me = BotIdentity(user.id, user.username or "")
            self.started_at = now()
        return self.me

    async def run(self, stop: asyncio.Event) -> None:
        """Poll (or, in webhook mode, only work the pipeline) until `stop` is set."""
        await self.start()
        if self.config.mode == "polling":
            await self.bot.delete_webhook()
        await self._quietly(self.bot.set_my_commands(COMMANDS))
        await self._resend_unsent_cards()
        self._wake.set()  # whatever a previous run stored but did not triage
        tasks = [asyncio.create_task(self._pipeline_worker(stop), name="telegram-pipeline")]
        if self.config.mode == "polling":
            tasks.append(asyncio.create_task(self._poll_loop(stop), name="telegram-poll"))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            stopping.cancel()
            await self.drain(timeout=5)
            await self.bot.shutdown()
        failed = [r for r in results if isinstance(r, Exception)]
        if failed and not stop.is_set():
            raise failed[0]  # `intake run` restarts a crashed component after a pause

    async def drain(self, timeout: float = 10) -> None:
        """Wait until everything queued has been sent."""
        if self._outbox is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), timeout)

    # --- receiving -------------------------------------------------------------------------

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        me = await self.start()
        lock = PollerLock(self.rt.factory, f"telegram:{me.id}")  # one getUpdates caller
        try:
            await self._poll_while_held(stop, lock)
        finally:
            await asyncio.to_thread(lock.release)

    async def _poll_while_held(self, stop: asyncio.Event, lock: PollerLock) -> None:
        pause = 1.0
        standing_by = False
        while not stop.is_set():
            try:
                if not await asyncio.to_thread(lock.held):
                    if not standing_by:
                        log.info("telegram: another process polls this bot; standing by")
                    standing_by = True
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), STANDBY_SECONDS)
                    continue
                if standing_by:
                    log.info("telegram: polling (took over from the process before)")
                    standing_by = False
                    self.offset = None  # Telegram resends what the other one did not confirm
                await self.poll_once()
                pause = 1.0
            except RetryAfter as exc:
                await asyncio.sleep(exc._retry_after.total_seconds())
            except (NetworkError, TelegramError) as exc:  # the API is down: keep trying, slower
                log.warning("telegram getUpdates failed: %s; retrying in %.0fs", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 60)
            except DBAPIError as exc:  # the database is away (lock or storing): try again
                log.warning("telegram: database error: %s; retrying in %.0fs", exc, STANDBY_SECONDS)
                await asyncio.sleep(STANDBY_SECONDS)

    async def fetch(self) -> list[dict[str, Any]]:
        """One getUpdates call, as Telegram's JSON (stored verbatim, not PTB's objects)."""
        timeout = self.config.poll_timeout
        result = await self.bot.do_api_request(
            "getUpdates",
            api_kwargs={
                "offset": self.offset,
                "timeout": timeout,
                "limit": BATCH,
                "allowed_updates": ALLOWED_UPDATES,
            },
            read_timeout=timeout + 10,
        )
        return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]

    async def poll_once(self) -> Accepted | None:
        updates = await self.fetch()
        if not updates:
            return None
        accepted = await self.receive(updates)
        # Only now, with the batch committed, may the next getUpdates confirm it.
        self.offset = max(u["update_id"] for u in updates) + 1
        return accepted

    async def receive(self, updates: list[dict[str, Any]]) -> Accepted:
        """Store and apply a batch (committed when this returns), then queue what follows."""
        me = await self.start()
        accepted = await asyncio.to_thread(
            self._storing, accept, self.rt.factory, updates, self.rt.config, me, self.ignored_chats
        )
        if accepted.pending:
            WAKEUP.ring()  # a pipeline worker hosted in this process may take them too
        self.follow_up(accepted)
        return accepted

    def follow_up(self, accepted: Accepted) -> None:
        for reply in accepted.replies:
            self._queue(self._send_reply, reply.chat_id, reply.html, reply.reply_to)
        for answer in accepted.answers:
            self._queue(self._answer, answer.callback_id, answer.text)
            if answer.report_id is not None:
                self._queue(self._redraw, answer.report_id)
        for report_id in accepted.changed_reports:
            self._queue(self._redraw, report_id)
        if accepted.pending or accepted.changed_reports:
            self._wake.set()

    # --- the pipeline and cards ------------------------------------------------------------

    async def _pipeline_worker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.process_pending()
            except Exception:  # a database hiccup: the next batch tries again
                log.exception("telegram: running the pipeline failed")
                await asyncio.sleep(1)
                self._wake.set()

    async def process_pending(self) -> None:
        """Triage what is stored, then queue the cards the new reports need."""
        async with self._pipeline_lock:
            while True:  # a batch per turn, so storing new updates never waits for all of it
                stats = await asyncio.to_thread(self._triaging, self._run_pending)
                for card in await asyncio.to_thread(self._storing, self._claim_cards):
                    self._queue(self._send_card, card)
                if stats.processed + stats.ignored + stats.quarantined + stats.parked < BATCH:
                    break

    def _run_pending(self) -> Stats:
        return run_pending(
            self.rt.work, parse_raw, self.rt.config, limit=BATCH, batch=self._per_transaction
        )

    def _storing(self, work: Callable[..., T], *args: Any) -> T:
        if self._turns is None:
            return work(*args)
        with self._turns.intake():
            return work(*args)

    def _triaging(self, work: Callable[..., T], *args: Any) -> T:
        if self._turns is None:
            return work(*args)
        with self._turns.pipeline():
            return work(*args)

    def _claim_cards(self) -> list[CardToSend]:
        since = self.started_at - timedelta(hours=1)
        out = []
        with transaction(self.rt.factory) as session:
            # Reports up to the newest now stored are settled: later rounds start after it.
            newest = session.scalar(select(func.max(StoredReport.id))) or 0
            for report in cards.wanted(session, self.config.cards_for, since, self._carded_upto):
                if report.id > newest:
                    continue
                card = cards.claim(session, report)
                if card is not None:
                    session.flush()
                    out.append(_card_to_send(card, report))
        self._carded_upto = max(self._carded_upto, newest)
        return out

    async def _resend_unsent_cards(self) -> None:
        def load() -> list[CardToSend]:
            with transaction(self.rt.factory) as session:
                return [
                    _card_to_send(card, session.get_one(StoredReport, card.report_id))
                    for card in cards.unsent(session)
                ]

        for card in await asyncio.to_thread(load):
            self._queue(self._send_card, card)

    # --- sending -----------------------------------------------------------------------------

    def _queue(self, job: Callable[..., Awaitable[Any]], *args: Any) -> None:
        if self._outbox is None:
            self._outbox = asyncio.Queue()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_loop(), name="telegram-send")
        self._outbox.put_nowait(lambda: job(*args))

    async def _send_loop(self) -> None:
        assert self._outbox is not None
        while True:
            job = await self._outbox.get()
            try:
                await job()
            except Exception as exc:  # one failed send never stops the others
                log.warning("telegram: sending failed: %s", exc)
            finally:
                self._outbox.task_done()

    async def _send_reply(self, chat_id: int, html: str, reply_to: int | None) -> None:
        await send_html(self.bot, chat_id, html, reply_to=reply_to)

    async def _answer(self, callback_id: str, text: str) -> None:
        await self.bot.answer_callback_query(callback_id, text=text or None)

    async def _send_card(self, card: CardToSend) -> None:
        sent = await send_html(
            self.bot, card.chat_id, card.html, reply_to=card.reply_to, reply_markup=card.markup
        )
        if sent:
            await asyncio.to_thread(self._card_sent, card.card_id, sent[-1].message_id)

    def _card_sent(self, card_id: int, message_id: int) -> None:
        with transaction(self.rt.factory) as session:
            card = session.get_one(TelegramCard, card_id)
            card.message_id = message_id
            card.updated_at = now()

    async def _redraw(self, report_id: int) -> None:
        def load() -> tuple[int, int, str, Any] | None:
            with self.rt.factory() as session:
                card = session.scalar(
                    cards.select(TelegramCard).where(TelegramCard.report_id == report_id)
                )
                if card is None or card.message_id is None:
                    return None
                html, markup = cards.render(session.get_one(StoredReport, report_id), card.outcome)
                return card.chat_id, card.message_id, html, markup

        loaded = await asyncio.to_thread(load)
        if loaded is not None:
            chat_id, message_id, html, markup = loaded
            await edit_html(self.bot, chat_id, message_id, html, markup)

    @staticmethod
    async def _quietly(call: Awaitable[Any]) -> None:
        try:
            await call
        except TelegramError as exc:
            log.warning("telegram: %s", exc)


def _card_to_send(card: TelegramCard, report: StoredReport) -> CardToSend:
    html, markup = cards.render(report, card.outcome)
    reply_to = report.fields.get("message_id")
    return CardToSend(
        card.id, card.chat_id, reply_to if isinstance(reply_to, int) else None, html, markup
    )


def components(rt: Runtime) -> list[Component]:
    """What `intake run` hosts for Telegram: the polling bot, when it is configured.

    In webhook mode the web app's route does the bot's work (ingest.telegram_webhook).
    """
    config = rt.config.telegram
    if not config.enabled or config.mode != "polling":
        return []
    return [TelegramBot.from_runtime(rt)]
