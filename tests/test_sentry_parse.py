"""Sentry webhook bodies -> reports: every resource and action, quirks, malformed input."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.report import ParseError, Report
from ingest.sentry import FIELD_KEYS, parse_sentry
from tests.conftest import SHARED
from tests.json_fuzz import ODD, WRONG, json_like

DATA = Path(__file__).parent / "data" / "sentry"
EXAMPLE_001 = SHARED / "examples" / "001-checkout-error-single-customer.sentry.json"
WEBHOOKS = (
    SHARED / "corpora/sentry-docs/docs/organization/integrations/integration-platform/webhooks"
)


def shared(path: Path) -> Path:
    """../shared lives beside the checkout; under CI=true it must be there."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing (CI needs ../shared beside the checkout)")
        pytest.skip(f"{path} not present on this machine")
    return path


def test_missing_shared_folder_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        shared(tmp_path / "absent")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        shared(tmp_path / "absent")


def parse(path: Path, resource: str | None = None) -> Report:
    report = parse_sentry(path.read_bytes(), resource)
    assert isinstance(report, Report)
    assert report.source == "sentry"
    assert set(report.fields) == set(FIELD_KEYS)
    return report


def own(name: str) -> Report:
    return parse(DATA / name)


# --- the guide's example -------------------------------------------------------------------


def test_example_001_is_an_event_alert_in_production() -> None:
    report = parse(shared(EXAMPLE_001))
    fields = report.fields
    assert report.title == "TypeError: Cannot read properties of undefined (reading 'postcode')"
    assert "Culprit: submitPayment(app/checkout/PaymentStep)" in report.text
    assert report.reporter == "Sentry"
    assert report.fingerprint == "sentry:issue:5102938471"
    assert report.message_id == "4b1f0c2e9a7d4e55b6f1a0c3d2e8f901"
    assert report.sent_at == datetime(2025, 3, 12, 18, 42, 7, 311000, tzinfo=UTC)
    assert fields["resource"] == "event_alert"
    assert fields["action"] == "triggered"
    assert fields["level"] == "error"
    assert fields["environment"] == "production"
    assert fields["issue_id"] == "5102938471"
    assert fields["project"] == "web-checkout"
    assert fields["rule"] == "Checkout error repeated for the same user (5+ in 30m)"
    assert fields["handled"] is False
    assert fields["platform"] == "javascript"
    assert fields["release"] == "web@2025.03.11-2"
    assert fields["transaction"] == "/checkout/payment"
    assert fields["exception_type"] == "TypeError"
    assert fields["tags"]["customer.tier"] == "standard"
    assert fields["url"].startswith("https://tidewell.sentry.io/issues/5102938471/")


@pytest.mark.parametrize("header", ["event_alert", " Event_Alert ", None])
def test_header_and_inference_agree(header: str | None) -> None:
    assert parse(shared(EXAMPLE_001), header) == parse(shared(EXAMPLE_001))


# --- Sentry's documented payloads (sentry-docs corpus) -----------------------------------------

DOCS = {  # file: (Sentry-Hook-Resource per SOURCES.md, action)
    "issues.payload.json": ("issue", "created"),
    "issue-alerts.payload.json": ("event_alert", "triggered"),
    "metric-alerts.payload.json": ("metric_alert", "resolved"),
    "errors.payload.json": ("error", "created"),
    "installation.payload.json": ("installation", "created"),
    "comments.payload.json": ("comment", "created"),
}


def test_every_documented_payload_is_covered() -> None:
    assert {path.name for path in shared(WEBHOOKS).glob("*.json")} == set(DOCS)


@pytest.mark.parametrize("name", sorted(DOCS))
def test_documented_payload_resource_inferred_and_from_header(name: str) -> None:
    resource, action = DOCS[name]
    body = shared(WEBHOOKS / name).read_bytes()
    inferred, given_header = parse_sentry(body), parse_sentry(body, resource)
    assert inferred == given_header
    if resource == "installation":
        assert inferred is None
    else:
        assert inferred is not None
        assert (inferred.fields["resource"], inferred.fields["action"]) == (resource, action)


def test_documented_issue() -> None:
    report = parse(shared(WEBHOOKS / "issues.payload.json"))
    assert report.title == "ReferenceError: blooopy is not defined"
    assert report.fingerprint == "sentry:issue:1170820242"
    fields = report.fields
    assert fields["event_count"] == 1  # "count": "1" in the docs
    assert fields["user_count"] == 1
    assert fields["status"] == "unresolved"
    assert fields["short_id"] == "FRONT-END-9"
    assert fields["project"] == "front-end"
    assert fields["first_seen"] == "2019-08-19T20:58:37.391000Z"
    assert fields["culprit"] == "?(runner)"
    assert fields["level"] == "error"
    assert report.sent_at == datetime(2019, 8, 19, 20, 58, 37, 391000, tzinfo=UTC)


def test_documented_issue_alert() -> None:
    report = parse(shared(WEBHOOKS / "issue-alerts.payload.json"))
    assert report.fields["rule"] == "Very Important Alert Rule!"
    assert report.fields["tags"]["handled"] == "no"  # tags arrive as [key, value] pairs
    assert report.fields["handled"] is False
    assert report.fingerprint == "sentry:issue:1117540176"
    assert report.message_id == "e4874d664c3540c1a32eab185f12c5ab"


def test_documented_metric_alert_turns_the_escaped_newline_into_a_newline() -> None:
    report = parse(shared(WEBHOOKS / "metric-alerts.payload.json"))
    assert report.title == "Resolved: Too many errors"
    assert report.text == "1000 events in the last 10 minutes\nFilter: level:error"
    assert "\\" not in report.text
    fields = report.fields
    assert (fields["status"], fields["rule"], fields["project"]) == (
        "closed",
        "Too many errors",
        "bar",
    )
    assert fields["metric_value"] == 1000
    assert fields["metric_threshold"] is None  # resolve_threshold is null, triggers are []
    assert fields["level"] is None
    assert report.fingerprint == "sentry:metric:7"
    assert report.message_id == "4"


def test_documented_error() -> None:
    report = parse(shared(WEBHOOKS / "errors.payload.json"))
    assert report.fields["exception_type"] == "ReferenceError"
    assert report.fields["project"] == "front-end"
    assert report.fingerprint == "sentry:issue:1170820242"
    assert report.sent_at == datetime(2019, 8, 19, 20, 58, 37, 391000, tzinfo=UTC)


def test_documented_comment_is_by_its_user_actor() -> None:
    report = parse(shared(WEBHOOKS / "comments.payload.json"))
    assert (report.title, report.text, report.reporter) == (
        "adding a comment",
        "adding a comment",
        "colleen",
    )
    assert report.fields["issue_id"] == "100"  # an integer in the docs
    assert report.fingerprint == "sentry:issue:100"
    assert report.message_id == "comment:1234"


# --- project-written payloads: issue actions ------------------------------------------------

ISSUES = {  # file: (action, status, reporter, assignee, event_count)
    "issue_created.json": ("created", "unresolved", "Sentry", None, 37),
    "issue_resolved.json": ("resolved", "resolved", "Priya Raman", None, 41),
    "issue_assigned.json": ("assigned", "unresolved", "Priya Raman", "Tom Becker", 37),
    "issue_archived.json": ("archived", "ignored", "Tom Becker", None, 37),
    "issue_ignored.json": ("ignored", "ignored", "Tom Becker", None, 37),
    "issue_unresolved.json": ("unresolved", "unresolved", "Sentry", None, 52),
}


@pytest.mark.parametrize("name", sorted(ISSUES))
def test_issue_actions(name: str) -> None:
    action, status, reporter, assignee, count = ISSUES[name]
    report = own(name)
    fields = report.fields
    assert (fields["resource"], fields["action"], fields["status"]) == ("issue", action, status)
    assert (report.reporter, fields["assignee"], fields["event_count"]) == (
        reporter,
        assignee,
        count,
    )
    assert report.title.startswith("StripeConnectionError: Could not connect to Stripe")
    assert report.fingerprint == "sentry:issue:6021457733"  # every action groups with the issue
    assert fields["user_count"] == 12
    assert fields["level"] == "fatal"
    assert fields["project"] == "billing-worker"
    assert fields["url"] == "https://tidewell.sentry.io/issues/6021457733/"
    assert fields["exception_value"] == "Could not connect to Stripe (api.stripe.com): timed out"


def test_issue_time_is_its_last_event() -> None:
    assert own("issue_resolved.json").sent_at == datetime(2025, 4, 2, 8, 31, 7, 550000, tzinfo=UTC)


# --- metric alerts ---------------------------------------------------------------------------

METRICS = {  # file: (action, status, threshold, value, alert id)
    "metric_alert_critical.json": ("critical", "critical", 500, 742, "1187"),
    "metric_alert_warning.json": ("warning", "warning", 200, 231, "1186"),
    "metric_alert_resolved.json": ("resolved", "closed", 100, 61, "1187"),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_alerts(name: str) -> None:
    action, status, threshold, value, alert_id = METRICS[name]
    report = own(name)
    fields = report.fields
    assert (fields["action"], fields["status"]) == (action, status)
    assert (fields["metric_threshold"], fields["metric_value"]) == (threshold, value)
    assert report.message_id == alert_id
    assert report.fingerprint == "sentry:metric:20731"  # the rule groups critical..resolved
    assert report.title.endswith("API gateway 5xx spike")
    assert report.text.splitlines() == [
        f"{value} events in the last 5 minutes",
        "Filter: event.type:error http.status_code:[500,502,503,504]",
    ]
    assert (fields["environment"], fields["project"]) == ("production", "api-gateway")
    assert fields["rule"] == "API gateway 5xx spike"
    assert fields["url"].startswith("https://tidewell.sentry.io/alerts/")


def test_metric_alert_times() -> None:
    assert own("metric_alert_critical.json").sent_at == datetime(2025, 4, 3, 14, 20, tzinfo=UTC)
    assert own("metric_alert_resolved.json").sent_at == datetime(2025, 4, 3, 14, 52, tzinfo=UTC)


def test_metric_alert_without_rule_id_groups_by_alert_id() -> None:
    payload = json.loads((DATA / "metric_alert_critical.json").read_bytes())
    del payload["data"]["metric_alert"]["alert_rule"]["id"]
    assert parse_sentry(payload).fingerprint == "sentry:metric:1187"  # type: ignore[union-attr]


# --- error, comment, installation, legacy ---------------------------------------------------


def test_error_created_reads_the_raised_exception_not_its_cause() -> None:
    report = own("error_created.json")
    fields = report.fields
    assert (fields["resource"], fields["action"]) == ("error", "created")
    assert fields["exception_type"] == "StripeConnectionError"
    assert fields["handled"] is False  # the chained TimeoutError was handled; the raise was not
    assert (fields["level"], fields["environment"]) == ("fatal", "production")
    assert fields["release"] == "billing-worker@2025.04.01-3"
    assert fields["transaction"] == "billing.tasks.charge_invoice"
    assert fields["project"] == "billing-worker"
    assert fields["platform"] == "python"
    assert report.fingerprint == "sentry:issue:6021457733"
    assert report.message_id == fields["event_id"] == "9c1e4f2a7b3d48e6a0f5c2d1e8b7a6f3"


def test_comment_created() -> None:
    report = own("comment_created.json")
    assert report.title == "Stripe status page shows degraded API in eu-west."
    assert report.text.endswith("pausing retries.")
    assert report.reporter == "Tom Becker"
    assert report.fields["project"] == "billing-worker"
    assert report.fingerprint == "sentry:issue:6021457733"
    assert report.sent_at == datetime(2025, 4, 2, 8, 22, 40, 513000, tzinfo=UTC)


def test_installation_pings_give_no_report() -> None:
    body = (DATA / "installation_deleted.json").read_bytes()
    assert parse_sentry(body) is None
    assert parse_sentry(body, "installation") is None


def test_legacy_plugin_body() -> None:
    report = own("legacy_plugin.json")
    fields = report.fields
    assert (fields["resource"], fields["action"]) == ("legacy", "triggered")
    assert report.title.startswith("StripeConnectionError: Could not connect to Stripe")
    assert fields["project"] == "billing-worker"
    assert fields["rule"] == "Billing errors in production"
    assert fields["url"].endswith("?referrer=webhooks_plugin")
    assert (fields["level"], fields["environment"]) == ("fatal", "production")
    assert report.fingerprint == "sentry:issue:6021457733"
    assert report.message_id == "9c1e4f2a7b3d48e6a0f5c2d1e8b7a6f3"
    assert parse_sentry((DATA / "legacy_plugin.json").read_bytes(), "legacy") == report


def test_old_legacy_plugin_body_with_only_a_message() -> None:
    """The Sentry 8/9 shape: no exception interface, the title in metadata."""
    body = {
        "id": "541485531",
        "project": "alerta5",
        "project_name": "alerta5",
        "culprit": "raven.scripts.runner in main",
        "url": "https://sentry.io/alertaio/alerta5/issues/541485531/",
        "logger": None,
        "level": "error",
        "message": "This is an example Python exception",
        "event": {
            "event_id": "0476467adf8f499ea795a48fcc4bf290",
            "received": 1525248430,
            "tags": [["level", "error"], ["os", "Windows 8"]],
            "metadata": {"title": "This is an example Python exception"},
        },
    }
    report = parse_sentry(body)
    assert report is not None
    assert report.title == "This is an example Python exception"
    assert report.text == "Culprit: raven.scripts.runner in main"
    assert report.fields["project"] == "alerta5"
    assert report.fingerprint == "sentry:issue:541485531"
    assert report.sent_at == datetime(2018, 5, 2, 8, 7, 10, tzinfo=UTC)


# --- lenient about types, strict about shape ------------------------------------------------


def test_wrong_types_inside_a_payload_become_missing_fields() -> None:
    payload = json.loads((DATA / "issue_created.json").read_bytes())
    payload["data"]["issue"].update(
        count="many", userCount=True, level="LOUD", project=7, firstSeen=0, assignedTo=[1]
    )
    fields = parse_sentry(payload).fields  # type: ignore[union-attr]
    assert [fields[k] for k in ("event_count", "user_count", "level", "project")] == [None] * 4
    assert (fields["first_seen"], fields["assignee"]) == (None, None)


def test_levels_are_normalised() -> None:
    payload = json.loads((DATA / "issue_created.json").read_bytes())
    payload["data"]["issue"]["level"] = "WARN"
    assert parse_sentry(payload).fields["level"] == "warning"  # type: ignore[union-attr]


MALFORMED = [
    (b"", None, "empty body"),
    (b"  \n", None, "empty body"),
    (b"{not json", None, "not JSON: Expecting property name enclosed in double quotes"),
    (b"nope", None, "not JSON: Expecting value at line 1 column 1"),
    (b"\xff\xfe\xfa", None, "not JSON"),
    (b"[" * 100_000, None, "not JSON"),
    (b"1" * 5000, None, "not JSON"),
    (b"[]", None, "Sentry webhook body is a JSON list, not an object"),
    (b"null", None, "Sentry webhook body is a JSON null, not an object"),
    (b"3.5", None, "Sentry webhook body is a JSON number, not an object"),
    (b'{"action": "created"}', None, "Sentry webhook body has no 'data' object"),
    (b'{"data": [1]}', None, "Sentry webhook body has no 'data' object"),
    (b'{"data": {"foo": {}}}', None, "cannot tell the Sentry resource"),
    (b'{"data": {"issue": {}}}', "foo", "unknown Sentry resource 'foo'"),
    (b'{"data": {"issue": {}}}', "metric_alert", "metric_alert payload lacks 'metric_alert'"),
    (b'{"data": {"issue": []}}', None, "issue payload's 'issue' is a list, not an object"),
    (b'{"data": {"event": "x"}}', None, "event_alert payload's 'event' is a string"),
    (b'{"data": {"comment": 5}}', None, "comment payload's 'comment' is a number, not a string"),
]


@pytest.mark.parametrize(("body", "resource", "message"), MALFORMED)
def test_malformed_bodies_raise_parse_error(
    body: bytes, resource: str | None, message: str
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_sentry(body, resource)
    assert str(caught.value).startswith(message)


def test_str_and_dict_bodies_parse_like_bytes() -> None:
    body = (DATA / "error_created.json").read_bytes()
    assert parse_sentry(body.decode()) == parse_sentry(json.loads(body)) == parse_sentry(body)


def test_a_body_of_another_type_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="must be bytes, str or dict"):
        parse_sentry(42)  # type: ignore[arg-type]


# --- whatever JSON arrives: a Report, None or ParseError, nothing else ------------------------

SEEDS = sorted(DATA.glob("*.json"))
SHARED_SEEDS = [EXAMPLE_001, *(WEBHOOKS / name for name in sorted(DOCS))]
KEYS = ["issue", "event", "metric_alert", "error", "installation", "comment", "data", "project"]

JSON = json_like(SEEDS)


def check(body: Any, resource: str | None = None) -> None:
    try:
        report = parse_sentry(body, resource)
    except ParseError as e:
        assert str(e)
        return
    if report is not None:
        assert report.source == "sentry" and isinstance(report.title, str) and report.title
        assert set(report.fields) == set(FIELD_KEYS)
        assert report.sent_at is None or report.sent_at.tzinfo is not None
        json.dumps(report.fields, allow_nan=False)  # storable as it is


def positions(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) pair in a payload, depth first."""
    for key in list(node) if isinstance(node, dict) else range(len(node)):
        yield node, key
        if isinstance(node[key], dict | list):
            yield from positions(node[key])


def retype_everywhere(payload: Any, resource: str | None) -> int:
    """Put each wrong-typed value, then nothing, at every position in turn (restoring it)."""
    count = 0
    for node, key in list(positions(payload)):
        original = node[key]
        for wrong in WRONG:
            node[key] = wrong
            check(payload, resource)
        if isinstance(node, dict):
            del node[key]
            check(payload, resource)
        node[key] = original
        count += 1
    return count


@pytest.mark.parametrize("seed", SEEDS, ids=[seed.name for seed in SEEDS])
def test_wrong_type_in_every_position(seed: Path) -> None:
    assert retype_everywhere(json.loads(seed.read_bytes()), None) > 10


@pytest.mark.parametrize("seed", SHARED_SEEDS, ids=[seed.name for seed in SHARED_SEEDS])
def test_wrong_type_in_every_position_of_shared_payloads(seed: Path) -> None:
    resource = DOCS.get(seed.name, ("event_alert",))[0]
    payload = json.loads(shared(seed).read_bytes())
    assert retype_everywhere(payload, None) == retype_everywhere(payload, resource) > 5


def mutate(data: st.DataObject, payload: Any) -> Any:
    """Replace or delete the value at a random position, a few times over."""
    for _ in range(data.draw(st.integers(1, 4))):
        spots = list(positions(payload))
        if not spots:
            break
        node, key = spots[data.draw(st.integers(0, len(spots) - 1))]
        if isinstance(node, dict) and data.draw(st.booleans()):
            del node[key]
        else:
            node[key] = data.draw(ODD | JSON)
    return payload


@settings(max_examples=300, deadline=None)
@given(JSON, st.sampled_from(KEYS), JSON, st.sampled_from([None, *DOCS.values()]))
def test_any_json(value: Any, key: str, other: Any, documented: tuple[str, str] | None) -> None:
    resource = documented[0] if documented else None
    check(value if isinstance(value, dict) else json.dumps(value), resource)
    check({"action": "created", "data": {key: value}, "actor": other}, resource)
    check({"project": "api", key: value, "event": other})  # legacy-looking


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_real_payloads(seed: Path, data: st.DataObject) -> None:
    payload = mutate(data, json.loads(seed.read_bytes()))
    check(payload)
    check(json.dumps(payload).encode())
