"""The dashboard in Debian's Chromium against real uvicorn: log in, work the triage queue,
declare, post an update and see its outbox row, preview a digest, see the grid, and never run
a script that came in with a report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.models import Incident, StoredReport, TimelineEvent
from tests.web_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    XSS_MARK,
    LiveServer,
    require_chromium,
    runtime,
    seed,
    web_config,
)

AUDIENCES = """
[grouping]
auto_live = false  # incidents wait in the triage queue for a person

[[audience]]
name = "leads"
emails = ["lead@ourco.example"]
events = ["declared", "update_posted", "resolved"]
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.dialogs = dialogs
    yield tab
    context.close()


def test_a_person_works_the_dashboard(db_url: str, tmp_path: Path, page: Any) -> None:
    rt = runtime(db_url, tmp_path, web_config(users=True), toml=AUDIENCES)
    seed(rt)
    with rt.factory() as session:
        queued = session.scalars(
            select(Incident).where(Incident.status == "triage").order_by(Incident.id.desc())
        ).first()
        loose = session.scalars(
            select(StoredReport)
            .where(StoredReport.incident_id.is_(None), StoredReport.decision == "not_incident")
            .order_by(StoredReport.id)
        ).first()
        report_count = session.scalar(select(func.count()).select_from(StoredReport))
    assert queued is not None and loose is not None
    with LiveServer(rt) as server:
        page.goto(server.url + "/triage")
        assert page.url.endswith("/login?next=/triage")
        page.fill("input[name=name]", "ana")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(server.url + "/triage")
        assert page.locator("h1").inner_text() == "Triage queue"

        card = page.locator(f"#queued-{queued.ref}")
        assert queued.title[:30] in card.inner_text()
        card.locator("input[name=reason]").fill("duplicate of a known bug")
        card.locator("button:has-text('Decline')").click()
        page.wait_for_url(server.url + "/triage")
        assert f"{queued.ref} declined" in page.locator(".flash").inner_text()
        assert page.locator(f"#queued-{queued.ref}").count() == 0

        page.goto(f"{server.url}/reports/{loose.id}")
        page.click("button:has-text('Declare incident from this report')")
        page.wait_for_url("**/incidents/INC-*")
        assert "declared" in page.locator(".flash").inner_text()
        assert "declared from this report" in page.locator("#timeline").inner_text()
        declared_url = page.url

        page.fill("#post-update textarea[name=text]", "Vendor engaged, ETA 30 minutes")
        page.click("#post-update button")
        page.wait_for_url(declared_url)
        assert "update posted" in page.locator(".flash").inner_text()
        notifications = page.locator("#notifications").inner_text()
        assert "update posted" in notifications and "lead@ourco.example" in notifications
        assert "pending" in notifications

        page.goto(server.url + "/digests")
        page.select_option("select[name=audience]", "leads")
        page.click("button:has-text('Preview')")
        assert loose.title[:20] in page.locator("#digest-preview").inner_text()

        page.goto(server.url + "/grid")
        counts = page.eval_on_selector_all(
            "#quadrant-chart g.quadrant", "gs => gs.map(g => Number(g.dataset.count))"
        )
        assert len(counts) == 4 and sum(counts) == report_count
        assert page.locator("#quadrant-chart").is_visible()

        page.click("form[action='/logout'] button")
        page.wait_for_url("**/login")
    with rt.factory() as session:
        by_ana = session.scalars(
            select(TimelineEvent.kind).where(TimelineEvent.actor == "web:ana")
        ).all()
    assert {"status_changed", "declared", "update_posted"} <= set(by_ana)


def test_scripts_in_reports_never_run(db_url: str, tmp_path: Path, page: Any) -> None:
    rt = runtime(db_url, tmp_path)
    seed(rt, broken=False)
    with rt.factory() as session:
        report = session.scalars(
            select(StoredReport).where(StoredReport.message_id.like("%xss-1%"))
        ).one()
    with LiveServer(rt) as server:
        for path in (
            f"/reports/{report.id}",
            f"/incidents/INC-{report.incident_id}",
            "/reports",
            "/incidents",
            "/triage",
            f"/incidents?q={XSS_MARK}",
        ):
            page.goto(server.url + path)
            page.wait_for_load_state("load")
            assert page.evaluate("() => window.__xss") is None, path
            assert page.evaluate("() => document.querySelectorAll('script, iframe').length") == 0
            assert page.evaluate("() => document.querySelectorAll('[onerror]').length") == 0
        # The text is there, as text.
        page.goto(f"{server.url}/reports/{report.id}")
        assert f"<script>{XSS_MARK}=3</script>" in page.locator("#report-text").inner_text()
        assert "<script>" in page.locator("h1").inner_text()
    assert page.dialogs == []
