"""POST /webhooks/alertmanager over real HTTP: bearer auth, one raw message per alert, resolution."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import select

from core.models import RESOLVED, Incident, RawMessage, StoredReport, TimelineEvent
from core.pipeline import run_pending
from ingest.raw import parse_raw
from tests.alert_helpers import AM_TOKEN, ENV, LiveApp, alert_config, count
from tests.conftest import CORPORA, require_shared
from tests.helpers import open_db

MSTEAMS = CORPORA / "prometheus-msteams"
AUTH = {"Authorization": f"Bearer {AM_TOKEN}"}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def notification(status: str, fingerprint: str = "c4a9f1e2d3b4a5f6") -> dict[str, Any]:
    """A current (v0.25+) webhook body: per-alert status and fingerprint."""
    labels = {
        "alertname": "CheckoutErrorRate",
        "severity": "critical",
        "env": "production",
        "service": "checkout",
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="CheckoutErrorRate"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "intake",
        "groupLabels": {"alertname": "CheckoutErrorRate"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": "Checkout failing for all customers in production: payments down",
                    "description": "5xx rate 42% on checkout for 10 minutes; customers cannot pay.",
                },
                "startsAt": "2025-10-14T09:58:00Z",
                "endsAt": "2025-10-14T10:20:00Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate",
                "fingerprint": fingerprint,
            }
        ],
    }


def test_bearer_token_is_required(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    body = json.dumps(notification("firing")).encode()
    with LiveApp(rt) as app, app.client() as client:
        assert client.post("/webhooks/alertmanager", content=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.post("/webhooks/alertmanager", content=body, headers=wrong).status_code == 401
        basic = {"Authorization": f"Basic {AM_TOKEN}"}
        assert client.post("/webhooks/alertmanager", content=body, headers=basic).status_code == 401
    assert count(rt, RawMessage) == 0


def test_corpus_notifications_store_one_message_per_alert(db_url: str) -> None:
    require_shared(MSTEAMS)
    rt = open_db(db_url, alert_config(db_url))
    files = sorted(MSTEAMS.rglob("*.json"))
    assert len(files) >= 5
    expected = 0
    with LiveApp(rt) as app, app.client() as client:
        for path in files:
            body = path.read_bytes()
            alerts = len(json.loads(body)["alerts"])
            answer = client.post("/webhooks/alertmanager", content=body, headers=AUTH)
            assert answer.status_code == 200, (path.name, answer.text)
            assert answer.json()["alerts"] == alerts
            expected += answer.json()["stored"]
        # Alertmanager repeats a firing notification every repeat_interval: stored once.
        again = client.post("/webhooks/alertmanager", content=files[0].read_bytes(), headers=AUTH)
        assert again.json()["stored"] == 0 and again.json()["duplicates"] > 0
    assert count(rt, RawMessage) == expected
    stats = run_pending(rt.factory, parse_raw, rt.config)
    assert stats.quarantined == 0 and stats.parked == 0, stats.errors
    with rt.factory() as session:
        reports = session.scalars(select(StoredReport)).all()
    assert len(reports) == expected
    assert all(
        r.source == "alertmanager" and r.fingerprint.startswith("alertmanager:") for r in reports
    )
    assert all(r.fields["alertname"] for r in reports)


def test_bad_notifications_are_refused_with_the_reason(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    good = notification("firing")
    cases = [
        ({**good, "version": "3"}, "version"),
        ({**good, "alerts": {"a": 1}}, "'alerts' must be a list"),
        ({**good, "alerts": [{"labels": "x"}]}, "alerts[0].labels"),
        ({**good, "alerts": [{**good["alerts"][0], "status": "weird"}]}, "alerts[0].status"),
    ]
    with LiveApp(rt) as app, app.client() as client:
        for body, words in cases:
            answer = client.post("/webhooks/alertmanager", json=body, headers=AUTH)
            assert answer.status_code == 400 and words in answer.json()["error"], answer.text
        answer = client.post("/webhooks/alertmanager", content=b"{oops", headers=AUTH)
        assert answer.status_code == 400 and "invalid JSON" in answer.json()["error"]
    assert count(rt, RawMessage) == 0


def test_resolved_alert_resolves_and_a_new_firing_opens_a_new_incident(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    with LiveApp(rt) as app, app.client() as client:
        assert (
            client.post(
                "/webhooks/alertmanager", json=notification("firing"), headers=AUTH
            ).status_code
            == 200
        )
        run_pending(rt.factory, parse_raw, rt.config)
        with rt.factory() as session:
            incident = session.scalars(select(Incident)).one()
            assert incident.status == "live"
        resolved = notification("resolved")
        assert client.post("/webhooks/alertmanager", json=resolved, headers=AUTH).status_code == 200
        run_pending(rt.factory, parse_raw, rt.config)
        with rt.factory() as session:
            incident = session.get(Incident, incident.id)
            assert incident is not None and incident.status == RESOLVED
            kinds = [e.kind for e in incident.events]
            assert "source_resolved" in kinds and kinds[-1] == "status_changed"
            assert len(incident.reports) == 2
        # It fires again later: a new incident, linked to the resolved one.
        again = copy.deepcopy(notification("firing"))
        again["alerts"][0]["startsAt"] = "2025-10-14T11:30:00Z"
        assert client.post("/webhooks/alertmanager", json=again, headers=AUTH).status_code == 200
        run_pending(rt.factory, parse_raw, rt.config)
    with rt.factory() as session:
        incidents = session.scalars(select(Incident).order_by(Incident.id)).all()
        assert [i.status for i in incidents] == [RESOLVED, "live"]
        assert incidents[1].follows_id == incidents[0].id
        declared = session.scalars(
            select(TimelineEvent).where(TimelineEvent.kind == "declared")
        ).all()
        assert len(declared) == 2


def test_odd_but_valid_json_is_stored_and_processed(db_url: str) -> None:
    """A lone surrogate escape and a blank summary: stored, processed, titled by the alert name."""
    rt = open_db(db_url, alert_config(db_url))
    odd = notification("firing")
    alert = odd["alerts"][0]
    alert["labels"] = {**alert["labels"], "service": "check\ud800out"}  # sent as \\ud800
    alert["annotations"]["summary"] = " "
    with LiveApp(rt) as app, app.client() as client:
        answer = client.post("/webhooks/alertmanager", content=json.dumps(odd), headers=AUTH)
        assert answer.status_code == 200, answer.text
    stats = run_pending(rt.factory, parse_raw, rt.config)
    assert stats.processed == 1, stats.errors
    with rt.factory() as session:
        report = session.scalars(select(StoredReport)).one()
    assert report.title == "CheckoutErrorRate"
    assert report.fields["labels"]["service"] == "check\ufffdout"
