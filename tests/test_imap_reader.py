"""Reading a real Dovecot folder: IDLE and polling, the cursor, dedup, acknowledgement, oversize mail."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from imapclient import SEEN
from sqlalchemy import func, select, text

from core.config_email import MailboxConfig
from core.models import PENDING, QUARANTINED, Incident, RawMessage, StoredReport
from core.pipeline import run_pending
from core.runtime import Runtime
from ingest.imap_poller import Backoff, FolderPoller, pipeline_waker
from ingest.imap_reader import FolderReader
from ingest.imap_session import connect, disconnect
from ingest.raw import parse_raw
from tests.dovecot_fixture import MailUser, mailbox_for
from tests.helpers import mail, open_db

URGENT = (
    "Since 09:10 every payment fails with a 502. Customers are calling support and the press "
    "asked. We need engineering and support on a call now; let us do a postmortem after."
)


def numbered(n: int, subject: str = "note") -> bytes:
    return mail(f"{subject} {n}", f"Routine note number {n}.", message_id=f"<n{n}.{subject}@test>")


def raw_rows(rt: Runtime) -> list[RawMessage]:
    with rt.factory() as session:
        return list(session.scalars(select(RawMessage).order_by(RawMessage.id)))


def sync(rt: Runtime, box: MailboxConfig, folder: str = "INBOX") -> object:
    client = connect(box)
    try:
        return FolderReader(box, folder, rt.factory).sync(client)
    finally:
        disconnect(client)


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")


@contextmanager
def polling(rt: Runtime, box: MailboxConfig, folder: str = "INBOX") -> Iterator[FolderPoller]:
    reader = FolderReader(box, folder, rt.factory, pipeline_waker(rt))
    poller = FolderPoller(box, folder, reader, Backoff(base=0.05, cap=0.5))
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: poller.syncs >= 1)
        yield poller
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the poller did not stop when asked"


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
def test_new_mail_arrives_and_becomes_an_incident(
    db_url: str, mail_user: MailUser, tmp_path: Path, idle: bool
) -> None:
    rt = open_db(db_url)
    box = mailbox_for(mail_user, tmp_path, idle=idle, poll_seconds=0.3)
    with polling(rt, box) as poller:
        mail_user.append(mail("URGENT: checkout is down for all customers", URGENT))

        def has_incident() -> bool:
            with rt.factory() as session:
                return session.scalar(select(func.count()).select_from(Incident)) == 1

        wait_for(has_incident, timeout=5)
        # Appended after the first read finished: woken by IDLE or the poll interval.
        wait_for(lambda: poller.syncs >= 2, timeout=5)
    with rt.factory() as session:
        report = session.scalars(select(StoredReport)).one()
        assert report.title == "URGENT: checkout is down for all customers"
        assert report.incident_id is not None
        raw = session.get(RawMessage, report.raw_id)
        assert raw is not None and raw.meta["via"] == "imap" and raw.meta["folder"] == "INBOX"
    assert all(SEEN in flags for flags in mail_user.flags().values())


def test_restart_resumes_from_the_cursor(db_url: str, mail_user: MailUser, tmp_path: Path) -> None:
    rt = open_db(db_url)
    box = mailbox_for(mail_user, tmp_path)
    mail_user.seed(numbered(i) for i in range(5))
    first = sync(rt, box)
    mail_user.seed(numbered(i) for i in range(5, 8))
    again = sync(rt, box)  # a new reader, as after a restart: only the cursor remembers
    assert (first.fetched, first.stored) == (5, 5)  # type: ignore[attr-defined]
    assert (again.fetched, again.stored) == (3, 3)  # type: ignore[attr-defined]
    assert len(raw_rows(rt)) == 8
    assert sync(rt, box).fetched == 0  # type: ignore[attr-defined]


def test_a_mail_in_two_folders_is_stored_once(
    db_url: str, mail_user: MailUser, tmp_path: Path
) -> None:
    rt = open_db(db_url)
    mail_user.create_folder("Escalations")
    box = mailbox_for(mail_user, tmp_path, folders=("INBOX", "Escalations"))
    same = numbered(1)
    mail_user.append(same)
    mail_user.append(same, folder="Escalations")
    mail_user.append(numbered(2), folder="Escalations")
    assert sync(rt, box, "INBOX").stored == 1  # type: ignore[attr-defined]
    result = sync(rt, box, "Escalations")
    assert (result.fetched, result.stored) == (2, 1)  # type: ignore[attr-defined]
    assert len(raw_rows(rt)) == 2
    assert all(SEEN in f for f in mail_user.flags("Escalations").values())


def test_uidvalidity_change_reads_again_without_doubling(
    db_url: str, mail_user: MailUser, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rt = open_db(db_url)
    mail_user.create_folder("Reports")
    box = mailbox_for(mail_user, tmp_path, folders=("Reports",))
    for i in range(3):
        mail_user.append(numbered(i), folder="Reports")
    assert sync(rt, box, "Reports").stored == 3  # type: ignore[attr-defined]
    with mail_user.client() as imap:
        imap.delete_folder("Reports")
        imap.create_folder("Reports")
    for i in range(5):  # the old three again, and two new ones
        mail_user.append(numbered(i), folder="Reports")
    result = sync(rt, box, "Reports")
    assert result.rescanned  # type: ignore[attr-defined]
    assert (result.fetched, result.stored) == (5, 2)  # type: ignore[attr-defined]
    assert len(raw_rows(rt)) == 5
    assert "UIDVALIDITY changed" in caplog.text
    assert sync(rt, box, "Reports").fetched == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("after", ["seen", "move", "delete"])
def test_after_store_action(db_url: str, mail_user: MailUser, tmp_path: Path, after: str) -> None:
    rt = open_db(db_url)
    extra = {"move_to": "Done"} if after == "move" else {}
    if after == "move":
        mail_user.create_folder("Done")
    box = mailbox_for(mail_user, tmp_path, after=after, **extra)
    mail_user.seed(numbered(i) for i in range(4))
    assert sync(rt, box).stored == 4  # type: ignore[attr-defined]
    inbox = mail_user.flags()
    if after == "seen":
        assert len(inbox) == 4 and all(SEEN in f for f in inbox.values())
    else:
        assert inbox == {}
    if after == "move":
        assert len(mail_user.uids("Done")) == 4
    assert len(raw_rows(rt)) == 4


@pytest.mark.parametrize("after", ["seen", "move"])
def test_nothing_is_acknowledged_until_it_is_committed(
    db_url: str, mail_user: MailUser, tmp_path: Path, after: str
) -> None:
    rt = open_db(db_url)
    extra = {"move_to": "Done"} if after == "move" else {}
    if after == "move":
        mail_user.create_folder("Done")
    box = mailbox_for(mail_user, tmp_path, after=after, **extra)
    mail_user.seed(numbered(i) for i in range(3))
    with rt.engine.begin() as connection:  # the next commit of mail will fail
        connection.execute(text("ALTER TABLE raw_messages RENAME TO raw_messages_away"))
    with pytest.raises(Exception, match="raw_messages"):
        sync(rt, box)
    flags = mail_user.flags()
    assert len(flags) == 3 and not any(SEEN in f for f in flags.values())
    with rt.engine.begin() as connection:
        connection.execute(text("ALTER TABLE raw_messages_away RENAME TO raw_messages"))
    assert sync(rt, box).stored == 3  # type: ignore[attr-defined]
    assert len(raw_rows(rt)) == 3
    if after == "move":
        assert mail_user.uids() == [] and len(mail_user.uids("Done")) == 3


def test_oversize_mail_is_quarantined_and_later_mail_flows(
    db_url: str, mail_user: MailUser, tmp_path: Path
) -> None:
    rt = open_db(db_url)
    box = mailbox_for(mail_user, tmp_path, max_bytes=4000)
    big = mail("Huge attachment", "x" * 20000, message_id="<big@test>")
    mail_user.seed([numbered(1), big, numbered(2)])
    result = sync(rt, box)
    assert (result.stored, result.quarantined) == (3, 1)  # type: ignore[attr-defined]
    rows = raw_rows(rt)
    quarantined = [r for r in rows if r.status == QUARANTINED]
    assert len(quarantined) == 1
    held = quarantined[0]
    assert b"Subject: Huge attachment" in held.body and b"xxxx" not in held.body
    assert held.last_error and "over the 4000 byte limit" in held.last_error
    assert held.meta["size"] > 20000
    assert [r.status for r in rows if r is not held] == [PENDING, PENDING]
    stats = run_pending(rt.factory, parse_raw, rt.config)
    assert stats.reports == 2  # the big one waits for a person; it does not block the others
    assert all(SEEN in f for f in mail_user.flags().values())  # all three acknowledged


def test_mailbox_config_without_changes_is_usable(mail_user: MailUser, tmp_path: Path) -> None:
    box = replace(mailbox_for(mail_user, tmp_path), folders=("INBOX",))
    client = connect(box)
    assert client.has_capability("IDLE")
    disconnect(client)


def test_intake_run_components_with_the_pipeline_worker(
    db_url: str, mail_user: MailUser, tmp_path: Path
) -> None:
    """As `intake run` hosts them, beside the pipeline worker: the mail becomes an incident once."""
    import asyncio

    from core.config import Config
    from core.config_email import EmailConfig
    from core.worker import PipelineWorker
    from ingest.imap_components import components

    box = mailbox_for(mail_user, tmp_path)
    inbox = tmp_path / "inbox"
    config = Config(database_url=db_url, email=EmailConfig(mailboxes=(box,), inbox=inbox))
    rt = open_db(db_url, config)
    parts = [*components(rt), PipelineWorker.from_runtime(rt)]
    assert [p.name for p in parts] == ["imap:incidents", "pipeline"]
    # Without a [[mailbox]] the local drop folder stands in for the incident mailbox.
    assert [c.name for c in components(open_db(db_url))] == ["maildir-inbox"]

    def incidents() -> int:
        with rt.factory() as session:
            return session.scalar(select(func.count()).select_from(Incident)) or 0

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(p.run(stop)) for p in parts]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(
            mail_user.append, mail("URGENT: checkout is down for all customers", URGENT)
        )
        started = time.monotonic()
        while incidents() == 0 and time.monotonic() - started < 5:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

    asyncio.run(scenario())
    assert incidents() == 1


def test_poison_mail_among_good_mail_is_quarantined_and_never_blocks(
    db_url: str, mail_user: MailUser, tmp_path: Path
) -> None:
    rt = open_db(db_url)
    box = mailbox_for(mail_user, tmp_path, max_bytes=20000)
    good = [numbered(i, "flow") for i in range(480)]
    unreadable = [b"\n" * (i + 2) for i in range(10)]  # no headers, no text: cannot be parsed
    oversize = [mail(f"Full dump {i}", "z" * 30000) for i in range(10)]
    everything = good + unreadable + oversize
    random.Random(3).shuffle(everything)
    mail_user.seed(everything)
    result = sync(rt, box)
    assert (result.stored, result.quarantined) == (500, 10)  # type: ignore[attr-defined]
    stats = run_pending(rt.factory, parse_raw, rt.config)
    assert stats.reports == 480
    held = [r for r in raw_rows(rt) if r.status == QUARANTINED]
    assert len(held) == 20
    assert sum("over the 20000 byte limit" in (r.last_error or "") for r in held) == 10
    assert sum("ParseError" in (r.last_error or "") for r in held) == 10
    assert all(SEEN in f for f in mail_user.flags().values())


def test_idle_is_renewed_before_the_server_would_drop_it(
    db_url: str, mail_user: MailUser, tmp_path: Path
) -> None:
    rt = open_db(db_url)
    box = mailbox_for(mail_user, tmp_path)
    reader = FolderReader(box, "INBOX", rt.factory)
    poller = FolderPoller(box, "INBOX", reader, Backoff(0.05, 0.5), idle_renew=0.3)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: poller.syncs >= 4, timeout=5)  # each renewal ends one IDLE, reads, idles
        mail_user.append(numbered(1))
        wait_for(lambda: len(raw_rows(rt)) == 1, timeout=5)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert poller.failures == 0 and poller.last_error is None


def test_one_process_reads_a_folder_at_a_time_on_postgresql(
    postgres_db_url: str, mail_user: MailUser, tmp_path: Path
) -> None:
    """Two readers of one folder (as two `intake run` processes would be): one reads, one waits."""
    rt = open_db(postgres_db_url)
    box = mailbox_for(mail_user, tmp_path)
    other_rt = open_db(postgres_db_url)  # its own engine and connections, like another process
    first = FolderPoller(box, "INBOX", FolderReader(box, "INBOX", rt.factory), Backoff(0.05, 0.5))
    second = FolderPoller(
        box, "INBOX", FolderReader(box, "INBOX", other_rt.factory), Backoff(0.05, 0.5)
    )
    stop_first, stop_second = threading.Event(), threading.Event()
    one = threading.Thread(target=first.run, args=(stop_first,))
    one.start()
    wait_for(lambda: first.syncs >= 1)
    two = threading.Thread(target=second.run, args=(stop_second,))
    two.start()
    try:
        mail_user.append(numbered(1))
        wait_for(lambda: len(raw_rows(rt)) == 1)
        time.sleep(0.5)
        assert (first.syncs >= 2, second.syncs) == (True, 0)
        stop_first.set()  # the reader goes away: the other takes over
        one.join(timeout=10)
        mail_user.append(numbered(2))
        wait_for(lambda: len(raw_rows(rt)) == 2, timeout=15)
        wait_for(lambda: second.syncs >= 1)  # it was the one that read it
    finally:
        stop_first.set()
        stop_second.set()
        one.join(timeout=10)
        two.join(timeout=10)
