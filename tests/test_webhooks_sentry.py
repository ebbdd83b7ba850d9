"""POST /webhooks/sentry over real HTTP: signatures, redeliveries, every resource, bad input."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from core.models import IGNORED, PENDING, PROCESSED, Incident, RawMessage, StoredReport
from core.pipeline import run_pending
from ingest.raw import parse_raw
from tests.alert_helpers import (
    SECOND_SECRET,
    LiveApp,
    alert_config,
    count,
    sentry_headers,
    sign,
    storm_event,
)
from tests.conftest import CORPORA, EXAMPLES, require_shared
from tests.helpers import open_db

SENTRY_DOCS = CORPORA / "sentry-docs/docs/organization/integrations/integration-platform/webhooks"
RESOURCE_OF = {
    "comments": "comment",
    "errors": "error",
    "installation": "installation",
    "issue-alerts": "event_alert",
    "issues": "issue",
    "metric-alerts": "metric_alert",
}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.alert_helpers import ENV

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def test_signature_is_required_and_checked(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    body = storm_event(1, 1)
    with LiveApp(rt) as app, app.client() as client:
        good = sentry_headers(body, "event_alert", "req-1")
        wrong_secret = {**good, "Sentry-Hook-Signature": sign(body, "not-the-secret")}
        missing = {k: v for k, v in good.items() if k != "Sentry-Hook-Signature"}
        altered = body.replace(b"production", b"productiom", 1)
        assert altered != body and len(altered) == len(body)
        for headers, payload, why in (
            (wrong_secret, body, "does not match"),
            (missing, body, "missing Sentry-Hook-Signature"),
            (good, altered, "does not match"),
        ):
            answer = client.post("/webhooks/sentry", content=payload, headers=headers)
            assert answer.status_code == 401, why
            assert why in answer.json()["error"]
        assert count(rt, RawMessage) == 0  # nothing stored for any of them

        answer = client.post("/webhooks/sentry", content=body, headers=good)
        assert answer.status_code == 202
        assert answer.json()["duplicate"] is False
        # A second integration's secret is accepted too, and the message says which one.
        second = sentry_headers(body, "event_alert", "req-2", secret=SECOND_SECRET)
        assert client.post("/webhooks/sentry", content=body, headers=second).status_code == 202
    with rt.factory() as session:
        rows = session.scalars(select(RawMessage).order_by(RawMessage.id)).all()
    assert [(r.natural_key, r.meta["integration"]) for r in rows] == [
        ("req-1", "main"),
        ("req-2", "staging"),
    ]
    assert rows[0].body == body  # verbatim


def test_redelivery_with_the_same_request_id_is_stored_once(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    body = storm_event(2, 1)
    headers = sentry_headers(body, "event_alert", "5f0c1e7e-redelivered")
    with LiveApp(rt) as app, app.client() as client:
        answers = [client.post("/webhooks/sentry", content=body, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert len({a.json()["stored"] for a in answers}) == 1
    assert count(rt, RawMessage) == 1
    run_pending(rt.factory, parse_raw, rt.config)
    assert count(rt, StoredReport) == 1


def test_every_documented_resource_and_the_example(db_url: str) -> None:
    require_shared(SENTRY_DOCS)
    require_shared(EXAMPLES)
    rt = open_db(db_url, alert_config(db_url))
    files = {path.name.split(".")[0]: path for path in sorted(SENTRY_DOCS.glob("*.json"))}
    assert set(files) == set(RESOURCE_OF)
    posted: dict[str, str] = {}
    with LiveApp(rt) as app, app.client() as client:
        for stem, path in files.items():
            body = path.read_bytes()
            resource = RESOURCE_OF[stem]
            answer = client.post(
                "/webhooks/sentry", content=body, headers=sentry_headers(body, resource, stem)
            )
            assert answer.status_code == 202, (stem, answer.text)
            posted[stem] = answer.json()["status"]
        example = (EXAMPLES / "001-checkout-error-single-customer.sentry.json").read_bytes()
        answer = client.post(
            "/webhooks/sentry",
            content=example,
            headers=sentry_headers(example, "event_alert", "example-001"),
        )
        assert answer.status_code == 202
    assert posted["installation"] == IGNORED  # acknowledged, nothing to triage
    assert all(status == PENDING for stem, status in posted.items() if stem != "installation")
    stats = run_pending(rt.factory, parse_raw, rt.config)
    assert stats.quarantined == 0 and stats.parked == 0, stats.errors
    with rt.factory() as session:
        raws = {r.natural_key: r for r in session.scalars(select(RawMessage))}
        assert raws["installation"].status == IGNORED
        for key, raw in raws.items():
            if key != "installation":
                assert raw.status == PROCESSED, key
                assert len(raw.reports) == 1 and raw.reports[0].source == "sentry"
        resources = {
            raw.natural_key: raw.reports[0].fields["resource"]
            for raw in raws.values()
            if raw.reports
        }
    assert resources == {
        **{stem: r for stem, r in RESOURCE_OF.items() if r != "installation"},
        "example-001": "event_alert",
    }


def test_unknown_resource_is_acknowledged_and_kept_as_ignored(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    body = json.dumps({"action": "created", "data": {"seer_run": {"id": 1}}}).encode()
    with LiveApp(rt) as app, app.client() as client:
        answer = client.post(
            "/webhooks/sentry", content=body, headers=sentry_headers(body, "seer", "seer-1")
        )
    assert answer.status_code == 202 and answer.json()["status"] == IGNORED
    with rt.factory() as session:
        raw = session.scalars(select(RawMessage)).one()
    assert raw.status == IGNORED and raw.body == body
    assert "seer" in raw.meta["ignored"]
    assert run_pending(rt.factory, parse_raw, rt.config).processed == 0


def test_bad_bodies_get_clear_answers_and_store_nothing(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    cases = [
        (b'{"action": "created", "data": {', 400, "invalid JSON"),
        (b"[1, 2]", 400, "expected a JSON object"),
        (b"", 400, "empty body"),
        (b'{"action": "created"}', 400, "no 'data' object"),
        (b'{"action": "created", "data": {"issue": "x"}}', 400, "data.issue as an object"),
    ]
    with LiveApp(rt) as app, app.client() as client:
        for body, status, words in cases:
            answer = client.post(
                "/webhooks/sentry", content=body, headers=sentry_headers(body, "issue", "bad")
            )
            assert answer.status_code == status, body
            assert words in answer.json()["error"], answer.json()
        big = (
            b'{"action": "created", "data": {"issue": {"title": "' + b"x" * (1024 * 1024) + b'"}}}'
        )
        answer = client.post(
            "/webhooks/sentry", content=big, headers=sentry_headers(big, "issue", "big")
        )
        assert answer.status_code == 413

        # Without a Content-Length (chunked), the limit still holds while reading.
        def chunks():  # type: ignore[no-untyped-def]
            yield big[: 512 * 1024]
            yield big[512 * 1024 :]

        answer = client.post(
            "/webhooks/sentry", content=chunks(), headers=sentry_headers(big, "issue", "big2")
        )
        assert answer.status_code == 413
    assert count(rt, RawMessage) == 0


def test_legacy_plugin_only_with_the_configured_token(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    body = json.dumps(
        {
            "id": "4507100",
            "project": "checkout",
            "project_name": "Checkout",
            "culprit": "checkout/step.ts in submit",
            "level": "error",
            "url": "https://sentry.example/issues/4507100/",
            "message": "TypeError: Cannot read properties of undefined (reading 'postcode')",
            "event": {"event_id": "ab" * 16, "environment": "production"},
        }
    ).encode()
    with LiveApp(rt) as app, app.client() as client:
        assert client.post("/webhooks/sentry/legacy/wrong", content=body).status_code == 401
        assert (
            client.post("/webhooks/sentry/legacy/legacy-token-77", content=body).status_code == 202
        )
        again = client.post("/webhooks/sentry/legacy/legacy-token-77", content=body)
        assert again.json()["duplicate"] is True
        # The legacy body on the signed route has no signature: refused.
        assert client.post("/webhooks/sentry", content=body).status_code == 401
    run_pending(rt.factory, parse_raw, rt.config)
    with rt.factory() as session:
        report = session.scalars(select(StoredReport)).one()
    assert report.fields["resource"] == "legacy" and report.fields["issue_id"] == "4507100"


def test_only_post_is_routed(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    with LiveApp(rt) as app:
        assert httpx.get(f"{app.url}/webhooks/sentry").status_code == 405


def test_sentry_resolving_the_issue_resolves_its_incident(db_url: str) -> None:
    require_shared(SENTRY_DOCS)
    rt = open_db(db_url, alert_config(db_url))
    issue = json.loads((SENTRY_DOCS / "issues.payload.json").read_bytes())
    issue["action"] = "resolved"
    issue["data"]["issue"]["id"] = "7003"  # the issue storm_event(3, ...) belongs to
    issue["data"]["issue"]["status"] = "resolved"
    resolved = json.dumps(issue).encode()
    with LiveApp(rt) as app, app.client() as client:
        for n, (body, resource) in enumerate(
            [
                (storm_event(3, 1), "event_alert"),
                (storm_event(3, 2), "event_alert"),
                (resolved, "issue"),
            ]
        ):
            answer = client.post(
                "/webhooks/sentry", content=body, headers=sentry_headers(body, resource, f"r{n}")
            )
            assert answer.status_code == 202
            run_pending(rt.factory, parse_raw, rt.config)
    with rt.factory() as session:
        incident = session.scalars(select(Incident)).one()
        kinds = [e.kind for e in incident.events]
        assert incident.status == "resolved"
        assert len(incident.reports) == 3
        assert kinds.count("declared") == 1 and "source_resolved" in kinds
