"""The notification scheduler: digests on each audience's cron, in its time zone, and reminders.

APScheduler 3 (AsyncIOScheduler) wakes a job at every scheduled time of an
audience's digest; the job claims the period in the database, so two
schedulers (two processes on PostgreSQL, or a restart) send it once. On
start each audience's latest scheduled time is tried too: a digest missed
while the service was down goes out once if it is within the grace period.
The durable state is the `digest_runs` table, not the scheduler's job store:
the jobs are rebuilt from config at every start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.config_notify import Audience
from core.models import now
from core.runtime import Runtime
from core.service import Component
from notify import digests, reminders

log = logging.getLogger("intake.notify")


class NotifyScheduler:
    name = "notify-scheduler"

    def __init__(
        self,
        rt: Runtime,
        *,
        clock: Callable[[], datetime] = now,
        reminder_seconds: float = 60.0,
    ) -> None:
        self.rt = rt
        self.clock = clock
        self.reminder_seconds = reminder_seconds
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def digest_audiences(self) -> list[Audience]:
        return [a for a in self.rt.config.notify.audiences if a.digest is not None]

    async def digest(self, audience: Audience) -> int | None:
        queued = await asyncio.to_thread(
            digests.run_due, self.rt, audience, self.clock(), self.worker
        )
        if queued is not None:
            log.info("digest for %s queued: %s message(s)", audience.name, queued)
        return queued

    async def remind(self) -> int:
        return await asyncio.to_thread(reminders.send_due, self.rt, self.clock())

    async def run(self, stop: asyncio.Event) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        for audience in self.digest_audiences():
            assert audience.digest is not None
            scheduler.add_job(
                self.digest,
                digests.trigger(audience),
                args=[audience],
                id=f"digest:{audience.name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=audience.digest.grace_minutes * 60 or None,
            )
        scheduler.add_job(
            self.remind,
            IntervalTrigger(seconds=self.reminder_seconds),
            id="reminders",
            coalesce=True,
            max_instances=1,
        )
        scheduler.start()
        try:
            for audience in self.digest_audiences():
                await self.digest(audience)  # catch up on a period missed while down
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)


def components(rt: Runtime) -> list[Component]:
    """The scheduler for `intake run` (scheduler role)."""
    from core.outbox import install_runtime

    install_runtime(rt)
    return [NotifyScheduler(rt)]
