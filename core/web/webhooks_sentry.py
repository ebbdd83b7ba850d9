"""POST /webhooks/sentry: signed Sentry integration-platform webhooks.

The `Sentry-Hook-Signature` header must be the hex HMAC-SHA256 of the raw
body keyed with a configured integration's client secret; missing or wrong is
401 and nothing is stored. `Sentry-Hook-Resource` names the payload;
`installation` and resources this service does not read are acknowledged
with 202 and stored as ignored. `Request-ID` is the natural key, so a
redelivery is stored once. The legacy WebHooks plugin (unsigned) is accepted
only on /webhooks/sentry/legacy/<token> with the configured token.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.routing import BaseRoute, Route

from core.config_alerts import AlertsConfig
from core.models import IGNORED, PENDING
from core.web.http_common import Refused, load_json_object, matching_name, short_key, signed_by
from core.web.raw_writer import Incoming, RawWriter, StoreFailed
from core.web.webhook_endpoint import Answer, WebhookEndpoint, WebhookRequest

# Resources the parser reads, and the key under `data` each must carry.
READ = {
    "issue": "issue",
    "event_alert": "event",
    "metric_alert": "metric_alert",
    "error": "error",
    "comment": "comment",
}
ACKNOWLEDGED = {"installation"}  # answered and kept, nothing to triage


def routes(alerts: AlertsConfig, writer: RawWriter) -> list[BaseRoute]:
    secrets = [(i.name, i.client_secret.read()) for i in alerts.sentry]
    legacy = [("legacy", alerts.sentry_legacy_token.read())] if alerts.sentry_legacy_token else []

    async def sentry(request: WebhookRequest) -> Answer:
        integration = _check_signature(request, secrets)
        incoming = _incoming(request, integration)
        try:
            (stored,) = await writer.store([incoming])
        except StoreFailed as exc:
            return Answer.json({"error": str(exc)}, 503, {"Retry-After": "1"})
        return _accepted(stored.id, not stored.created, incoming.status)

    async def sentry_legacy(request: WebhookRequest) -> Answer:
        if not legacy or matching_name(request.path_params["token"], legacy) is None:
            raise Refused(401, "unknown token")
        payload = load_json_object(request.body)
        if not any(key in payload for key in ("project", "project_name", "project_slug")):
            raise Refused(400, "not a Sentry WebHooks plugin body: no 'project' key")
        meta = {"resource": "legacy"}
        key = "legacy:" + hashlib.sha256(request.body).hexdigest()  # no delivery id: once per body
        try:
            (stored,) = await writer.store([Incoming("sentry", key, request.body, meta)])
        except StoreFailed as exc:
            return Answer.json({"error": str(exc)}, 503, {"Retry-After": "1"})
        return Answer.json({"stored": stored.id, "duplicate": not stored.created}, 202)

    return [
        Route("/webhooks/sentry", WebhookEndpoint(sentry), methods=["POST"]),
        Route("/webhooks/sentry/legacy/{token}", WebhookEndpoint(sentry_legacy), methods=["POST"]),
    ]


def _accepted(stored: int, duplicate: bool, status: str) -> Answer:
    """202 with what Answer.json would write, formatted directly: it is every request's cost."""
    body = (
        f'{{"stored":{stored},"duplicate":{"true" if duplicate else "false"},"status":"{status}"}}'
    )
    return Answer(202, body.encode())


def _check_signature(request: WebhookRequest, secrets: list[tuple[str, str]]) -> str:
    signature = request.headers.get("sentry-hook-signature")
    if not signature:
        raise Refused(401, "missing Sentry-Hook-Signature header")
    if not secrets:
        raise Refused(401, "no Sentry integration is configured ([[sentry]] in the config)")
    integration = signed_by(request.body, signature, secrets)
    if integration is None:
        raise Refused(401, "Sentry-Hook-Signature does not match the body with any client secret")
    return integration


def _incoming(request: WebhookRequest, integration: str) -> Incoming:
    body = request.body
    payload = load_json_object(body)
    header = request.headers.get("sentry-hook-resource")
    resource = header.strip().lower() if header else _resource_from_data(payload)
    meta: dict[str, Any] = {"resource": resource, "integration": integration}
    request_id = request.headers.get("request-id", "").strip()
    if request_id:
        meta["request_id"] = request_id
        key = short_key(request_id)
    else:  # Sentry always sends one; without it the same body counts as the same delivery
        key = f"{resource}:{payload.get('action')}:{hashlib.sha256(body).hexdigest()}"
    if resource in ACKNOWLEDGED:
        return Incoming("sentry", key, body, meta, status=IGNORED)
    if resource not in READ:
        meta["ignored"] = f"resource {resource!r} is not read by this service"
        return Incoming("sentry", key, body, meta, status=IGNORED)
    problem = _shape_problem(payload, resource)
    if problem:
        raise Refused(400, problem)
    return Incoming("sentry", key, body, meta, status=PENDING)


def _resource_from_data(payload: dict[str, Any]) -> str:
    data = payload.get("data")
    if isinstance(data, dict):
        for resource, key in (*READ.items(), ("installation", "installation")):
            if key in data:
                return resource
    return "unknown"


def _shape_problem(payload: dict[str, Any], resource: str) -> str | None:
    data = payload.get("data")
    if not isinstance(data, dict):
        return f"{resource} webhook has no 'data' object"
    key = READ[resource]
    inner = data.get(key)
    wanted = str if resource == "comment" else dict
    if not isinstance(inner, wanted):
        noun = "a string" if wanted is str else "an object"
        return f"{resource} webhook needs data.{key} as {noun}"
    action = payload.get("action")
    if action is not None and not isinstance(action, str):
        return "'action' must be a string"
    return None
