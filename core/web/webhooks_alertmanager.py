"""POST /webhooks/alertmanager: Alertmanager's webhook receiver (payload version 4).

Bearer-token auth (`[alertmanager] bearer_token_env`). Each alert of a
notification is stored as its own raw message, keyed by fingerprint +
startsAt + status: Alertmanager re-sends firing alerts every repeat
interval, and those repeats are stored once. A resolved alert resolves.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from core.config_alerts import AlertsConfig
from core.web.http_common import (
    Refused,
    bearer_token,
    load_json_object,
    matching_name,
    short_key,
)
from core.web.raw_writer import Incoming, RawWriter, StoreFailed
from core.web.webhook_endpoint import Answer, WebhookEndpoint, WebhookRequest
from ingest.alertmanager import shape_problem, split_notification


def routes(alerts: AlertsConfig, writer: RawWriter) -> list[BaseRoute]:
    tokens = (
        [("alertmanager", alerts.alertmanager_token.read())] if alerts.alertmanager_token else []
    )

    async def alertmanager(request: WebhookRequest) -> Answer:
        token = bearer_token(request.headers)
        if token is None:
            raise Refused(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
        if not tokens or matching_name(token, tokens) is None:
            raise Refused(401, "wrong bearer token", {"WWW-Authenticate": "Bearer"})
        notification = load_json_object(request.body)
        problem = shape_problem(notification)
        if problem:
            raise Refused(400, problem)
        group_key = notification.get("groupKey")
        meta = {"group_key": group_key if isinstance(group_key, str) else None}
        items = [
            Incoming("alertmanager", short_key(key), alert_body, meta)
            for key, alert_body in split_notification(notification)
        ]
        try:
            stored = await writer.store(items) if items else []
        except StoreFailed as exc:
            return Answer.json({"error": str(exc)}, 503, {"Retry-After": "1"})
        new = sum(1 for s in stored if s.created)
        return Answer.json({"alerts": len(stored), "stored": new, "duplicates": len(stored) - new})

    return [Route("/webhooks/alertmanager", WebhookEndpoint(alertmanager), methods=["POST"])]
