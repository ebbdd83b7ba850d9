"""Events API (PagerDuty Events API v2 shape) -> candidate reports.

An event: `routing_key` (the credential, checked by the web route),
`event_action` trigger / acknowledge / resolve, `dedup_key` (made up for a
trigger without one; required otherwise), and for a trigger a `payload` with
`summary`, `source`, `severity` (critical, error, warning, info) and optional
`timestamp`, `component`, `group`, `class`, `custom_details`; top-level
`links`, `images` and `client` are kept as they are.

`Report.fields` keys: action, severity, source, component, group, class,
custom_details, dedup_key. The fingerprint is `events:<dedup_key>`.
"""

from __future__ import annotations

import json
from typing import Any

from core.report import ParseError, Report
from ingest._values import as_dict, as_str, as_time, kind, load_object

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
_MAX_SUMMARY = 1024
_MAX_DEDUP_KEY = 255


def shape_problem(event: dict[str, Any]) -> str | None:
    """What makes an event unusable (the routing key aside), or None: said in the 400 answer."""
    action = event.get("event_action")
    if action not in ACTIONS:
        return f"'event_action' is {action!r}: use one of {', '.join(ACTIONS)}"
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key.strip()):
        return f"'dedup_key' must be a non-empty string, got {kind(dedup_key)}"
    if isinstance(dedup_key, str) and any(c < " " or "\ud800" <= c <= "\udfff" for c in dedup_key):
        return "'dedup_key' must not hold control characters or lone surrogates"
    if isinstance(dedup_key, str) and len(dedup_key) > _MAX_DEDUP_KEY:
        return f"'dedup_key' is longer than {_MAX_DEDUP_KEY} characters"
    if action != "trigger":
        return None if dedup_key else f"'dedup_key' is required to {action}"
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return f"'payload' must be an object for a trigger, got {kind(payload)}"
    for key in ("summary", "source"):
        value = payload.get(key)
        if not isinstance(value, str) or not value.strip():
            return f"'payload.{key}' is required: a non-empty string"
    if len(payload["summary"]) > _MAX_SUMMARY:
        return f"'payload.summary' is longer than {_MAX_SUMMARY} characters"
    if payload.get("severity") not in SEVERITIES:
        return (
            f"'payload.severity' is {payload.get('severity')!r}: use one of {', '.join(SEVERITIES)}"
        )
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict | str):
        return f"'payload.custom_details' must be an object or a string, got {kind(details)}"
    return None


def parse_event(body: bytes | str | dict[str, Any], dedup_key: str | None = None) -> Report:
    """One stored event as a candidate report; `dedup_key` is the one the route answered with."""
    event = load_object(body, "event")
    action = as_str(event.get("event_action"))
    if action not in ACTIONS:
        raise ParseError(f"event_action {event.get('event_action')!r} is not one of {ACTIONS}")
    key = dedup_key or as_str(event.get("dedup_key"))
    if not key:
        raise ParseError("event has no dedup_key")
    payload = as_dict(event.get("payload"))
    details = payload.get("custom_details")
    fields: dict[str, Any] = {
        "action": action,
        "severity": as_str(payload.get("severity")),
        "source": as_str(payload.get("source")),
        "component": as_str(payload.get("component")),
        "group": as_str(payload.get("group")),
        "class": as_str(payload.get("class")),
        "custom_details": details if isinstance(details, dict | str) else None,
        "dedup_key": key,
    }
    summary = as_str(payload.get("summary"))
    verb = {"trigger": "", "acknowledge": "[ACKNOWLEDGED] ", "resolve": "[RESOLVED] "}[action]
    title = f"{verb}{summary or key}"
    if isinstance(details, dict):
        detail_text = "\n".join(f"{k}: {_text(v)}" for k, v in details.items())
    else:
        detail_text = details if isinstance(details, str) else ""
    where = " / ".join(p for p in (fields["source"], fields["component"]) if p)
    text = "\n".join(p for p in (summary, f"Source: {where}" if where else "", detail_text) if p)
    client = as_str(event.get("client"))
    return Report(
        source="events",
        title=title,
        text=text,
        reporter=client or fields["source"] or "events API",
        sent_at=as_time(payload.get("timestamp")),
        fingerprint=f"events:{key}",
        fields=fields,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
