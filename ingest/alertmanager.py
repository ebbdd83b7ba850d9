"""Alertmanager webhook (v4) alerts -> candidate reports.

The web route stores each alert of a notification as its own raw message: a
JSON object {"alert": <the alert as received>, "group": <the notification's
other keys>}, keyed by fingerprint + startsAt + status, so Alertmanager's
repeated notifications of the same firing alert store it once.

`Report.fields` keys: status (firing / resolved), alertname, severity,
environment, instance, job, labels, annotations, starts_at, ends_at, url,
receiver, alert_fingerprint. The report's fingerprint is
`alertmanager:<alert fingerprint>`; alerts from before Alertmanager sent one
get the same kind of hash of their sorted labels.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from core.report import ParseError, Report
from ingest._values import as_dict, as_str, as_time, kind, load_object

_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no end yet"
_ENVIRONMENT_LABELS = ("environment", "env", "stage", "tier")


def clean(text: str) -> str:
    """Text a database can store: no NUL, no lone surrogate (valid JSON allows both)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def label_fingerprint(labels: dict[str, Any]) -> str:
    """A stable id for an alert without Alertmanager's own fingerprint (sorted labels)."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def alert_identity(alert: dict[str, Any], group_status: str | None) -> tuple[str, str, str]:
    """(fingerprint, startsAt, status) of one alert: what makes a notification of it unique."""
    labels = as_dict(alert.get("labels"))
    fingerprint = as_str(alert.get("fingerprint")) or label_fingerprint(labels)
    status = as_str(alert.get("status")) or group_status or "firing"
    return fingerprint, as_str(alert.get("startsAt")) or "", status


def shape_problem(notification: dict[str, Any]) -> str | None:
    """What makes a webhook body unusable, or None: said in the 400 answer."""
    version = notification.get("version")
    if version is not None and version != "4":
        return f"'version' is {version!r}; this endpoint reads Alertmanager webhook version '4'"
    alerts = notification.get("alerts")
    if not isinstance(alerts, list):
        return f"'alerts' must be a list, got {kind(alerts)}"
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            return f"alerts[{index}] must be an object, got {kind(alert)}"
        if not isinstance(alert.get("labels"), dict):
            return f"alerts[{index}].labels must be an object, got {kind(alert.get('labels'))}"
        status = alert.get("status")
        if status is not None and status not in ("firing", "resolved"):
            return f"alerts[{index}].status is {status!r}: use 'firing' or 'resolved'"
    return None


def split_notification(notification: dict[str, Any]) -> list[tuple[str, bytes]]:
    """One (natural key, stored body) per alert of a checked notification."""
    group = {key: value for key, value in notification.items() if key != "alerts"}
    status = as_str(notification.get("status"))
    out = []
    for alert in notification["alerts"]:
        fingerprint, starts_at, alert_status = alert_identity(alert, status)
        # ASCII escapes: valid JSON may hold a lone surrogate, which UTF-8 cannot encode.
        body = json.dumps({"alert": alert, "group": group}).encode()
        out.append((f"{fingerprint}:{starts_at}:{alert_status}", body))
    return out


def parse_alert(body: bytes | str | dict[str, Any]) -> Report:
    """One stored alert (see the module docstring) as a candidate report."""
    stored = load_object(body, "stored Alertmanager alert")
    alert = stored.get("alert")
    if not isinstance(alert, dict):
        raise ParseError(f"stored alert has no 'alert' object (got {kind(alert)})")
    group = as_dict(stored.get("group"))
    labels = {
        clean(k): clean(v) for k, v in as_dict(alert.get("labels")).items() if isinstance(v, str)
    }
    annotations = {
        clean(k): clean(v)
        for k, v in as_dict(alert.get("annotations")).items()
        if isinstance(v, str)
    }
    common = as_dict(group.get("commonAnnotations"))
    fingerprint, starts_at, status = alert_identity(alert, as_str(group.get("status")))
    name = labels.get("alertname")
    common_summary = common.get("summary")
    summary = annotations.get("summary", "").strip() or (
        clean(common_summary).strip() if isinstance(common_summary, str) else ""
    )
    environment = next((labels[k] for k in _ENVIRONMENT_LABELS if labels.get(k)), None)
    ends_at = as_str(alert.get("endsAt"))
    fields: dict[str, Any] = {
        "status": status,
        "alertname": name,
        "severity": labels.get("severity"),
        "environment": environment,
        "instance": labels.get("instance"),
        "job": labels.get("job"),
        "labels": labels,
        "annotations": annotations,
        "starts_at": starts_at or None,
        "ends_at": ends_at if ends_at and ends_at != _ZERO_TIME else None,
        "url": as_str(alert.get("generatorURL")),
        "receiver": as_str(group.get("receiver")),
        "alert_fingerprint": fingerprint,
    }
    fingerprint = clean(fingerprint)
    title = summary or (name or "").strip() or f"Alertmanager alert {fingerprint}"
    if status == "resolved":
        title = f"[RESOLVED] {title}"
    lines = [
        annotations.get("description") or as_str(common.get("description")),
        ", ".join(f"{k}={v}" for k, v in sorted(labels.items())),
    ]
    sent = as_time(fields["ends_at"]) if status == "resolved" else None
    return Report(
        source="alertmanager",
        title=title,
        text="\n".join(line for line in lines if line),
        reporter=f"Alertmanager ({fields['receiver']})" if fields["receiver"] else "Alertmanager",
        sent_at=sent or as_time(starts_at),
        message_id=f"{fingerprint}:{starts_at}:{status}",
        fingerprint=f"alertmanager:{fingerprint}",
        fields=fields,
    )
