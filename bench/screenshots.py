"""The README's dashboard screenshots, taken from realistic data with Debian's Chromium.

Run from the repository root:

    .venv/bin/python bench/screenshots.py [--out docs]

It stores the realistic mail of tests/data/realistic-a, the Sentry webhooks of
tests/data/realistic-b and one Telegram message in a fresh SQLite database, runs the
real pipeline over them (with `[grouping] auto_live = false`, so new incidents wait
in the triage queue), accepts the booking outage and posts an update to it as a
person would, serves the web app with uvicorn on 127.0.0.1 and writes
`docs/incident-page.png` and `docs/triage-queue.png`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import tomllib
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: bench/telegram.py would shadow the python-telegram-bot package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from core import lifecycle  # noqa: E402
from core.config import parse_config  # noqa: E402
from core.models import StoredReport  # noqa: E402
from core.pipeline import run_pending  # noqa: E402
from core.store import store_raw  # noqa: E402
from ingest.raw import parse_raw  # noqa: E402
from tests.helpers import open_db, tx  # noqa: E402
from tests.web_helpers import CHROMIUM, CHROMIUM_ARGS, TELEGRAM_UPDATE, LiveServer  # noqa: E402

DATA = ROOT / "tests" / "data"
CONFIG = """
[grouping]
auto_live = false

[[audience]]
name = "leads"
emails = ["oncall-leads@ourco.example"]
events = ["declared", "update_posted", "resolved", "severity_changed"]
"""


def seeded(folder: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{folder}/intake.db"
    config = parse_config(tomllib.loads(CONFIG))
    config = replace(
        config,
        database_url=url,
        web=replace(config.web, generated_secret_file=folder / "web-secret"),
    )
    rt = open_db(url, config)
    from core.outbox import install_runtime

    install_runtime(rt)
    with tx(rt) as session:
        for path in sorted((DATA / "realistic-a").glob("*.eml")):
            store_raw(session, "email", f"file:{path.name}", path.read_bytes())
        for path in sorted((DATA / "realistic-b").glob("*.sentry.json")):
            store_raw(session, "sentry", f"file:{path.name}", path.read_bytes())
        store_raw(session, "telegram", "update:900001", json.dumps(TELEGRAM_UPDATE).encode())
    run_pending(rt.factory, parse_raw, rt.config)
    with tx(rt) as session:
        report = session.scalars(
            select(StoredReport).where(StoredReport.title.ilike("%booking%"))
        ).first()
        assert report is not None and report.incident_id is not None, "no booking outage"
        ref = f"INC-{report.incident_id}"
        lifecycle.accept(session, ref, "web:maria", "customers cannot book; confirmed")
        lifecycle.set_severity(session, ref, "SEV1", "web:maria", "all clinics affected")
        lifecycle.post_update(
            session,
            ref,
            "Booking portal returns 502 for every clinic. Hosting provider engaged; "
            "next update in 30 minutes.",
            "web:maria",
        )
    return rt, ref


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        rt, ref = seeded(Path(folder))
        with LiveServer(rt) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for path, name in ((f"/incidents/{ref}", "incident-page"), ("/triage", "triage-queue")):
                page.goto(server.url + path)
                page.wait_for_load_state("load")
                target = args.out / f"{name}.png"
                page.screenshot(path=str(target), full_page=False)
                print(
                    f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}"
                )
            browser.close()
        rt.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
