"""A group chat's send rate, kept below Telegram's limit, and the refusal to outwait a deadline.

Telegram takes about 20 messages a minute in a group. Apart from the sender
(notify.telegram_send) so that code which only needs `ChatBusy`, such as the
delivery worker, does not import python-telegram-bot.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

GROUP_PER_MINUTE = 20


class ChatBusy(Exception):
    """The chat cannot take the message before the caller's deadline: try again in `wait` s.

    Raised before anything is sent, so the caller can hand the message back
    (a delivery worker must not outwait its lease: another worker would send
    the same message meanwhile)."""

    def __init__(self, chat_id: int | str, wait: float) -> None:
        super().__init__(f"chat {chat_id} is at its rate limit for another {wait:.0f} s")
        self.wait = wait


class ChatRateLimiter:
    """At most `per_minute` messages in any 60 s to one group chat (a sliding window).

    Private chats are not limited here (Telegram allows them about one a
    second, which RetryAfter covers). One instance is shared per process.
    """

    def __init__(
        self,
        per_minute: int = GROUP_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self._sent: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def is_group(chat_id: int | str) -> bool:
        # Group and supergroup ids are negative; a channel's @name is a public chat too.
        text = str(chat_id)
        return text.startswith(("-", "@"))

    def reset(self) -> None:
        self._sent.clear()
        self._locks.clear()

    async def acquire(
        self, chat_id: int | str, count: int = 1, not_after: float | None = None
    ) -> None:
        """Take `count` sends' places in the window, waiting for them if need be; ChatBusy,
        taking nothing, if they would not be free by `not_after` (on this limiter's clock)."""
        if not self.is_group(chat_id):
            return
        count = max(1, min(count, self.per_minute))
        key = str(chat_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            sent = self._sent.setdefault(key, deque())
            while True:
                now = self.clock()
                while sent and sent[0] <= now - 60:
                    sent.popleft()
                if len(sent) + count <= self.per_minute:
                    sent.extend([now] * count)
                    return
                wait = sent[len(sent) + count - self.per_minute - 1] + 60 - now
                if not_after is not None and now + wait > not_after:
                    raise ChatBusy(chat_id, wait)
                await self.sleep(wait)
