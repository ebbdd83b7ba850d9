"""An alert storm: 10,000 Sentry events for 20 issues in ~10 s end as exactly 20 incidents.

`intake run --only web,worker` runs as a real process (four pipeline threads on PostgreSQL,
where they race for the same new fingerprints; one on SQLite, which
serialises writers anyway) and takes the storm over HTTP while it triages.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.models import PENDING, Incident, RawMessage, StoredReport, TimelineEvent
from tests.alert_helpers import (
    ServeProcess,
    alert_config,
    config_file,
    count,
    http_request,
    post_many,
    sentry_headers,
    storm_event,
    wait_until,
)
from tests.conftest import EXAMPLES, require_shared
from tests.helpers import open_db

ISSUES = 20
EVENTS = 10_000


def test_storm_ends_as_one_incident_per_issue(db_url: str, tmp_path: Path) -> None:
    require_shared(EXAMPLES)
    # PostgreSQL: several threads race for the same new fingerprints (and overlap round trips).
    threads = "4" if db_url.startswith("postgresql") else "1"
    server = ServeProcess(config_file(tmp_path, db_url), tmp_path / "serve.log", threads=threads)
    requests = []
    for n in range(EVENTS):
        issue = n % ISSUES
        body = storm_event(issue, n)
        headers = sentry_headers(body, "event_alert", f"storm-{n}")
        requests.append(http_request("/webhooks/sentry", body, headers))
    server.start()
    try:
        started = time.monotonic()
        statuses = post_many(server.port, requests)
        took = time.monotonic() - started
        assert statuses == [202] * EVENTS
        rt = open_db(db_url, alert_config(db_url))
        wait_until(
            lambda: count(rt, RawMessage, RawMessage.status == PENDING) == 0,
            timeout=900,
            what="the pipeline to work through the storm",
        )
    finally:
        server.stop()
    print(f"storm: {EVENTS} events posted in {took:.1f} s")
    assert count(rt, RawMessage) == EVENTS
    with rt.factory() as session:
        incidents = session.scalars(select(Incident)).all()
        assert len(incidents) == ISSUES
        per_incident = dict(
            session.execute(
                select(StoredReport.incident_id, func.count()).group_by(StoredReport.incident_id)
            ).all()
        )
        assert sorted(per_incident) == sorted(i.id for i in incidents)  # no report left out
        assert set(per_incident.values()) == {EVENTS // ISSUES}
        declared = dict(
            session.execute(
                select(TimelineEvent.incident_id, func.count())
                .where(TimelineEvent.kind == "declared")
                .group_by(TimelineEvent.incident_id)
            ).all()
        )
        assert declared == {i.id: 1 for i in incidents}
        fingerprints = session.execute(
            select(
                StoredReport.incident_id, func.count(func.distinct(StoredReport.fingerprint))
            ).group_by(StoredReport.incident_id)
        ).all()
        assert all(n == 1 for _, n in fingerprints)  # each incident holds one Sentry issue


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.alert_helpers import ENV

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
