"""The dashboard over realistic data on SQLite and PostgreSQL: pages, filters, actions, CSRF, escaping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import select, update

from core import lifecycle
from core.models import Incident, RawMessage, StoredReport, TimelineEvent
from core.models_notify import OutboxMessage
from tests.helpers import tx
from tests.web_helpers import (
    XSS_MARK,
    app_for,
    client,
    csrf_of,
    login,
    runtime,
    seed,
    web_config,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def seeded(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    rt = runtime(db_url, tmp_path)
    seed(rt)
    return rt


async def test_every_page_renders_with_realistic_data(seeded) -> None:  # type: ignore[no-untyped-def]
    rt = seeded
    with rt.factory() as session:
        incidents = session.scalars(select(Incident)).all()
        reports = session.scalars(select(StoredReport)).all()
        assert len(incidents) >= 5 and len(reports) >= 30
        incident_titles = {i.id: i.title for i in incidents}
        report_ids = [r.id for r in reports]
        set_aside = [r for r in reports if r.set_aside]
        assert set_aside, "the realistic mail holds auto-replies and bounces"
    async with client(app_for(rt)) as c:
        for path in (
            "/incidents",
            "/triage",
            "/reports",
            "/grid",
            "/quarantine",
            "/outbox",
            "/digests",
        ):
            page = await c.get(path)
            assert page.status_code == 200, path
        listing = (await c.get("/incidents")).text
        for incident_id, title in incident_titles.items():
            assert f"INC-{incident_id}" in listing
            page = await c.get(f"/incidents/INC-{incident_id}")
            assert page.status_code == 200
            assert str(escape(title)) in page.text
            assert "Timeline" in page.text and "declared" in page.text
        for report_id in report_ids:
            page = await c.get(f"/reports/{report_id}")
            assert page.status_code == 200
            assert "Golden answers" in page.text
        # Every report is listed with its answers; set-aside mail with why.
        listing = (await c.get("/reports")).text
        assert 'class="ans-yes">impact yes</span>' in listing
        assert 'class="ans-no">urgent no</span>' in listing
        page = await c.get("/reports?set_aside=1")
        for report in set_aside[:5]:
            assert f"set aside: {report.set_aside}" in page.text
        assert (await c.get("/incidents/INC-99999")).status_code == 404
        assert (await c.get("/reports/99999")).status_code == 404


async def test_incident_page_shows_evidence_and_links(seeded) -> None:  # type: ignore[no-untyped-def]
    rt = seeded
    with rt.factory() as session:
        telegram = session.scalars(
            select(StoredReport).where(StoredReport.source == "telegram")
        ).one()
        sentry = session.scalars(
            select(StoredReport).where(
                StoredReport.source == "sentry", StoredReport.incident_id.is_not(None)
            )
        ).first()
        assert sentry is not None and telegram.incident_id is not None
        url = sentry.fields["url"]
        evidence = next(e for a in telegram.golden.values() for e in a["evidence"])
    async with client(app_for(rt)) as c:
        page = (await c.get(f"/incidents/INC-{telegram.incident_id}")).text
        assert 'href="https://t.me/opsroom/4242"' in page
        assert str(escape(evidence)) in page
        page = (await c.get(f"/incidents/INC-{sentry.incident_id}")).text
        assert f'href="{escape(url)}"' in page and "Open in Sentry" in page


async def test_filters_search_and_pages(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path)
    seed(rt, broken=False)
    with tx(rt) as session:
        for n in range(60):
            lifecycle.declare(session, "test", title=f"Bulk incident {n}", severity="SEV4")
    with rt.factory() as session:
        sentry_incidents = set(
            session.scalars(
                select(StoredReport.incident_id).where(
                    StoredReport.source == "sentry", StoredReport.incident_id.is_not(None)
                )
            )
        )
        security = [i for i in session.scalars(select(Incident)) if "security" in i.types]
        triage = session.scalars(select(Incident).where(Incident.status == "triage")).all()
    assert sentry_incidents and security
    async with client(app_for(rt)) as c:

        def refs(text: str) -> set[int]:
            return {int(n) for n in re.findall(r'href="/incidents/INC-(\d+)">INC-', text)}

        first = (await c.get("/incidents")).text
        assert len(refs(first)) == 50 and "page 1 of 2" in first
        second = (await c.get("/incidents?page=2")).text
        assert refs(first).isdisjoint(refs(second)) and refs(second)
        found = refs((await c.get("/incidents?source=sentry")).text)
        assert found == sentry_incidents
        found = refs((await c.get("/incidents?type=security")).text)
        assert found == {i.id for i in security}
        found = refs((await c.get("/incidents?status=triage")).text)
        assert found == {i.id for i in triage}
        sev4 = (await c.get("/incidents?severity=SEV4")).text
        assert "SEV1</span>" not in sev4 and "Bulk incident" in sev4
        found = refs((await c.get("/incidents?q=bulk+incident+17")).text)
        assert len(found) == 1
        assert refs((await c.get(f"/incidents?q=INC-{min(sentry_incidents)}")).text) >= {
            min(sentry_incidents)
        }
        nothing = (await c.get("/incidents?q=%25no+such+thing%25")).text
        assert "match these filters" in nothing
        # Unknown filter values are ignored, not errors.
        assert (await c.get("/incidents?status=bogus&page=x")).status_code == 200
        reports = (await c.get("/reports?decision=not_incident&source=email")).text
        assert "not_incident" in reports and "needs_review</span>" not in reports


async def test_actions_from_forms_are_on_the_timeline_with_the_person(
    db_url: str, tmp_path: Path
) -> None:
    rt = runtime(db_url, tmp_path, web_config(users=True))
    with tx(rt) as session:
        first = lifecycle.open_incident(
            session, "Checkout down", "rule:triage", "r", status="triage"
        )
        second = lifecycle.open_incident(session, "Spam wave", "rule:triage", "r", status="triage")
        third = lifecycle.open_incident(
            session, "Checkout again", "rule:triage", "r", status="live"
        )
        ids = first.id, second.id, third.id
    async with client(app_for(rt)) as c:
        assert (await login(c)).status_code == 303

        async def act(ref: str, action: str, **data: str) -> str:
            page = await c.get(f"/incidents/{ref}")
            form = {"csrf": csrf_of(page.text), **data}
            done = await c.post(f"/incidents/{ref}/{action}", data=form)
            assert done.status_code == 303
            return (await c.get(done.headers["location"])).text

        one, two, three = (f"INC-{n}" for n in ids)
        assert f"{one} accepted" in await act(one, "accept")
        page = await act(two, "decline", reason="newsletter, not ours")
        assert f"{two} declined" in page and "newsletter, not ours" in page
        assert "is now SEV1" in await act(one, "severity", severity="SEV1", reason="all customers")
        assert "update posted" in await act(one, "update", text="Vendor engaged, ETA 30 min")
        assert "merged into" in await act(three, "merge", into=one, reason="same outage")
        assert f"{one} resolved" in await act(one, "resolve", reason="config rolled back")
        refused = await act(two, "accept")  # declined: cannot accept
        assert "cannot accept" in refused
        page = await c.get("/incidents")
        declared = await c.post(
            "/declare",
            data={"csrf": csrf_of(page.text), "title": "Office flood", "severity": "SEV2"},
        )
        assert "declared" in (await c.get(declared.headers["location"])).text
    with rt.factory() as session:
        events = session.scalars(
            select(TimelineEvent).where(TimelineEvent.actor == "web:ana").order_by(TimelineEvent.id)
        ).all()
        kinds = [(e.incident_id, e.kind, e.reason) for e in events]
    assert (ids[0], "status_changed", "accepted") in kinds
    assert (ids[1], "status_changed", "newsletter, not ours") in kinds
    assert (ids[0], "severity_changed", "all customers") in kinds
    assert (ids[0], "update_posted", "Vendor engaged, ETA 30 min") in kinds
    assert (ids[2], "merged", "same outage") in kinds
    assert (ids[0], "status_changed", "config rolled back") in kinds
    assert any(kind == "declared" for _, kind, _ in kinds)


async def test_report_override_and_declare_from_report(seeded) -> None:  # type: ignore[no-untyped-def]
    rt = seeded
    with rt.factory() as session:
        loose = session.scalars(
            select(StoredReport).where(StoredReport.incident_id.is_(None)).order_by(StoredReport.id)
        ).first()
        assert loose is not None
    async with client(app_for(rt)) as c:
        page = await c.get(f"/reports/{loose.id}")
        token = csrf_of(page.text)
        done = await c.post(
            f"/reports/{loose.id}/override",
            data={"csrf": token, "field": "impact", "value": "yes", "reason": "VIP customer"},
        )
        assert "impact set to yes" in (await c.get(done.headers["location"])).text
        done = await c.post("/declare", data={"csrf": token, "report_id": str(loose.id)})
        page = (await c.get(done.headers["location"])).text
        assert "declared from this report" in page
    with rt.factory() as session:
        report = session.get(StoredReport, loose.id)
        assert report is not None and report.incident_id is not None
        assert report.golden["impact"]["answer"] is True
        assert [(c.actor, c.field, c.new_value) for c in report.changes] == [
            ("web:local", "impact", "yes")
        ]


async def test_posts_without_or_with_a_wrong_csrf_token_are_refused(
    db_url: str, tmp_path: Path
) -> None:
    rt = runtime(db_url, tmp_path)
    with tx(rt) as session:
        incident = lifecycle.open_incident(session, "Checkout", "rule:triage", "r", status="triage")
    ref = incident.ref
    async with client(app_for(rt)) as c:
        await c.get(f"/incidents/{ref}")  # a session with a token exists
        missing = await c.post(f"/incidents/{ref}/accept", data={})
        wrong = await c.post(f"/incidents/{ref}/accept", data={"csrf": "x" * 43})
        assert missing.status_code == wrong.status_code == 403
        assert "CSRF" in wrong.text
    # A cross-site form has no session at all.
    async with client(app_for(rt)) as stranger:
        other = await stranger.post(f"/incidents/{ref}/accept", data={"csrf": "anything"})
        assert other.status_code == 403
    with rt.factory() as session:
        assert lifecycle.get_incident(session, ref).status == "triage"


async def test_scripts_in_reports_are_shown_escaped(seeded) -> None:  # type: ignore[no-untyped-def]
    rt = seeded
    with rt.factory() as session:
        report = session.scalars(
            select(StoredReport).where(StoredReport.message_id.like("%xss-1%"))
        ).one()
    async with client(app_for(rt)) as c:
        responses = [
            await c.get(f"/reports/{report.id}"),
            await c.get("/reports"),
            await c.get(f"/incidents/INC-{report.incident_id}"),
        ]
    for response in responses:
        # The browser is told to run no script on these pages at all.
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        page = response.text
        assert XSS_MARK in page  # the text is shown...
        assert f"<script>{XSS_MARK}" not in page  # ...but never as markup
        assert 'onerror="window' not in page and 'href="javascript:' not in page
        assert "&lt;script&gt;" in page


async def test_quarantine_download_and_reprocess(seeded) -> None:  # type: ignore[no-untyped-def]
    rt = seeded
    with rt.factory() as session:
        broken = session.scalars(
            select(RawMessage).where(RawMessage.natural_key == "file:broken.json")
        ).one()
    assert broken.status == "quarantined"
    async with client(app_for(rt)) as c:
        page = await c.get("/quarantine")
        assert f"#{broken.id}" in page.text and "ParseError" in page.text
        download = await c.get(f"/raw/{broken.id}/download")
        assert download.content == broken.body
        assert (
            download.headers["content-disposition"]
            == f'attachment; filename="raw-{broken.id}.json"'
        )
        assert download.headers["content-type"] == "application/octet-stream"
        done = await c.post(f"/raw/{broken.id}/reprocess", data={"csrf": csrf_of(page.text)})
        assert "queued again" in (await c.get(done.headers["location"])).text
    with rt.factory() as session:
        again = session.get(RawMessage, broken.id)
        assert again is not None and again.status == "pending" and again.attempts == 0


async def test_grid_counts_reports_per_quadrant(seeded) -> None:  # type: ignore[no-untyped-def]
    rt = seeded
    with rt.factory() as session:
        quadrants = [r.quadrant for r in session.scalars(select(StoredReport))]
    async with client(app_for(rt)) as c:
        page = (await c.get("/grid")).text
    for name in ("incident_response", "hotfix", "normal_work", "backlog"):
        assert f'data-quadrant="{name}" data-count="{quadrants.count(name)}"' in page
    assert quadrants.count("incident_response") > 0


AUDIENCES = """
[[audience]]
name = "leads"
emails = ["lead@ourco.example"]
events = ["declared", "update_posted", "resolved"]
"""


async def test_notifications_outbox_dead_letters_and_digest_preview(
    db_url: str, tmp_path: Path
) -> None:
    rt = runtime(db_url, tmp_path, toml=AUDIENCES)
    async with client(app_for(rt)) as c:
        page = await c.get("/incidents")
        made = await c.post(
            "/declare",
            data={"csrf": csrf_of(page.text), "title": "Payments down", "severity": "SEV1"},
        )
        where = made.headers["location"]
        page = await c.get(where)
        await c.post(
            f"{where}/update", data={"csrf": csrf_of(page.text), "text": "Card processor engaged"}
        )
        page = (await c.get(where)).text
        rows = re.findall(
            r'<tr class="outbox-row state-(\w+)"><td>([\w ]+)</td><td>leads</td>', page
        )
        assert rows == [("pending", "declared"), ("pending", "update posted")]
        assert "email · lead@ourco.example" in page
        with tx(rt) as session:  # delivery gave up on the first one
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.kind == "declared")
                .values(state="dead", attempts=8, last_error="550 mailbox unavailable")
            )
        outbox = (await c.get("/outbox")).text
        assert "Dead letters (1)" in outbox and "550 mailbox unavailable" in outbox
        dead_id = re.search(r'action="/outbox/(\d+)/resend"', outbox)
        assert dead_id
        done = await c.post(f"/outbox/{dead_id.group(1)}/resend", data={"csrf": csrf_of(outbox)})
        assert "queued again" in (await c.get(done.headers["location"])).text
        with rt.factory() as session:
            row = session.get(OutboxMessage, int(dead_id.group(1)))
            assert row is not None and (row.state, row.attempts) == ("pending", 0)
        digests = (await c.get("/digests")).text
        assert "<option >leads</option>" in digests or ">leads</option>" in digests
        preview = (await c.get("/digests?audience=leads")).text
        assert 'id="digest-preview"' in preview and "Payments down" in preview
        assert "no audience called" in (await c.get("/digests?audience=nobody")).text
