"""The dashboard's forms: each POST runs one lifecycle operation as the logged-in person.

The CSRF token was checked before a handler here runs (auth.login_required).
A refused operation (a LifecycleError) comes back as a message on the page
the person came from; nothing half-done is kept (one transaction each).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from core import lifecycle, pipeline
from core.db import transaction
from core.lifecycle import LifecycleError
from core.runtime import Runtime
from core.web import dashboard_notify as notify_view
from core.web.auth import safe_next
from core.web.dashboard_queries import checked_id, checked_ref

if TYPE_CHECKING:
    from core.web.dashboard import Dashboard

# (session, path params, form, actor) -> the message shown afterwards
Operation = Callable[[Session, dict[str, Any], FormData, str], str]
Handler = Callable[[Request, str], Awaitable[Response]]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _accept(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    incident = lifecycle.accept(s, p["ref"], actor, _text(form, "reason"))
    return f"{incident.ref} accepted: it is live"


def _decline(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    incident = lifecycle.decline(s, p["ref"], actor, _text(form, "reason"))
    return f"{incident.ref} declined"


def _merge(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    into = _text(form, "into")
    if not into:
        raise LifecycleError("merging needs the incident to merge into (INC-<n>)")
    target = lifecycle.merge(s, p["ref"], checked_ref(into), actor, _text(form, "reason"))
    return f"INC-{lifecycle.parse_ref(p['ref'])} merged into {target.ref}"


def _severity(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    incident = lifecycle.set_severity(
        s, p["ref"], _text(form, "severity"), actor, _text(form, "reason")
    )
    return f"{incident.ref} is now {incident.severity}"


def _update(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    lifecycle.post_update(s, p["ref"], _text(form, "text"), actor)
    return "update posted"


def _resolve(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    incident = lifecycle.resolve(s, p["ref"], actor, _text(form, "reason"))
    return f"{incident.ref} resolved"


def _close(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    incident = lifecycle.close(s, p["ref"], actor, _text(form, "reason"))
    return f"{incident.ref} closed"


def _declare(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    report = _text(form, "report_id")
    if report and not report.isdigit():
        raise LifecycleError(f"report {report!r} is not a report number")
    incident = lifecycle.declare(
        s,
        actor,
        title=_text(form, "title") or None,
        report_id=checked_id(int(report), "report") if report else None,
        reason=_text(form, "reason"),
        severity=_text(form, "severity") or None,
    )
    return f"{incident.ref} declared"


def _override(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    field, value = _text(form, "field"), _text(form, "value")
    reason = _text(form, "reason")
    if field == "decision" and value == "not_incident" and not reason:
        raise LifecycleError("saying a report is not an incident needs a reason")
    lifecycle.override(
        s, p["report_id"], field, None if value == "unknown" else value, actor, reason
    )
    return f"report {p['report_id']}: {field} set to {value}"


def _reprocess(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    count = pipeline.reprocess(s, [p["raw_id"]])
    if not count:
        raise LifecycleError(f"raw message {p['raw_id']} does not exist")
    return f"raw message {p['raw_id']} is queued again (the pipeline worker picks it up)"


def _resend(s: Session, p: dict[str, Any], form: FormData, actor: str) -> str:
    return notify_view.resend(s, p["message_id"], actor)


_BACK: dict[str, Callable[[dict[str, Any], Any], str]] = {
    "incident": lambda p, r: f"/incidents/INC-{lifecycle.parse_ref(p['ref'])}",
    "report": lambda p, r: f"/reports/{p['report_id']}",
    "quarantine": lambda p, r: "/quarantine",
    "outbox": lambda p, r: "/outbox",
    "declared": lambda p, r: f"/incidents/{r}" if r else "/triage",
}
_ACTIONS: list[tuple[str, Operation, str]] = [
    ("/incidents/{ref:ref}/accept", _accept, "incident"),
    ("/incidents/{ref:ref}/decline", _decline, "incident"),
    ("/incidents/{ref:ref}/merge", _merge, "incident"),
    ("/incidents/{ref:ref}/severity", _severity, "incident"),
    ("/incidents/{ref:ref}/update", _update, "incident"),
    ("/incidents/{ref:ref}/resolve", _resolve, "incident"),
    ("/incidents/{ref:ref}/close", _close, "incident"),
    ("/declare", _declare, "declared"),
    ("/reports/{report_id:rowid}/override", _override, "report"),
    ("/raw/{raw_id:rowid}/reprocess", _reprocess, "quarantine"),
    ("/outbox/{message_id:rowid}/resend", _resend, "outbox"),
]


def action_routes(rt: Runtime, board: Dashboard) -> list[tuple[str, Handler]]:
    return [(path, _handler(rt, op, back)) for path, op, back in _ACTIONS]


def _handler(rt: Runtime, operation: Operation, back: str) -> Handler:
    async def handle(request: Request, actor: str) -> Response:
        form = await request.form()  # already parsed (and cached) by the CSRF check
        params = dict(request.path_params)

        def work() -> tuple[str, str | None]:
            with transaction(rt.factory) as session:
                message = operation(session, params, form, actor)
                ref = message.split(" ", 1)[0] if message.startswith("INC-") else None
                return message, ref

        try:
            message, ref = await run_in_threadpool(work)
            request.session["flash"] = {"kind": "ok", "text": message}
            target = _BACK[back](params, ref)
        except (LifecycleError, ValueError) as exc:
            request.session["flash"] = {"kind": "error", "text": str(exc)}
            try:
                target = _BACK[back](params, None)
            except (LifecycleError, ValueError):
                target = "/incidents"
        explicit = _text(form, "back")
        return RedirectResponse(safe_next(explicit) if explicit else target, status_code=303)

    return handle
