"""Every webhook body, damaged: Sentry resources, Alertmanager, the events API, Telegram
updates. Each parse gives a storable Report, None or ParseError, never another exception;
and a body the webhook route accepts (its own shape check passes) always parses.

Seeds are the real payloads in ../shared (read at test time); each draw replaces, deletes
or retypes values at random positions, including strings PostgreSQL cannot store.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.report import ParseError, Report
from core.web.webhooks_sentry import READ, _shape_problem
from ingest import alertmanager, events
from ingest.sentry import parse_sentry
from ingest.telegram import parse_update
from tests.conftest import CORPORA, EXAMPLES, require_shared
from tests.fuzz_settings import fuzz_settings
from tests.json_fuzz import ODD, json_like

SENTRY_DOCS = "sentry-docs/docs/organization/integrations/integration-platform/webhooks"
SENTRY_RESOURCES = {
    "issues.payload.json": "issue",
    "issue-alerts.payload.json": "event_alert",
    "metric-alerts.payload.json": "metric_alert",
    "errors.payload.json": "error",
    "comments.payload.json": "comment",
    "installation.payload.json": "installation",
}
# Values that have broken parsers and databases: NUL and lone surrogates (PostgreSQL refuses
# both), NaN, huge numbers and strings, impossible dates, markup.
HOSTILE: list[Any] = [
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff tail",
    "x" * 100_000,
    "9" * 5000,
    "-1e309",
    float("nan"),
    float("inf"),
    10**400,
    -(2**63),
    "2025-13-45T99:99:99Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999+14:00",
    "<b>bold</b> <a href='javascript:x'>",
    "",
    " ",
]


def sentry_seeds() -> list[tuple[Path, str]]:
    folder = require_shared(CORPORA / SENTRY_DOCS)
    seeds = [(folder / name, resource) for name, resource in SENTRY_RESOURCES.items()]
    return seeds + [(path, "event_alert") for path in sorted(EXAMPLES.glob("*.sentry.json"))]


def alertmanager_seeds() -> list[Path]:
    return sorted(require_shared(CORPORA / "prometheus-msteams").rglob("*.json"))


def telegram_seeds() -> list[Path]:
    found = sorted(require_shared(CORPORA / "telegram_types" / "res").glob("*.json"))
    return found + sorted(EXAMPLES.glob("*.telegram.json"))


def event_seeds() -> list[dict[str, Any]]:
    """Events API v2 bodies as the public documentation shows them (no corpus holds any)."""
    trigger = {
        "routing_key": "R0UT1NGKEY0000000000000000000000",
        "event_action": "trigger",
        "dedup_key": "srv01/disk",
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
        "payload": {
            "summary": "Example alert on host1.example.com",
            "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api",
            "severity": "critical",
            "timestamp": "2015-07-17T08:42:58.315+0000",
            "component": "postgres",
            "group": "prod-datapipe",
            "class": "deploy",
            "custom_details": {"ping time": "1500ms", "load avg": 0.75, "free space": "1%"},
        },
        "links": [{"href": "https://example.com/", "text": "Link text"}],
        "images": [{"src": "https://example.com/x.png", "href": "https://example.com/"}],
    }
    resolve = {"routing_key": trigger["routing_key"], "event_action": "resolve", "dedup_key": "k"}
    return [trigger, resolve]


STORABLE = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")


def has_lone_surrogate(tree: Any) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(tree, ensure_ascii=False))


def has_unstorable(value: Any) -> bool:
    return isinstance(value, str) and ("\x00" in value or has_lone_surrogate(value))


def positions(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) pair in a payload, without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        keys = list(current) if isinstance(current, dict) else range(len(current))
        for key in keys:
            yield current, key
            if isinstance(current[key], dict | list):
                stack.append(current[key])


def damage(data: st.DataObject, payload: Any, json_values: st.SearchStrategy[Any]) -> Any:
    """Replace or delete the value at random positions, a few times over."""
    for _ in range(data.draw(st.integers(1, 5), label="damages")):
        spots = list(positions(payload))
        if not spots:
            break
        node, key = spots[data.draw(st.integers(0, len(spots) - 1), label="position")]
        if isinstance(node, dict) and data.draw(st.booleans(), label="delete"):
            del node[key]
        else:
            node[key] = data.draw(st.sampled_from(HOSTILE) | ODD | json_values, label="value")
    return payload


def as_body(data: st.DataObject, payload: Any) -> Any:
    """The payload as bytes (what is stored), as str, or as the dict itself."""
    form = data.draw(st.sampled_from(["bytes", "str", "dict"]), label="form")
    if form == "dict":
        return payload
    text = json.dumps(payload, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    # Lone surrogates cannot be encoded as UTF-8; Python's decoder accepts them escaped.
    return text.encode("utf-8", "surrogatepass") if form == "bytes" else text


def assert_storable(report: Report) -> None:
    """The pipeline writes these into PostgreSQL: UTF-8 without NUL, and strict JSON."""
    assert report.title.strip()
    strings = [report.title, report.text, report.note, report.reporter, report.fingerprint]
    strings += [report.reporter_address, report.message_id, *report.warnings]
    strings += [a.name for a in report.attachments]
    for value in strings:
        assert "\x00" not in value
        value.encode("utf-8")
    fields = json.dumps(report.fields, allow_nan=False)
    assert "\\u0000" not in fields
    fields.encode("utf-8")
    assert report.sent_at is None or report.sent_at.tzinfo is not None


def outcome(parse: Any, *args: Any, **kwargs: Any) -> Report | ParseError | None:
    try:
        report = parse(*args, **kwargs)
    except ParseError as exc:
        assert str(exc)
        return exc
    if report is not None:
        assert_storable(report)
    return report  # type: ignore[no-any-return]


def _json_values(paths: list[Path]) -> st.SearchStrategy[Any]:
    return json_like(paths) if paths else st.none()


@fuzz_settings(60)
@given(st.data())
def test_sentry_bodies(data: st.DataObject) -> None:
    seeds = sentry_seeds()
    path, resource = data.draw(st.sampled_from(seeds), label="seed")
    payload = damage(data, json.loads(path.read_bytes()), _json_values([p for p, _ in seeds]))
    body = as_body(data, copy.deepcopy(payload))
    header = data.draw(st.sampled_from([resource, None, "unknown"]), label="resource")
    result = outcome(parse_sentry, body, resource=header)
    if resource in READ and header == resource and _shape_problem(payload, resource) is None:
        # The route stored it as pending: the worker must be able to read it.
        assert not isinstance(result, ParseError), (resource, result)


@fuzz_settings(60)
@given(st.data())
def test_alertmanager_bodies(data: st.DataObject) -> None:
    seeds = alertmanager_seeds()
    notification = damage(
        data,
        json.loads(data.draw(st.sampled_from(seeds), label="seed").read_bytes()),
        _json_values(seeds),
    )
    if not isinstance(notification, dict) or alertmanager.shape_problem(notification):
        return
    # Accepted by the route: split into one stored body per alert, each of which parses.
    for _key, body in alertmanager.split_notification(notification):
        result = outcome(alertmanager.parse_alert, body)
        assert isinstance(result, Report), result
        assert result.fingerprint.startswith("alertmanager:")


@fuzz_settings(40)
@given(st.data())
def test_stored_alertmanager_bodies(data: st.DataObject) -> None:
    seeds = alertmanager_seeds()
    notification = json.loads(data.draw(st.sampled_from(seeds), label="seed").read_bytes())
    stored = {"alert": notification.get("alerts", [{}])[0], "group": notification}
    outcome(alertmanager.parse_alert, as_body(data, damage(data, stored, _json_values(seeds))))


@fuzz_settings(60)
@given(st.data())
def test_events_bodies(data: st.DataObject) -> None:
    event = damage(data, data.draw(st.sampled_from(event_seeds()), label="seed"), st.none())
    body = as_body(data, event)
    outcome(
        events.parse_event, body, dedup_key=data.draw(st.none() | st.text(STORABLE, max_size=8))
    )
    if not isinstance(event, dict) or events.shape_problem(event):
        return
    # Accepted by the route, which answers with the event's dedup_key or a fresh one.
    dedup_key = event.get("dedup_key") or "generated-by-the-route"
    result = outcome(events.parse_event, body, dedup_key=dedup_key)
    assert isinstance(result, Report), result


@fuzz_settings(60)
@given(st.data())
def test_telegram_updates(data: st.DataObject) -> None:
    seeds = telegram_seeds()
    update = damage(
        data,
        json.loads(data.draw(st.sampled_from(seeds), label="seed").read_bytes()),
        _json_values(seeds),
    )
    outcome(parse_update, as_body(data, update))


def test_unstorable_strings_are_replaced_not_refused() -> None:
    """Regression: NUL and lone surrogates reached PostgreSQL and failed the insert."""
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1760000000,
            "chat": {"id": 5, "type": "private"},
            "from": {"id": 5, "first_name": "Ana\x00"},
            "text": "Checkout \ud800 down\x00 again",
        },
    }
    for body in (update, json.dumps(update), json.dumps(update).encode()):
        report = parse_update(body)
        assert report is not None
        assert report.text == "Checkout \ufffd down\ufffd again"
        assert_storable(report)
    assert update["message"]["text"] == "Checkout \ud800 down\x00 again"  # caller's dict intact


def test_nan_in_a_stored_event_reads_as_null() -> None:
    """Regression: Python's JSON decoder (and so the route) accepts NaN; PostgreSQL's JSON
    does not, so the report's fields could not be written."""
    body = (
        b'{"event_action": "trigger", "dedup_key": "k", "payload": {"summary": "Disk full",'
        b' "source": "db1", "severity": "error", "custom_details": {"load": NaN, "x": -Infinity}}}'
    )
    report = outcome(events.parse_event, body)
    assert isinstance(report, Report)
    assert report.fields["custom_details"] == {"load": None, "x": None}


def test_blank_sentry_title_falls_back_to_the_next_candidate() -> None:
    """Regression: a title of spaces was taken as the report's title (a blank row)."""
    path, _ = sentry_seeds()[-1]
    payload = json.loads(path.read_bytes())
    payload["data"]["event"]["title"] = "   "
    report = parse_sentry(payload, resource="event_alert")
    assert report is not None and report.title.strip()


def test_alertmanager_route_lone_surrogate() -> None:
    """Found by test_alertmanager_bodies (fixed in the alerts area): a notification with a
    \\ud800 escape, valid JSON, made split_notification raise UnicodeEncodeError, so
    POST /webhooks/alertmanager answered 500 and Alertmanager retried it forever."""
    notification = json.loads(alertmanager_seeds()[0].read_bytes())
    notification["alerts"][0]["labels"]["alertname"] = "\ud800"
    assert alertmanager.shape_problem(notification) is None
    for _key, body in alertmanager.split_notification(notification):
        assert isinstance(outcome(alertmanager.parse_alert, body), Report)


def test_alertmanager_blank_summary() -> None:
    """Found by test_alertmanager_bodies (fixed in the alerts area): an alert whose summary
    annotation was " " became a report titled " ", a blank row in the dashboard."""
    notification = json.loads(alertmanager_seeds()[0].read_bytes())
    notification["alerts"][0]["annotations"]["summary"] = " "
    _key, body = alertmanager.split_notification(notification)[0]
    assert alertmanager.parse_alert(body).title.strip()


def test_events_dedup_key_with_nul_is_refused_at_the_door() -> None:
    """Found by test_events_bodies (fixed in the alerts area): the route took
    "dedup_key": "a\\u0000b" and the report's fingerprint then held a NUL, which
    PostgreSQL refused when the pipeline wrote the report (parked with a DataError)."""
    event = event_seeds()[0]
    event["dedup_key"] = "a\x00b"
    assert "dedup_key" in (events.shape_problem(event) or "")
