"""`intake mailbox check|poll`: test a configured IMAP mailbox, or read it in the foreground."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import click
from imapclient.exceptions import IMAPClientError

from core.cli_common import runtime
from core.config import ConfigError, load_config
from core.config_email import MailboxConfig
from core.pipeline import run_pending
from core.runtime import Runtime, config_path
from ingest.imap_poller import Backoff, FolderPoller, pipeline_waker
from ingest.imap_reader import BATCH, FolderReader
from ingest.imap_session import MailboxError, connect, disconnect
from ingest.raw import parse_raw


@click.group("mailbox")
def mailbox_group() -> None:
    """IMAP mailboxes configured with [[mailbox]]."""


def _chosen(boxes: tuple[MailboxConfig, ...], name: str | None) -> list[MailboxConfig]:
    if not boxes:
        raise click.UsageError(
            "no [[mailbox]] is configured (see README: Reading the incident mailbox)"
        )
    if name is None:
        return list(boxes)
    chosen = [b for b in boxes if b.name == name]
    if not chosen:
        known = ", ".join(b.name for b in boxes)
        raise click.UsageError(f"no mailbox named {name!r} (configured: {known})")
    return chosen


def _tls_words(box: MailboxConfig) -> str:
    return {"implicit": "implicit TLS", "starttls": "STARTTLS", "plain": "plaintext"}[box.tls]


@mailbox_group.command("check")
@click.argument("name", required=False)
@click.pass_context
def check_command(ctx: click.Context, name: str | None) -> None:
    """Connect, log in, open the folders; print capabilities and how many messages wait."""
    try:
        config = load_config(config_path(ctx.find_root().obj.get("config_path")))
    except ConfigError as exc:
        raise click.UsageError(f"config: {exc}") from exc
    failed = False
    for box in _chosen(config.email.mailboxes, name):
        click.echo(f"{box.name}: {box.host}:{box.port} ({_tls_words(box)}) as {box.username}")
        try:
            _check(box)
        except MailboxError as exc:
            failed = True
            click.echo(f"  error: {exc}")
    if failed:
        sys.exit(1)


def _check(box: MailboxConfig) -> None:
    client = connect(box)
    try:
        caps = " ".join(c.decode() for c in client.capabilities())
        click.echo(f"  logged in; capabilities: {caps}")
        if box.idle and not client.has_capability("IDLE"):
            click.echo(f"  no IDLE: new mail is looked for every {box.poll_seconds:g} s")
        problems = []
        for folder in box.folders:
            if not client.folder_exists(folder):
                problems.append(f"folder {folder!r} does not exist")
                continue
            status = client.folder_status(folder, [b"MESSAGES", b"UNSEEN", b"UIDVALIDITY"])
            click.echo(
                f"  {folder}: {status[b'MESSAGES']} message(s) waiting, "
                f"{status[b'UNSEEN']} unseen (UIDVALIDITY {status[b'UIDVALIDITY']})"
            )
        if box.after == "move" and box.move_to and not client.folder_exists(box.move_to):
            problems.append(f"move_to folder {box.move_to!r} does not exist")
        if problems:
            raise MailboxError("; ".join(problems))
    except IMAPClientError as exc:
        raise MailboxError(f"server refused a command: {exc}") from exc
    except OSError as exc:
        raise MailboxError(f"connection lost: {exc}") from exc
    finally:
        disconnect(client)
    click.echo("  ok")


@mailbox_group.command("poll")
@click.argument("name", required=False)
@click.option("--once", is_flag=True, help="Read what is there now, then exit.")
@click.option("--no-process", is_flag=True, help="Only store; leave triage to `intake process`.")
@click.option(
    "--batch", default=BATCH, show_default=True, help="Messages per FETCH and per transaction."
)
@click.pass_context
def poll_command(
    ctx: click.Context, name: str | None, once: bool, no_process: bool, batch: int
) -> None:
    """Read mailboxes in the foreground (IDLE or polling) until interrupted."""
    rt = runtime(ctx)
    boxes = _chosen(rt.config.email.mailboxes, name)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if once:
        _poll_once(boxes, rt, no_process, batch)
        return
    wake = None if no_process else pipeline_waker(rt)
    pollers = [
        FolderPoller(box, folder, FolderReader(box, folder, rt.factory, wake, batch), Backoff())
        for box in boxes
        for folder in box.folders
    ]
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    threads = [threading.Thread(target=p.run, args=(stop,), name=p.folder) for p in pollers]
    for thread in threads:
        thread.start()
    click.echo(f"reading {len(pollers)} folder(s); Ctrl-C to stop", err=True)
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join()


def _poll_once(boxes: list[MailboxConfig], rt: Runtime, no_process: bool, batch: int) -> None:
    # Triage each batch once committed, while the next one is fetched; what is
    # left (an earlier run's mail, retries due) is processed at the end.
    wake = None if no_process else pipeline_waker(rt)
    failed = False
    for box in boxes:
        try:
            client = connect(box)
        except MailboxError as exc:
            click.echo(f"{box.name}: error: {exc}")
            failed = True
            continue
        try:
            for folder in box.folders:
                reader = FolderReader(box, folder, rt.factory, wake, batch)
                result = reader.sync(client)
                click.echo(
                    f"{box.name}/{folder}: fetched {result.fetched}, stored {result.stored} new, "
                    f"quarantined {result.quarantined}, acknowledged {result.acknowledged}"
                    + (" (UIDVALIDITY changed: read again)" if result.rescanned else "")
                )
        except Exception as exc:
            click.echo(f"{box.name}: error: {type(exc).__name__}: {exc}")
            failed = True
        finally:
            disconnect(client)
    if not no_process:
        stats = run_pending(rt.work, parse_raw, rt.config)
        click.echo(f"processed {stats.processed}; {stats.reports} reports")
    if failed:
        sys.exit(1)
