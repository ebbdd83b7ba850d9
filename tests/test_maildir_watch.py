"""The local Maildir drop folder: new files become stored mail, then move to cur/."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import func, select

from core.config import Config
from core.config_email import EmailConfig
from core.models import QUARANTINED, Incident, RawMessage
from core.runtime import Runtime
from ingest.maildir_watch import MaildirWatch, ensure_maildir
from tests.helpers import mail, open_db

URGENT = (
    "Since 09:10 every payment fails with a 502. Customers are calling support and the press "
    "asked. We need engineering and support on a call now; let us do a postmortem after."
)


def drop(root: Path, name: str, body: bytes) -> None:
    ensure_maildir(root)
    (root / "tmp" / name).write_bytes(body)
    (root / "tmp" / name).rename(root / "new" / name)


def count(rt: Runtime, model: type) -> int:
    with rt.factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def runtime(db_url: str, inbox: Path, max_bytes: int = 25 * 1024 * 1024) -> Runtime:
    config = Config(database_url=db_url, email=EmailConfig(inbox=inbox, inbox_max_bytes=max_bytes))
    return open_db(db_url, config)


def test_dropped_mail_becomes_an_incident_while_the_watch_runs(db_url: str, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    rt = runtime(db_url, inbox)

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(MaildirWatch(rt, interval=0.1).run(stop))
        await asyncio.sleep(0.2)
        drop(inbox, "1700000000.M1P1.host", mail("URGENT: checkout is down", URGENT))
        started = time.monotonic()
        while count(rt, Incident) == 0 and time.monotonic() - started < 5:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        return time.monotonic() - started

    asyncio.run(scenario())
    assert count(rt, Incident) == 1
    assert list((inbox / "new").iterdir()) == []
    assert [p.name for p in (inbox / "cur").iterdir()] == ["1700000000.M1P1.host:2,S"]


def test_nothing_is_doubled_when_a_crash_left_a_stored_file_in_new(
    db_url: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    rt = runtime(db_url, inbox)
    body = mail("Printer jammed", "The office printer is jammed again.", message_id="<p@x>")
    drop(inbox, "a.M1.host", body)
    watch = MaildirWatch(rt, on_stored=lambda n: None)
    assert watch.scan_once().stored == 1
    # As if the process died after the commit but before the rename: the file is back in new/.
    (inbox / "cur" / "a.M1.host:2,S").rename(inbox / "new" / "a.M1.host")
    drop(inbox, "b.M2.host", body)  # and the same mail dropped again under another name
    result = watch.scan_once()
    assert (result.seen, result.stored) == (2, 0)
    assert count(rt, RawMessage) == 1
    assert sorted(p.name for p in (inbox / "cur").iterdir()) == ["a.M1.host:2,S", "b.M2.host:2,S"]


def test_oversize_file_is_quarantined_with_its_headers(db_url: str, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    rt = runtime(db_url, inbox, max_bytes=3000)
    drop(inbox, "big.M1.host", mail("Huge log attached", "y" * 10000))
    drop(inbox, "small.M2.host", mail("Small", "fine"))
    result = MaildirWatch(rt, on_stored=lambda n: None).scan_once()
    assert (result.stored, result.quarantined) == (2, 1)
    with rt.factory() as session:
        held = session.scalars(select(RawMessage).where(RawMessage.status == QUARANTINED)).one()
    assert b"Subject: Huge log attached" in held.body and b"yyyy" not in held.body
    assert held.last_error and "over the 3000 byte limit" in held.last_error
