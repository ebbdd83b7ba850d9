"""POST /webhooks/events: alert events in the PagerDuty Events API v2 shape.

`routing_key` is the credential (one of `[events] routing_keys_env`);
`event_action` trigger / acknowledge / resolve; `dedup_key` groups events
into one incident (made up for a trigger without one) and comes back in the
202 answer, as PagerDuty does. After a resolve, a trigger with the same key
opens a new incident. The API has no delivery id, so every accepted event is
its own raw message; repeats of a trigger join the same incident.
"""

from __future__ import annotations

import uuid

from starlette.routing import BaseRoute, Route

from core.config_alerts import AlertsConfig
from core.web.http_common import Refused, load_json_object, matching_name
from core.web.raw_writer import Incoming, RawWriter, StoreFailed
from core.web.webhook_endpoint import Answer, WebhookEndpoint, WebhookRequest
from ingest.events import shape_problem


def routes(alerts: AlertsConfig, writer: RawWriter) -> list[BaseRoute]:
    keys = (
        list(alerts.events_routing_keys.read_named().items()) if alerts.events_routing_keys else []
    )

    async def events(request: WebhookRequest) -> Answer:
        event = load_json_object(request.body)
        routing_key = event.get("routing_key")
        if not isinstance(routing_key, str) or not routing_key:
            raise Refused(400, "'routing_key' is required: a non-empty string")
        name = matching_name(routing_key, keys) if keys else None
        if name is None:
            raise Refused(401, "unknown routing_key")
        problem = shape_problem(event)
        if problem:
            raise Refused(400, problem)
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        action = event["event_action"]
        meta = {"routing_key": name, "dedup_key": dedup_key, "action": action}
        incoming = Incoming("events", f"{uuid.uuid4().hex}:{action}", request.body, meta)
        try:
            await writer.store([incoming])
        except StoreFailed as exc:
            return Answer.json({"status": "error", "message": str(exc)}, 503)
        return Answer.json(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, 202
        )

    return [Route("/webhooks/events", WebhookEndpoint(events, _refusal), methods=["POST"])]


def _refusal(refused: Refused) -> Answer:
    """Refusals in the Events API's own shape, which its clients parse."""
    return Answer.json(
        {"status": "invalid event", "message": refused.reason, "errors": [refused.reason]},
        refused.status,
        refused.headers,
    )
