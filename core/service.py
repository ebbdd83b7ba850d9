"""What `intake run` hosts: components that run until asked to stop.

Every long-running part (pipeline worker, delivery worker, IMAP poller,
Telegram bot, scheduler, web server) is a `Component`: an object with a name
and `async run(stop)` that returns soon after `stop` is set, leaving no
transaction half done. Blocking work (imapclient, SQLAlchemy) runs in a thread
(`asyncio.to_thread`) so one event loop hosts them all.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Component(Protocol):
    name: str

    async def run(self, stop: asyncio.Event) -> None: ...
