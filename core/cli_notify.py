"""Notification commands: the outbox, re-sending dead letters, digests, delivery."""

from __future__ import annotations

import asyncio
import contextlib

import click
from sqlalchemy import select

from core.cli_common import echo_json, runtime
from core.models_notify import DEAD, OutboxMessage
from core.outbox import install_runtime


@click.group("outbox", invoke_without_command=True)
@click.option("--dead", is_flag=True, help="Only dead letters (attempts used up or refused).")
@click.option("--limit", default=50, show_default=True, help="Newest rows to show.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
@click.pass_context
def outbox_group(ctx: click.Context, dead: bool, limit: int, as_json: bool) -> None:
    """List outbox messages (newest first) with their delivery state."""
    if ctx.invoked_subcommand is not None:
        return
    rt = runtime(ctx)
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if dead:
        query = query.where(OutboxMessage.state == DEAD)
    with rt.factory() as session:
        rows = session.scalars(query).all()
    if not rows:
        click.echo("no dead letters" if dead else "the outbox is empty")
        return
    for row in rows:
        if as_json:
            echo_json(
                {
                    "id": row.id,
                    "kind": row.kind,
                    "incident": f"INC-{row.incident_id}" if row.incident_id else None,
                    "audience": row.audience,
                    "channel": row.channel,
                    "recipient": row.recipient,
                    "state": row.state,
                    "attempts": row.attempts,
                    "next_attempt_at": row.next_attempt_at,
                    "last_error": row.last_error,
                    "message_id": row.message_id,
                }
            )
            continue
        ref = f"INC-{row.incident_id}" if row.incident_id else "-"
        line = (
            f"{row.id:>6}  {row.state:<7} {row.attempts:>2}x  {row.kind:<16} {ref:<8} "
            f"{row.channel:<8} {row.recipient}"
        )
        click.echo(line)
        if row.last_error and row.state != "sent":
            click.echo(f"        last error: {row.last_error[:200]}")


@outbox_group.command("resend")
@click.argument("ids", nargs=-1, type=int)
@click.option("--dead", is_flag=True, help="Every dead letter.")
@click.pass_context
def resend_command(ctx: click.Context, ids: tuple[int, ...], dead: bool) -> None:
    """Queue outbox messages again (by id, or --dead for all dead letters)."""
    from notify.delivery import resend

    if not ids and not dead:
        raise click.UsageError("give outbox ids or --dead")
    count = resend(runtime(ctx), list(ids), dead)
    click.echo(f"{count} message(s) queued again")


@click.command("digest")
@click.argument("audience")
@click.option("--dry-run", "mode", flag_value="dry-run", default=True, help="Print it (default).")
@click.option("--send", "mode", flag_value="send", help="Queue it for the audience now.")
@click.pass_context
def digest_command(ctx: click.Context, audience: str, mode: str) -> None:
    """Render the digest for AUDIENCE as of now; --send queues it to the audience."""
    from notify import digests

    rt = runtime(ctx)
    found = rt.config.notify.audience(audience)
    if found is None:
        names = ", ".join(a.name for a in rt.config.notify.audiences) or "none configured"
        raise click.UsageError(f"unknown audience {audience!r} (audiences: {names})")
    if mode == "send":
        count = digests.send_now(rt, found)
        click.echo(f"digest for {audience} queued: {count} message(s)")
        return
    click.echo(digests.dry_run(rt, found), nl=False)


@click.group("notify")
def notify_group() -> None:
    """Notification delivery."""


@notify_group.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now, then stop.")
@click.pass_context
def deliver_command(ctx: click.Context, once: bool) -> None:
    """Send due outbox messages (over SMTP, Telegram, webhooks, or into var/outbox)."""
    from notify.delivery import Delivery, telegram_channel

    rt = runtime(ctx)
    install_runtime(rt)
    delivery = Delivery(rt, telegram=telegram_channel(rt))
    if once:
        stats = delivery.deliver_due()
        click.echo(f"sent {stats.sent}, retrying {stats.retried}, dead {stats.dead}")
        for error in stats.errors[:20]:
            click.echo(f"  {error}", err=True)
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(delivery.run(asyncio.Event()))


@notify_group.command("check")
@click.pass_context
def check_command(ctx: click.Context) -> None:
    """Render every template against a sample: errors name the template and line."""
    from notify.render import Renderer, RenderError

    rt = runtime(ctx)
    try:
        count = Renderer(rt.config.notify.templates_folder).check()
    except RenderError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{count} templates render")


COMMANDS = (outbox_group, digest_command, notify_group)
