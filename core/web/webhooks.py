"""The alert-intake routes (Sentry, Alertmanager, events API), sharing one group-commit writer."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from core.runtime import Runtime
from core.web import webhooks_alertmanager, webhooks_events, webhooks_sentry
from core.web.raw_writer import RawWriter
from core.worker import WAKEUP


def alert_routes(rt: Runtime) -> Sequence[BaseRoute]:
    """Route provider: reads the configured secrets now, so a missing one stops the start."""
    writer = RawWriter(rt.factory, on_stored=WAKEUP.ring)  # durable commits
    alerts = rt.config.alerts
    return [
        *webhooks_sentry.routes(alerts, writer),
        *webhooks_alertmanager.routes(alerts, writer),
        *webhooks_events.routes(alerts, writer),
    ]
