"""Commands over incidents: list, show, and the lifecycle operations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from sqlalchemy import select

from core import lifecycle
from core.cli_common import actor_name, echo_json, runtime
from core.db import transaction
from core.lifecycle import LifecycleError
from core.models import Incident

_STATUSES = ("triage", "live", "resolved", "closed", "declined", "merged")


def _run(ctx: click.Context, action: Callable[..., Any], *args: Any) -> Any:
    rt = runtime(ctx)
    try:
        with transaction(rt.factory) as session:
            return action(session, *args)
    except LifecycleError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("incidents")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=click.Choice(_STATUSES), multiple=True)
@click.pass_context
def incidents_command(ctx: click.Context, as_json: bool, status: tuple[str, ...]) -> None:
    """List incidents, newest first."""
    rt = runtime(ctx)
    with rt.factory() as session:
        query = select(Incident).order_by(Incident.id.desc())
        if status:
            query = query.where(Incident.status.in_(status))
        incidents = session.scalars(query).all()
        if not incidents and not as_json:
            click.echo("no incidents" + (f" with status {', '.join(status)}" if status else ""))
        for incident in incidents:
            if as_json:
                echo_json(
                    {
                        "ref": incident.ref,
                        "title": incident.title,
                        "status": incident.status,
                        "severity": incident.severity,
                        "types": incident.types,
                        "opened_at": incident.opened_at.isoformat(),
                        "resolved_at": incident.resolved_at and incident.resolved_at.isoformat(),
                        "reports": len(incident.reports),
                    }
                )
            else:
                click.echo(
                    f"{incident.ref:<8} {incident.status:<9} {incident.severity} "
                    f"{len(incident.reports):>4} report(s)  {incident.title[:70]}"
                )


@click.command("show")
@click.argument("ref")
@click.pass_context
def show_command(ctx: click.Context, ref: str) -> None:
    """An incident's timeline, with each report's golden answers and evidence."""
    rt = runtime(ctx)
    with rt.factory() as session:
        try:
            incident = lifecycle.get_incident(session, ref)
        except LifecycleError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{incident.ref}  {incident.title}")
        click.echo(
            f"status {incident.status} · {incident.severity} · "
            f"{', '.join(incident.types) or 'no types'} · "
            f"opened {incident.opened_at:%Y-%m-%d %H:%M} UTC"
        )
        reports = {r.id: r for r in incident.reports}
        for event in incident.events:
            click.echo(f"\n{event.at:%Y-%m-%d %H:%M:%S}  {event.kind}  by {event.actor}")
            if event.reason:
                click.echo(f"    {event.reason}")
            report = reports.get(event.data.get("report_id", -1))
            if event.kind == "report_attached" and report is not None:
                click.echo(f"    report {report.id} ({report.source}): {report.title[:80]}")
                click.echo(f"    decision {report.decision}, {report.quadrant}: {report.reason}")
                for question, answer in report.golden.items():
                    value = {True: "yes", False: "no"}.get(answer.get("answer"), "unknown")
                    click.echo(f"      {question:<12}{value}")
                    for line in answer.get("evidence", []):
                        click.echo(f"          · {line}")


def _actor_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--as", "actor", default=None, help="Who is acting (default cli:$USER).")(
        func
    )


@click.command("declare")
@click.option("--report", "report_id", type=int, default=None, help="Declare from this report.")
@click.option("--title", default=None)
@click.option("--severity", default=None)
@click.option("--reason", default="")
@_actor_option
@click.pass_context
def declare_command(
    ctx: click.Context,
    report_id: int | None,
    title: str | None,
    severity: str | None,
    reason: str,
    actor: str | None,
) -> None:
    """Declare an incident, from a report or from scratch."""
    incident = _run(
        ctx,
        lambda s: lifecycle.declare(
            s, actor_name(actor), title=title, report_id=report_id, reason=reason, severity=severity
        ),
    )
    click.echo(f"declared {incident.ref}: {incident.title}")


def _simple(
    name: str, action: Callable[..., Incident], help_text: str, needs_reason: bool
) -> click.Command:
    # Click counts an explicit default=None as a value, so a required option gets none.
    reason_option = (
        click.option("--reason", required=True)
        if needs_reason
        else click.option("--reason", default="")
    )

    @click.command(name, help=help_text)
    @click.argument("ref")
    @reason_option
    @_actor_option
    @click.pass_context
    def command(ctx: click.Context, ref: str, reason: str, actor: str | None) -> None:
        incident = _run(ctx, lambda s: action(s, ref, actor_name(actor), reason))
        click.echo(f"{incident.ref} is now {incident.status}")

    return command


accept_command = _simple("accept", lifecycle.accept, "Accept an incident waiting in triage.", False)
decline_command = _simple(
    "decline", lifecycle.decline, "Decline an incident (reason required).", True
)
resolve_command = _simple("resolve", lifecycle.resolve, "Resolve a live incident.", False)
close_command = _simple("close", lifecycle.close, "Close a resolved incident.", False)


@click.command("merge")
@click.argument("ref")
@click.argument("into")
@click.option("--reason", default="")
@_actor_option
@click.pass_context
def merge_command(ctx: click.Context, ref: str, into: str, reason: str, actor: str | None) -> None:
    """Merge incident REF into INTO."""
    target = _run(ctx, lambda s: lifecycle.merge(s, ref, into, actor_name(actor), reason))
    click.echo(f"{ref.upper()} merged into {target.ref}")


@click.command("severity")
@click.argument("ref")
@click.argument("severity")
@click.option("--reason", default="")
@_actor_option
@click.pass_context
def severity_command(
    ctx: click.Context, ref: str, severity: str, reason: str, actor: str | None
) -> None:
    """Set an incident's severity (SEV1..SEV4)."""
    incident = _run(
        ctx, lambda s: lifecycle.set_severity(s, ref, severity.upper(), actor_name(actor), reason)
    )
    click.echo(f"{incident.ref} is now {incident.severity}")


@click.command("types")
@click.argument("ref")
@click.argument("types", nargs=-1)
@_actor_option
@click.pass_context
def types_command(ctx: click.Context, ref: str, types: tuple[str, ...], actor: str | None) -> None:
    """Set an incident's types."""
    incident = _run(ctx, lambda s: lifecycle.set_types(s, ref, list(types), actor_name(actor)))
    click.echo(f"{incident.ref} types: {', '.join(incident.types) or '-'}")


@click.command("update")
@click.argument("ref")
@click.argument("text")
@_actor_option
@click.pass_context
def update_command(ctx: click.Context, ref: str, text: str, actor: str | None) -> None:
    """Post a stakeholder update on an incident."""
    _run(ctx, lambda s: lifecycle.post_update(s, ref, text, actor_name(actor)))
    click.echo(f"update posted on {ref.upper()}")


@click.command("override")
@click.argument("report_id", type=int)
@click.argument("field")
@click.argument("value")
@click.option("--reason", default="")
@_actor_option
@click.pass_context
def override_command(
    ctx: click.Context, report_id: int, field: str, value: str, reason: str, actor: str | None
) -> None:
    """Override a report's decision or one golden answer (yes / no / unknown)."""
    answer = None if value == "unknown" else value
    _run(ctx, lambda s: lifecycle.override(s, report_id, field, answer, actor_name(actor), reason))
    click.echo(f"report {report_id}: {field} set to {value}")


COMMANDS = [
    incidents_command,
    show_command,
    declare_command,
    accept_command,
    decline_command,
    merge_command,
    resolve_command,
    close_command,
    severity_command,
    types_command,
    update_command,
    override_command,
]
