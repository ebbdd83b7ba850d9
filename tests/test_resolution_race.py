"""Two workers resolving one incident at once on PostgreSQL: it is resolved once, and always.

Found by `make test-faults`: a sender's retried resolve processed by a second
worker at the same moment resolved the incident twice (two "resolved"
notifications); two different fingerprints resolved at once could each see
the other still open and leave the incident live for ever.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from core.models import RESOLVED
from core.pipeline import run_pending
from ingest.raw import parse_raw
from tests.alert_helpers import ENV, LiveApp, alert_config
from tests.helpers import open_db
from tests.test_webhooks_events import KEY, incidents, trigger


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def _two_workers(rt: Any) -> None:
    start = threading.Barrier(2)

    def work() -> None:
        start.wait()
        run_pending(rt.factory, parse_raw, rt.config, batch=1)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _resolve(key: str) -> dict[str, Any]:
    return {"routing_key": KEY, "event_action": "resolve", "dedup_key": key}


def test_a_resolve_and_its_retry_at_once_resolve_the_incident_once(postgres_db_url: str) -> None:
    rt = open_db(postgres_db_url, alert_config(postgres_db_url))
    with LiveApp(rt) as app, app.client() as client:
        for trial in range(8):
            key = f"checkout-{trial}"
            assert client.post("/webhooks/events", json=trigger(key)).status_code == 202
            run_pending(rt.factory, parse_raw, rt.config)
            for _ in range(2):  # the resolve and a sender's retry of it
                assert client.post("/webhooks/events", json=_resolve(key)).status_code == 202
            _two_workers(rt)
    found = incidents(rt)
    assert len(found) == 8
    for incident in found:
        assert incident.status == RESOLVED
        changes = [e for e in incident.events if e.kind == "status_changed"]
        assert [e.data.get("status") for e in changes].count(RESOLVED) == 1, incident.ref


def test_two_sources_resolved_at_once_resolve_their_incident(postgres_db_url: str) -> None:
    rt = open_db(postgres_db_url, alert_config(postgres_db_url))
    with LiveApp(rt) as app, app.client() as client:
        for trial in range(8):
            first, second = f"db-{trial}", f"api-{trial}"
            assert client.post("/webhooks/events", json=trigger(first)).status_code == 202
            run_pending(rt.factory, parse_raw, rt.config)
            ref = incidents(rt)[-1].ref
            tagged = trigger(second, summary=f"[{ref}] API errors: customers cannot pay")
            assert client.post("/webhooks/events", json=tagged).status_code == 202
            run_pending(rt.factory, parse_raw, rt.config)
            for key in (first, second):
                assert client.post("/webhooks/events", json=_resolve(key)).status_code == 202
            _two_workers(rt)
    found = incidents(rt)
    assert len(found) == 8
    assert [i.status for i in found] == [RESOLVED] * 8
