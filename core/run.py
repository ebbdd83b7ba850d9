"""`intake run`: one process hosting the web app and every worker, poller and scheduler.

Each role is a set of components (core.service.Component) run as tasks on one
event loop. SIGTERM or SIGINT sets the shared stop event; every component
finishes its current transaction and returns, then the engines are closed.
A component that crashes is logged and restarted after a pause, so one broken
mailbox never takes the web app down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from core.runtime import Runtime
from core.service import Component

log = logging.getLogger("intake.run")

ROLES = ("web", "worker", "poller", "scheduler")
RESTART_PAUSE = 5.0  # seconds before a crashed component is started again

# A role's builder returns its components for this runtime (none when not configured).
Builder = Callable[[Runtime], list[Component]]


@dataclass
class Host:
    """The components of the chosen roles, and what they told the person at start."""

    components: list[Component]
    notes: list[str] = field(default_factory=list)


def build(rt: Runtime, roles: tuple[str, ...], builders: dict[str, list[Builder]]) -> Host:
    host = Host([])
    for role in roles:
        for builder in builders.get(role, []):
            host.components.extend(builder(rt))
    return host


async def supervise(component: Component, stop: asyncio.Event) -> None:
    """Run one component until stop; restart it after a pause if it crashes."""
    while not stop.is_set():
        try:
            await component.run(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s crashed; restarting in %.0f s", component.name, RESTART_PAUSE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RESTART_PAUSE)
            continue
        if not stop.is_set():  # returned on its own: nothing more to do for it
            return


@contextlib.contextmanager
def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Iterator[None]:
    handled = (signal.SIGTERM, signal.SIGINT)
    for sig in handled:
        loop.add_signal_handler(sig, _asked_to_stop, sig, stop)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def _asked_to_stop(sig: signal.Signals, stop: asyncio.Event) -> None:
    if not stop.is_set():
        log.info("%s received: finishing current work and stopping", sig.name)
    stop.set()


async def run_host(host: Host, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    with stop_on_signals(loop, stop):
        tasks = [asyncio.create_task(supervise(c, stop), name=c.name) for c in host.components]
        if not tasks:
            log.warning("nothing to run: no component is configured for these roles")
            return
        await asyncio.gather(*tasks)
