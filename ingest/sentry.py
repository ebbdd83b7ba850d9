"""Sentry webhook bodies -> candidate reports.

Integration-platform webhooks (issue, event_alert, metric_alert, error, comment,
installation) and the legacy "WebHooks" plugin body (resource `legacy`: top-level
id, project, project_name, culprit, level, url, message, triggering_rules, event).
Without the `Sentry-Hook-Resource` header the resource is the first key under
`data` (issue, event -> event_alert, metric_alert, error, installation, comment);
a body without `data` having project_name / project_slug (or project and event) is
`legacy`. An installation ping gives None. `Report.fields` always holds every key
of FIELD_KEYS (None or {} when unsaid); metric alerts have no `level`, their
severity is the action (critical / warning / resolved) and `status`.
"""

from __future__ import annotations

import re
from typing import Any

from core.report import ParseError, Report
from ingest._values import (
    as_count,
    as_dict,
    as_id,
    as_number,
    as_str,
    as_time,
    kind,
    load_object,
    pick,
)

FIELD_KEYS = (
    "resource action level environment project culprit event_count user_count url rule "
    "first_seen last_seen issue_id short_id event_id comment_id status assignee handled "
    "platform release transaction exception_type exception_value tags metric_threshold "
    "metric_value"
).split()
_RESOURCE_BY_DATA_KEY = {"issue": "issue", "event": "event_alert", "metric_alert": "metric_alert"}
_RESOURCE_BY_DATA_KEY |= {"error": "error", "installation": "installation", "comment": "comment"}
_DATA_KEY_BY_RESOURCE = {resource: key for key, resource in _RESOURCE_BY_DATA_KEY.items()}
_RESOURCES = {*_DATA_KEY_BY_RESOURCE, "legacy"}
_LEVELS = {"fatal": "fatal", "error": "error", "warning": "warning", "warn": "warning"}
_LEVELS |= {"info": "info", "debug": "debug"}
_METRIC_STATUS = {1: "open", 2: "closed", 10: "warning", 20: "critical"}  # Sentry IncidentStatus
_LEADING_NUMBER = re.compile(r"\s*([-+]?\d[\d,]*(?:\.\d+)?)")
_PROJECT_IN_API_URL = re.compile(r"/projects/[^/]+/([^/]+)/")


def parse_sentry(body: bytes | str | dict[str, Any], resource: str | None = None) -> Report | None:
    """Turn one Sentry webhook body into a report; None for an installation ping."""
    payload = load_object(body, "Sentry webhook body")
    resource = _resource(payload, resource)
    if resource == "installation":
        return None
    fields: dict[str, Any] = dict.fromkeys(FIELD_KEYS)
    fields.update(resource=resource, action=as_str(payload.get("action")), tags={})
    actor = as_dict(payload.get("actor"))
    actor_name = as_str(actor.get("name")) if actor.get("type") == "user" else None
    report = Report(source="sentry", title="", reporter=actor_name or "Sentry", fields=fields)
    if resource == "legacy":
        _legacy(report, payload)
    else:
        data, inner = _inner(payload, resource)
        if resource == "issue":
            _issue(report, inner)
        elif resource == "metric_alert":
            _metric_alert(report, data, inner)
        elif resource == "comment":
            _comment(report, data, inner)
        else:
            _event(report, inner)
            alert_title = as_str(as_dict(data.get("issue_alert")).get("title"))
            fields["rule"] = as_str(data.get("triggered_rule")) or alert_title
    if fields["issue_id"] and not report.fingerprint:
        report.fingerprint = f"sentry:issue:{fields['issue_id']}"
    return report


def _resource(payload: dict[str, Any], header: str | None) -> str:
    if header is not None:
        name = header.strip().lower() if isinstance(header, str) else ""
        if name not in _RESOURCES:
            raise ParseError(f"unknown Sentry resource {header!r}")
        return name
    data = payload.get("data")
    if isinstance(data, dict):
        for key, resource in _RESOURCE_BY_DATA_KEY.items():
            if key in data:
                return resource
        known = ", ".join(_RESOURCE_BY_DATA_KEY)
        raise ParseError(f"cannot tell the Sentry resource: 'data' has none of {known}")
    legacy = "project_name" in payload or "project_slug" in payload
    if data is None and (legacy or ("project" in payload and "event" in payload)):
        return "legacy"
    raise ParseError("Sentry webhook body has no 'data' object")


def _inner(payload: dict[str, Any], resource: str) -> tuple[dict[str, Any], Any]:
    """`data` and the resource's object in it (the comment is a string), checked."""
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ParseError("Sentry webhook body has no 'data' object")
    key = _DATA_KEY_BY_RESOURCE[resource]
    inner = data.get(key)
    if inner is None:
        raise ParseError(f"{resource} payload lacks {key!r}")
    wanted, noun = (str, "a string") if resource == "comment" else (dict, "an object")
    if not isinstance(inner, wanted):
        raise ParseError(f"{resource} payload's {key!r} is a {kind(inner)}, not {noun}")
    return data, inner


def _event(report: Report, event: dict[str, Any]) -> None:
    """Fill a report from a serialized event (event_alert, error, the legacy `event`)."""
    fields = report.fields
    tags = _tags(event.get("tags"))
    exc_type, exc_value, handled = _exception(event)
    if handled is None and tags.get("handled") in ("yes", "no"):
        handled = tags["handled"] == "yes"
    project = _PROJECT_IN_API_URL.search(as_str(event.get("url")) or "")
    fields.update(
        level=_level(event.get("level")) or _level(tags.get("level")),
        environment=as_str(event.get("environment")) or tags.get("environment"),
        project=project.group(1) if project else None,
        culprit=as_str(event.get("culprit")),
        url=as_str(event.get("web_url")),
        issue_id=pick(event, "issue_id groupID", as_id),
        event_id=as_id(event.get("event_id")),
        handled=handled,
        platform=as_str(event.get("platform")),
        release=as_str(event.get("release")) or tags.get("release"),
        transaction=as_str(event.get("transaction")) or tags.get("transaction"),
        exception_type=exc_type,
        exception_value=exc_value,
        tags=tags,
    )
    logentry = as_dict(event.get("logentry"))  # the newer home of a logged message
    message = as_str(event.get("message")) or as_str(logentry.get("formatted"))
    exception = ": ".join(part for part in (exc_type, exc_value) if part)
    title = as_str(event.get("title")) or as_str(as_dict(event.get("metadata")).get("title"))
    report.title = title or exception or message or fields["culprit"] or "Sentry event"
    report.text = _summary(fields, message if message not in (report.title, exception) else None)
    report.message_id = fields["event_id"] or ""
    report.sent_at = pick(event, "datetime timestamp received", as_time)


def _exception(event: dict[str, Any]) -> tuple[str | None, str | None, bool | None]:
    """Type, value and `handled` of the exception Sentry titles the event with (the last)."""
    container = as_dict(event.get("exception")) or as_dict(event.get("sentry.interfaces.Exception"))
    values = container.get("values")
    last: dict[str, Any] = {}
    if isinstance(values, list):
        last = next((value for value in reversed(values) if isinstance(value, dict)), {})
    handled = as_dict(last.get("mechanism")).get("handled")
    metadata = as_dict(event.get("metadata"))
    exc_type = as_str(metadata.get("type")) or as_str(last.get("type"))
    exc_value = as_str(metadata.get("value")) or as_str(last.get("value"))
    return exc_type, exc_value, handled if isinstance(handled, bool) else None


def _issue(report: Report, issue: dict[str, Any]) -> None:
    fields = report.fields
    metadata = as_dict(issue.get("metadata"))
    project = issue.get("project")
    assigned = issue.get("assignedTo")  # a user or team object, or null
    fields.update(
        level=_level(issue.get("level")),
        project=pick(as_dict(project), "slug name", as_str) or as_str(project),
        culprit=as_str(issue.get("culprit")),
        event_count=as_count(issue.get("count")),
        user_count=as_count(issue.get("userCount")),
        url=pick(issue, "web_url permalink", as_str),
        first_seen=as_str(issue.get("firstSeen")),
        last_seen=as_str(issue.get("lastSeen")),
        issue_id=as_id(issue.get("id")),
        short_id=as_str(issue.get("shortId")),
        status=as_str(issue.get("status")),
        assignee=pick(as_dict(assigned), "name email", as_str) or as_str(assigned),
        platform=as_str(issue.get("platform")),
        exception_type=as_str(metadata.get("type")),
        exception_value=as_str(metadata.get("value")),
    )
    exception = ": ".join(p for p in (fields["exception_type"], fields["exception_value"]) if p)
    title = as_str(issue.get("title")) or exception or fields["culprit"]
    report.title = title or f"Sentry issue {fields['short_id'] or fields['issue_id']}"
    report.text = _summary(fields, exception)
    report.sent_at = pick(issue, "lastSeen firstSeen", as_time)


def _metric_alert(report: Report, data: dict[str, Any], alert: dict[str, Any]) -> None:
    fields = report.fields
    rule = as_dict(alert.get("alert_rule"))
    status = alert.get("status")
    projects = alert.get("projects") or rule.get("projects")
    if isinstance(projects, list):
        projects = ",".join(p for p in projects if isinstance(p, str))
    # Sentry's example escapes the newline ("\\n" in the JSON): it arrives as backslash + n.
    description = (as_str(data.get("description_text")) or "").replace("\\n", "\n")
    value = _LEADING_NUMBER.match(description)  # "1000 events in the last 10 minutes"
    fields.update(
        environment=as_str(rule.get("environment")),
        project=as_str(projects),
        url=as_str(data.get("web_url")),
        rule=as_str(rule.get("name")),
        first_seen=as_str(alert.get("date_started")),
        status=_METRIC_STATUS.get(status) if isinstance(status, int) else as_str(status),
        metric_threshold=_threshold(rule, fields["action"]),
        metric_value=as_number(value.group(1).replace(",", "")) if value else None,
    )
    title = as_str(data.get("description_title")) or as_str(alert.get("title"))
    report.title = title or fields["rule"] or "Sentry metric alert"
    report.text = description
    report.message_id = as_id(alert.get("id")) or ""
    group = as_id(rule.get("id")) or report.message_id
    report.fingerprint = f"sentry:metric:{group}" if group else ""
    closed = as_time(alert.get("date_closed")) if fields["action"] == "resolved" else None
    report.sent_at = closed or pick(alert, "date_detected date_started date_created", as_time)


def _threshold(rule: dict[str, Any], action: str | None) -> int | float | None:
    """The threshold the action is about: its trigger's, or the rule's resolve threshold."""
    if action == "resolved":
        return as_number(rule.get("resolve_threshold"))
    triggers = rule.get("triggers")
    for trigger in triggers if isinstance(triggers, list) else ():
        if isinstance(trigger, dict) and trigger.get("label") == action:
            return as_number(trigger.get("alert_threshold"))
    return None


def _comment(report: Report, data: dict[str, Any], comment: str) -> None:
    fields = report.fields
    fields.update(
        project=as_str(data.get("project_slug")),
        issue_id=as_id(data.get("issue_id")),
        comment_id=as_id(data.get("comment_id")),
    )
    first_line = next((line.strip() for line in comment.splitlines() if line.strip()), "")
    report.title = first_line[:100] or f"Comment on Sentry issue {fields['issue_id']}"
    report.text = comment
    report.message_id = f"comment:{fields['comment_id']}" if fields["comment_id"] else ""
    report.sent_at = as_time(data.get("timestamp"))


def _legacy(report: Report, payload: dict[str, Any]) -> None:
    """The legacy plugin: an event plus group facts at the top level (a shallow merge)."""
    top = {key: payload.get(key) for key in ("level", "culprit", "message")}
    _event(report, as_dict(payload.get("event")) | {k: v for k, v in top.items() if as_str(v)})
    rules = payload.get("triggering_rules")
    if isinstance(rules, list):
        rules = ", ".join(rule for rule in rules if isinstance(rule, str))
    fields = report.fields
    fields.update(
        action=fields["action"] or "triggered",
        project=pick(payload, "project_slug project project_name", as_str) or fields["project"],
        url=as_str(payload.get("url")) or fields["url"],
        issue_id=as_id(payload.get("id")) or fields["issue_id"],
        rule=as_str(rules),
    )


def _summary(fields: dict[str, Any], *lines: str | None) -> str:
    """The given lines, then the culprit, skipping what is empty."""
    culprit = f"Culprit: {fields['culprit']}" if fields["culprit"] else None
    return "\n".join(line for line in (*lines, culprit) if line)


def _level(value: Any) -> str | None:
    return _LEVELS.get(value.lower()) if isinstance(value, str) else None


def _tags(value: Any) -> dict[str, str]:
    """Tags as a dict, from [key, value] pairs or {"key": ..., "value": ...} objects."""
    if not isinstance(value, list):
        return {}
    # One comprehension for the usual [key, value] pairs: this runs for every event.
    tags = {
        pair[0]: pair[1]
        for pair in value
        if type(pair) is list and len(pair) == 2 and type(pair[0]) is type(pair[1]) is str
    }
    if len(tags) < len(value):
        for item in value:
            key, val = (item.get("key"), item.get("value")) if isinstance(item, dict) else (0, 0)
            if type(key) is type(val) is str:
                tags[key] = val
    return tags
