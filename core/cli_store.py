"""Commands over stored input: db upgrade, import, process, reprocess, retriage, reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import func, select

from core.cli_common import echo_json, parse_when, runtime
from core.db import transaction
from core.migrate import head_revision
from core.models import RawMessage, StoredReport
from core.pipeline import reprocess, retriage, run_pending
from core.report import ParseError
from core.store import store_raw
from ingest.files_import import item_for, walk
from ingest.raw import parse_raw

BATCH = 200  # inputs stored per transaction during an import


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or migrate the database schema to the newest revision."""
    rt = runtime(ctx)
    before, after = rt.migrated
    if before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(
            f"database upgraded from {before or 'empty'} to {after} (head {head_revision()})"
        )


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--no-process", is_flag=True, help="Only store; leave triage to `intake process`.")
@click.pass_context
def import_command(ctx: click.Context, paths: tuple[Path, ...], no_process: bool) -> None:
    """Import .eml/.json files, folders, Maildirs and mbox files (twice adds nothing)."""
    rt = runtime(ctx)
    added = seen = failed = 0
    pending: list[tuple[bytes, str]] = []

    def flush() -> None:
        nonlocal added, seen, failed
        with transaction(rt.factory) as session:
            for body, origin in pending:
                try:
                    item = item_for(body, origin)
                except ParseError as exc:
                    failed += 1
                    click.echo(f"{origin}: skipped: {exc}", err=True)
                    continue
                meta = {"origin": origin, "via": "import"}
                stored = store_raw(
                    session, item.source, item.natural_key, item.body, meta, item.content_key
                )
                added += stored.created
                seen += 1
        pending.clear()

    inputs = walk(list(paths))
    stderr = sys.stderr
    with click.progressbar(inputs, label="storing", show_pos=True, file=stderr) as items:
        for _path, body, origin, error in items:
            if error is not None or body is None:
                failed += 1
                click.echo(f"{origin}: {error}", err=True)
                continue
            pending.append((body, origin))
            if len(pending) >= BATCH:
                flush()
        if pending:
            flush()
    click.echo(
        f"stored {added} new of {seen} inputs ({seen - added} already stored, {failed} unreadable)"
    )
    if not no_process:
        stats = run_pending(rt.work, parse_raw, rt.config)
        click.echo(
            f"processed {stats.processed}, nothing to triage in {stats.ignored}, "
            f"quarantined {stats.quarantined + stats.parked}; {stats.reports} reports"
        )
    if failed:
        ctx.exit(1)


@click.command("process")
@click.pass_context
def process_command(ctx: click.Context) -> None:
    """Run the pipeline over everything pending or due for a retry."""
    rt = runtime(ctx)
    stats = run_pending(rt.work, parse_raw, rt.config)
    click.echo(
        f"processed {stats.processed}, nothing to triage in {stats.ignored}, quarantined "
        f"{stats.quarantined}, parked {stats.parked}; {stats.reports} reports"
    )
    for line in stats.errors:
        click.echo(f"  {line}", err=True)


@click.command("reprocess")
@click.argument("raw_ids", nargs=-1, type=int)
@click.option("--quarantined", is_flag=True, help="Every quarantined or parked message.")
@click.pass_context
def reprocess_command(ctx: click.Context, raw_ids: tuple[int, ...], quarantined: bool) -> None:
    """Put raw messages back in the queue and process them now."""
    if not raw_ids and not quarantined:
        raise click.UsageError("give raw message ids or --quarantined")
    rt = runtime(ctx)
    with transaction(rt.factory) as session:
        count = reprocess(session, list(raw_ids) or None)
    click.echo(f"queued {count} message(s) again")
    stats = run_pending(rt.work, parse_raw, rt.config)
    click.echo(
        f"processed {stats.processed}, quarantined {stats.quarantined}, parked {stats.parked}"
    )
    for line in stats.errors:
        click.echo(f"  {line}", err=True)


@click.command("retriage")
@click.option("--since", "since", required=True, help="ISO date/time, or e.g. 2h, 3d.")
@click.pass_context
def retriage_command(ctx: click.Context, since: str) -> None:
    """Re-run triage with the current rules over reports since WHEN; prints what changed."""
    rt = runtime(ctx)
    when = parse_when(since)
    with transaction(rt.factory) as session:
        result = retriage(session, parse_raw, rt.config, when)
    for line in result.lines:
        click.echo(line)
    click.echo(f"re-triaged {result.seen} report(s), {result.changed} changed")


@click.command("reports")
@click.option("--json", "as_json", is_flag=True)
@click.option("--since", default=None, help="ISO date/time, or e.g. 2h, 3d.")
@click.option("--limit", default=100, show_default=True)
@click.pass_context
def reports_command(ctx: click.Context, as_json: bool, since: str | None, limit: int) -> None:
    """List stored reports with their decisions, newest first."""
    rt = runtime(ctx)
    with rt.factory() as session:
        query = select(StoredReport).order_by(StoredReport.id.desc()).limit(limit)
        if since:
            query = query.where(StoredReport.created_at >= parse_when(since))
        rows = session.scalars(query).all()
        for row in rows:
            ref = f"INC-{row.incident_id}" if row.incident_id else "-"
            if as_json:
                echo_json(
                    {
                        "id": row.id,
                        "source": row.source,
                        "title": row.title,
                        "reporter": row.reporter,
                        "decision": row.decision,
                        "quadrant": row.quadrant,
                        "types": row.types,
                        "severity": row.severity,
                        "set_aside": row.set_aside,
                        "incident": ref if row.incident_id else None,
                        "created_at": row.created_at.isoformat(),
                        "golden": row.golden,
                        "reason": row.reason,
                    }
                )
            else:
                why = (row.set_aside and f"set aside: {row.set_aside}") or row.reason
                click.echo(
                    f"{row.id:>6}  {row.source:<8} {row.decision:<12} {ref:<8} "
                    f"{row.title[:60]}  ({why})"
                )
        counts = session.execute(
            select(RawMessage.status, func.count()).group_by(RawMessage.status)
        ).all()
        if not as_json:
            click.echo("raw messages: " + (", ".join(f"{s} {n}" for s, n in counts) or "none"))
