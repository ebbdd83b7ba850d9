"""Every lifecycle transition, and the ones that must be refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import lifecycle
from core.lifecycle import LifecycleError
from core.models import Incident, StoredReport, VerdictChange
from core.pipeline import run_pending
from core.store import store_raw
from ingest.raw import parse_raw
from tests.helpers import mail, open_db, tx


@pytest.fixture
def rt(db_url: str):  # type: ignore[no-untyped-def]
    return open_db(db_url)


def kinds(rt, ref: str) -> list[str]:  # type: ignore[no-untyped-def]
    with rt.factory() as session:
        return [e.kind for e in lifecycle.get_incident(session, ref).events]


def test_declare_from_scratch_accept_path_and_close(rt) -> None:  # type: ignore[no-untyped-def]
    with tx(rt) as s:
        incident = lifecycle.declare(
            s, "alice", title="Warehouse scanners offline", severity="SEV2"
        )
        ref = incident.ref
    assert ref == "INC-1"
    with tx(rt) as s:
        lifecycle.set_severity(s, ref, "SEV1", "bob", "spreading to all sites")
        lifecycle.set_types(s, ref, ["operational", "engineering"], "bob")
        lifecycle.post_update(s, ref, "Vendor engaged, ETA 30 min", "bob")
        lifecycle.resolve(s, ref, "bob", "scanners back")
        lifecycle.close(s, ref, "alice", "review done")
    assert kinds(rt, ref) == [
        "declared",
        "severity_changed",
        "types_changed",
        "update_posted",
        "status_changed",
        "status_changed",
    ]
    with rt.factory() as s:
        incident = lifecycle.get_incident(s, ref)
        assert (incident.status, incident.severity) == ("closed", "SEV1")
        assert incident.resolved_at is not None and incident.closed_at is not None
        assert all(e.actor in ("alice", "bob") for e in incident.events)


def test_triage_accept_decline_and_merge(rt) -> None:  # type: ignore[no-untyped-def]
    with tx(rt) as s:
        a = lifecycle.open_incident(s, "A", "rule:triage", "on the fence", status="triage").ref
        b = lifecycle.open_incident(s, "B", "rule:triage", "on the fence", status="triage").ref
        c = lifecycle.open_incident(s, "C", "rule:triage", "on the fence", status="triage").ref
    with tx(rt) as s:
        lifecycle.accept(s, a, "alice")
        lifecycle.decline(s, b, "alice", "duplicate of a known bug")
        lifecycle.merge(s, c, a, "alice", "same outage")
    with rt.factory() as s:
        assert lifecycle.get_incident(s, a).status == "live"
        declined = lifecycle.get_incident(s, b)
        assert (declined.status, declined.decline_reason) == (
            "declined",
            "duplicate of a known bug",
        )
        merged = lifecycle.get_incident(s, c)
        assert merged.status == "merged" and merged.merged_into_id == 1
    assert kinds(rt, a)[-1] == "merged_in"


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        (
            "declined",
            lambda s, ref: lifecycle.resolve(s, ref, "x"),
            "cannot resolve INC-1: it is declined",
        ),
        ("live", lambda s, ref: lifecycle.merge(s, ref, ref, "x"), "into itself"),
        ("live", lambda s, ref: lifecycle.accept(s, ref, "x"), "cannot accept"),
        ("live", lambda s, ref: lifecycle.close(s, ref, "x"), "cannot close"),
        ("triage", lambda s, ref: lifecycle.decline(s, ref, "x", "  "), "needs a reason"),
        ("live", lambda s, ref: lifecycle.set_severity(s, ref, "SEV9", "x"), "not one of"),
        (
            "live",
            lambda s, ref: lifecycle.set_types(s, ref, ["weather"], "x"),
            "unknown incident type",
        ),
        ("live", lambda s, ref: lifecycle.post_update(s, ref, "", "x"), "needs text"),
        ("live", lambda s, ref: lifecycle.resolve(s, "INC-99", "x"), "INC-99 does not exist"),
        ("live", lambda s, ref: lifecycle.resolve(s, "banana", "x"), "not an incident reference"),
    ],
)
def test_invalid_transitions_are_clear_errors(rt, setup: str, action, message: str) -> None:  # type: ignore[no-untyped-def]
    with tx(rt) as s:
        incident = lifecycle.open_incident(s, "X", "rule:triage", "r", status="triage")
        if setup == "live":
            lifecycle.accept(s, incident.ref, "x")
        elif setup == "declined":
            lifecycle.decline(s, incident.ref, "x", "not ours")
    with pytest.raises(LifecycleError, match=message), tx(rt) as s:
        action(s, "INC-1")


def test_override_is_a_row_with_who_and_why(rt) -> None:  # type: ignore[no-untyped-def]
    with tx(rt) as s:
        store_raw(
            s, "email", "m1", mail("Portal down", "The portal is down for all customers, urgent")
        )
    run_pending(rt.factory, parse_raw, rt.config)
    with tx(rt) as s:
        lifecycle.override(s, 1, "communicate", "no", "carol", "internal tool only")
        lifecycle.override(s, 1, "decision", "not_incident", "carol", "test system")
    with rt.factory() as s:
        report = s.get(StoredReport, 1)
        assert report is not None
        assert report.decision == "not_incident"
        assert report.golden["communicate"]["answer"] is False
        changes = s.scalars(select(VerdictChange).order_by(VerdictChange.id)).all()
        assert [(c.field, c.old_value, c.new_value, c.actor) for c in changes] == [
            ("communicate", "yes", "no", "carol"),
            ("decision", "incident", "not_incident", "carol"),
        ]
        incident = s.scalars(select(Incident)).one()
        assert [e.kind for e in incident.events].count("override") == 2
    with pytest.raises(LifecycleError, match="cannot override"), tx(rt) as s:
        lifecycle.override(s, 1, "mood", "yes", "carol")
