"""POST /webhooks/events (PagerDuty Events API v2 shape) over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.models import RESOLVED, Incident, RawMessage
from core.pipeline import run_pending
from ingest.raw import parse_raw
from tests.alert_helpers import ENV, ROUTING_KEYS, LiveApp, alert_config, count
from tests.helpers import open_db

KEY = ROUTING_KEYS["ops"]


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def trigger(dedup_key: str | None = "checkout-5xx", summary: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": KEY,
        "event_action": "trigger",
        "payload": {
            "summary": summary or "Checkout down: customers cannot pay in production, revenue loss",
            "source": "checkout-api.prod",
            "severity": "critical",
            "component": "payments",
            "custom_details": {"error_rate": "42%", "region": "eu-west-1"},
        },
        "client": "Grafana",
    }
    if dedup_key:
        event["dedup_key"] = dedup_key
    return event


def incidents(rt: Any) -> list[Incident]:
    with rt.factory() as session:
        found = session.scalars(select(Incident).order_by(Incident.id)).all()
        for incident in found:
            _ = incident.events, incident.reports  # load before the session closes
        return list(found)


def test_trigger_answers_with_its_dedup_key(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    with LiveApp(rt) as app, app.client() as client:
        answer = client.post("/webhooks/events", json=trigger())
        assert answer.status_code == 202
        assert answer.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": "checkout-5xx",
        }
        made_up = client.post("/webhooks/events", json=trigger(dedup_key=None)).json()["dedup_key"]
        assert made_up and made_up != "checkout-5xx"
        # Acknowledge and resolve the made-up key: it is the one that groups.
        ack = {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": made_up}
        assert client.post("/webhooks/events", json=ack).status_code == 202
    run_pending(rt.factory, parse_raw, rt.config)
    found = incidents(rt)
    assert len(found) == 2
    second = found[1]
    assert [r.fingerprint for r in second.reports] == [f"events:{made_up}"] * 2
    assert "source_acknowledged" in [e.kind for e in second.events]
    with rt.factory() as session:
        metas = [r.meta for r in session.scalars(select(RawMessage).order_by(RawMessage.id))]
    assert [m["routing_key"] for m in metas] == ["ops"] * 3  # the key's name, never the key


def test_bad_events_are_refused_with_the_reason(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    cases = [
        ({**trigger(), "routing_key": "nope"}, 401, "unknown routing_key"),
        ({k: v for k, v in trigger().items() if k != "routing_key"}, 400, "routing_key"),
        ({**trigger(), "event_action": "explode"}, 400, "event_action"),
        ({"routing_key": KEY, "event_action": "resolve"}, 400, "dedup_key' is required"),
        (
            {**trigger(), "payload": {"summary": "x", "source": "y", "severity": "fatal"}},
            400,
            "severity",
        ),
        ({**trigger(), "payload": {"source": "y", "severity": "info"}}, 400, "payload.summary"),
        ({**trigger(), "payload": "text"}, 400, "'payload' must be an object"),
    ]
    with LiveApp(rt) as app, app.client() as client:
        for body, status, words in cases:
            answer = client.post("/webhooks/events", json=body)
            assert answer.status_code == status, body
            assert answer.json()["status"] == "invalid event"
            assert words in answer.json()["message"], answer.json()
    assert count(rt, RawMessage) == 0


def test_resolve_then_trigger_again_opens_a_new_incident(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    resolve = {"routing_key": KEY, "event_action": "resolve", "dedup_key": "checkout-5xx"}
    with LiveApp(rt) as app, app.client() as client:
        for event in (trigger(), trigger(), resolve):
            assert client.post("/webhooks/events", json=event).status_code == 202
        run_pending(rt.factory, parse_raw, rt.config)
        first = incidents(rt)
        assert len(first) == 1 and first[0].status == RESOLVED
        assert len(first[0].reports) == 3
        kinds = [e.kind for e in first[0].events]
        assert kinds.count("declared") == 1 and "source_resolved" in kinds
        assert client.post("/webhooks/events", json=trigger()).status_code == 202
        run_pending(rt.factory, parse_raw, rt.config)
    found = incidents(rt)
    assert [i.status for i in found] == [RESOLVED, "live"]
    assert found[1].follows_id == found[0].id


def test_suggest_mode_leaves_the_incident_live(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url, resolve="suggest"))
    resolve = {"routing_key": KEY, "event_action": "resolve", "dedup_key": "checkout-5xx"}
    with LiveApp(rt) as app, app.client() as client:
        for event in (trigger(), resolve):
            assert client.post("/webhooks/events", json=event).status_code == 202
    run_pending(rt.factory, parse_raw, rt.config)
    (incident,) = incidents(rt)
    assert incident.status == "live"
    assert [e.kind for e in incident.events][-2:] == ["source_resolved", "resolution_suggested"]


def test_incident_resolves_only_when_every_source_has(db_url: str) -> None:
    """Two alerts in one incident (the second names it): the first resolve is not enough."""
    rt = open_db(db_url, alert_config(db_url))
    with LiveApp(rt) as app, app.client() as client:
        assert client.post("/webhooks/events", json=trigger("db")).status_code == 202
        run_pending(rt.factory, parse_raw, rt.config)
        (incident,) = incidents(rt)
        tagged = trigger("api", summary=f"[{incident.ref}] API errors: customers cannot pay")
        assert client.post("/webhooks/events", json=tagged).status_code == 202
        run_pending(rt.factory, parse_raw, rt.config)
        for key, status in (("db", "live"), ("api", RESOLVED)):
            event = {"routing_key": KEY, "event_action": "resolve", "dedup_key": key}
            assert client.post("/webhooks/events", json=event).status_code == 202
            run_pending(rt.factory, parse_raw, rt.config)
            (incident,) = incidents(rt)
            assert incident.status == status, key
    assert [e.kind for e in incident.events].count("source_resolved") == 2


def test_a_dedup_key_the_database_cannot_hold_is_refused(db_url: str) -> None:
    rt = open_db(db_url, alert_config(db_url))
    with LiveApp(rt) as app, app.client() as client:
        answer = client.post("/webhooks/events", json=trigger("a\x00b"))
    assert answer.status_code == 400 and "control characters" in answer.json()["message"]
    assert count(rt, RawMessage) == 0
