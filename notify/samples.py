"""Sample contexts: every template is rendered against one at start, so errors show early."""

from __future__ import annotations

from typing import Any

EVENT_KINDS = ("declared", "severity_changed", "update_posted", "resolved", "triage_needed")
KINDS = (*EVENT_KINDS, "reminder", "ack", "update")


def sample_incident() -> dict[str, Any]:
    return {
        "id": 42,
        "ref": "INC-42",
        "title": "Checkout <b>down</b> for EU customers",
        "status": "live",
        "severity": "SEV2",
        "types": ["engineering", "customer_success"],
        "quadrant": "incident_response",
        "opened_at": "2026-01-05T09:12:00+00:00",
        "sources": ["email", "sentry"],
        "golden": {
            "impact": "yes",
            "urgent": "yes",
            "coordinate": "unknown",
            "communicate": "yes",
            "review": "no",
        },
        "update": {"text": "Vendor engaged, ETA 30 min", "at": "2026-01-05T09:40:00+00:00"},
        "url": "http://127.0.0.1:8000/incidents/INC-42",
    }


def template_context(kind: str, audience: str, context: dict[str, Any]) -> dict[str, Any]:
    """The names a template sees: the incident, and what this kind of message is about."""
    return {
        "kind": kind,
        "audience": audience,
        "incident": context,
        "event": context.get("event"),
        "update": context.get("update"),
        "ack": context.get("ack"),
        "reminder": context.get("reminder"),
        "digest": context.get("digest"),
    }


def sample_digest() -> dict[str, Any]:
    item = {
        "ref": "INC-42",
        "title": "Checkout <b>down</b>",
        "severity": "SEV2",
        "status": "live",
        "age_seconds": 5400,
        "last_update": "Vendor engaged",
        "url": "http://127.0.0.1:8000/incidents/INC-42",
    }
    return {
        "audience": "support",
        "timezone": "Europe/Berlin",
        "period_start": "2026-01-04 09:00",
        "period_end": "2026-01-05 09:00",
        "new": [item],
        "new_count": 1,
        "open_by_severity": [{"severity": "SEV2", "count": 1, "incidents": [item]}],
        "open_count": 1,
        "resolved": [item],
        "triage": [item],
        "triage_count": 1,
        "resolved_count": 1,
        "quadrants": {"incident_response": 3, "hotfix": 1, "normal_work": 7, "backlog": 2},
        "quadrant_max": 7,
        "reports": 13,
        "top_sources": [{"source": "email", "count": 9}, {"source": "sentry", "count": 4}],
        "url": "http://127.0.0.1:8000/incidents",
    }


def sample_context(kind: str) -> dict[str, Any]:
    incident = sample_incident()
    incident["event"] = {
        "name": kind if kind in EVENT_KINDS else "declared",
        "actor": "cli:ana",
        "reason": "customers report errors",
        "at": "2026-01-05T09:40:00+00:00",
        "old": "SEV3",
        "new": "SEV2",
    }
    incident["ack"] = {"in_reply_to": "<abc@customer.example>", "subject": "Portal down"}
    incident["reminder"] = {"minutes": 60, "since": "2026-01-05T09:40:00+00:00"}
    incident["digest"] = sample_digest()
    return template_context(kind, "support", incident)
