"""The REST API under /api/v1: incidents and reports as JSON, the lifecycle as POSTs.

Callers authenticate with a bearer API token (`[web] api_tokens_env` or
`api_tokens_file`); on loopback with no users and no tokens it is open.
Every error is JSON `{"error": "..."}` with a 4xx code that says what kind.
The document at /api/v1/openapi.json (api_openapi.py) lists every route.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core import lifecycle
from core.db import transaction
from core.lifecycle import LifecycleError
from core.models import Incident, StoredReport
from core.outbox import install_runtime
from core.runtime import Runtime
from core.web import dashboard_queries as q
from core.web.api_openapi import openapi_document
from core.web.auth import Auth, bearer_actor, load_auth

PREFIX = "/api/v1"
MAX_BODY = 256 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _status_for(error: LifecycleError) -> int:
    text = str(error)
    if "does not exist" in text:
        return 404
    if text.startswith("cannot") or "already belongs" in text:
        return 409  # the incident is in a state that does not allow it
    return 422  # a value that is not acceptable


def incident_json(incident: Incident, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ref": incident.ref,
        "id": incident.id,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "types": list(incident.types),
        "quadrant": incident.quadrant,
        "opened_at": incident.opened_at.isoformat(),
        "last_activity_at": incident.last_activity_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "merged_into": f"INC-{incident.merged_into_id}" if incident.merged_into_id else None,
        "decline_reason": incident.decline_reason,
    }
    if detail:
        data["reports"] = [report_json(r) for r in incident.reports]
        data["timeline"] = [
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "actor": e.actor,
                "reason": e.reason,
                "data": e.data,
            }
            for e in incident.events
        ]
    return data


def report_json(report: StoredReport, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": report.id,
        "raw_id": report.raw_id,
        "source": report.source,
        "title": report.title,
        "reporter": report.reporter,
        "created_at": report.created_at.isoformat(),
        "decision": report.decision,
        "quadrant": report.quadrant,
        "planned": report.planned,
        "urgent": report.urgent,
        "types": list(report.types),
        "severity": report.severity,
        "golden": report.golden,
        "reason": report.reason,
        "set_aside": report.set_aside,
        "incident": f"INC-{report.incident_id}" if report.incident_id else None,
    }
    if detail:
        data["text"] = report.text
        data["fields"] = report.fields
        data["changes"] = [
            {
                "field": c.field,
                "old": c.old_value,
                "new": c.new_value,
                "actor": c.actor,
                "reason": c.reason,
                "at": c.at.isoformat(),
            }
            for c in report.changes
        ]
    return data


def _page_json(page: q.Page, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "total": page.total, "page": page.page, "pages": page.pages}


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def _string(body: dict[str, Any], name: str, required: bool = False) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ApiError(422, f"{name!r} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ApiError(422, f"{name!r} is required")
    return value.strip()


Endpoint = Callable[[Request], Awaitable[Response]]
Work = Callable[[Session, Request, dict[str, Any], str], tuple[int, Any]]


class Api:
    def __init__(self, rt: Runtime, auth: Auth) -> None:
        self.rt, self.auth = rt, auth

    def endpoint(self, work: Work, write: bool = False) -> Endpoint:
        async def handle(request: Request) -> Response:
            actor = bearer_actor(request, self.auth)
            if actor is None:
                return JSONResponse(
                    {"error": "a valid bearer API token is required (Authorization: Bearer ...)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            try:
                body = await _body(request) if write else {}

                def run() -> tuple[int, Any]:
                    factory = self.rt.factory
                    if write:
                        with transaction(factory) as session:
                            return work(session, request, body, actor)
                    with factory() as session:
                        return work(session, request, body, actor)

                status, payload = await run_in_threadpool(run)
            except ApiError as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except LifecycleError as exc:
                return JSONResponse({"error": str(exc)}, status_code=_status_for(exc))
            return JSONResponse(payload, status_code=status)

        return handle


def _ref(request: Request) -> str:
    try:
        return q.checked_ref(str(request.path_params["ref"]))
    except LifecycleError as exc:
        raise ApiError(404, str(exc)) from None


def _incident(session: Session, ref: str) -> dict[str, Any]:
    return incident_json(lifecycle.get_incident(session, ref), detail=True)


def list_incidents(s: Session, r: Request, b: dict[str, Any], actor: str) -> tuple[int, Any]:
    _check_filters(r, ("status", "severity", "type", "source", "q", "page"))
    page = q.list_incidents(s, q.IncidentFilter.from_query(r.query_params))
    items = [
        {
            "ref": f"INC-{row.id}",
            "id": row.id,
            "title": row.title,
            "status": row.status,
            "severity": row.severity,
            "types": list(row.types),
            "opened_at": row.opened_at.isoformat(),
            "last_activity_at": row.last_activity_at.isoformat(),
            "reports": row.reports,
        }
        for row in page.rows
    ]
    return 200, _page_json(page, items)


_ALLOWED_VALUES = {
    "status": q.STATUSES,
    "source": q.SOURCES,
    "decision": q.DECISIONS,
    "quadrant": q.QUADRANTS,
}


def _check_filters(r: Request, names: tuple[str, ...]) -> None:
    from core.triage.verdict import SEVERITIES, TYPES

    allowed = {**_ALLOWED_VALUES, "severity": SEVERITIES, "type": TYPES}
    for name, value in r.query_params.items():
        if name not in names:
            raise ApiError(400, f"unknown query parameter {name!r} (known: {', '.join(names)})")
        if name in allowed and value not in allowed[name]:
            raise ApiError(400, f"{name}={value!r} is not one of {', '.join(allowed[name])}")
        if name == "page" and not (value.isdigit() and int(value) >= 1):
            raise ApiError(400, f"page={value!r} must be a whole number >= 1")


def get_incident(s: Session, r: Request, b: dict[str, Any], actor: str) -> tuple[int, Any]:
    return 200, _incident(s, _ref(r))


def declare(s: Session, r: Request, b: dict[str, Any], actor: str) -> tuple[int, Any]:
    report_id = b.get("report_id")
    if report_id is not None and (isinstance(report_id, bool) or not isinstance(report_id, int)):
        raise ApiError(422, "'report_id' must be a whole number")
    if report_id is not None:
        q.checked_id(report_id, "report")
    severity = _string(b, "severity") or None
    incident = lifecycle.declare(
        s,
        actor,
        title=_string(b, "title") or None,
        report_id=report_id,
        reason=_string(b, "reason"),
        severity=severity,
    )
    return 201, incident_json(incident)


def _transition(operation: str) -> Work:
    def work(s: Session, r: Request, b: dict[str, Any], actor: str) -> tuple[int, Any]:
        ref = _ref(r)
        if operation == "accept":
            lifecycle.accept(s, ref, actor, _string(b, "reason"))
        elif operation == "decline":
            lifecycle.decline(s, ref, actor, _string(b, "reason", required=True))
        elif operation == "resolve":
            lifecycle.resolve(s, ref, actor, _string(b, "reason"))
        elif operation == "merge":
            into = _string(b, "into", required=True)
            target = lifecycle.merge(s, ref, q.checked_ref(into), actor, _string(b, "reason"))
            return 200, _incident(s, target.ref)  # where the reports are now
        elif operation == "severity":
            severity = _string(b, "severity", required=True)
            lifecycle.set_severity(s, ref, severity, actor, _string(b, "reason"))
        elif operation == "updates":
            lifecycle.post_update(s, ref, _string(b, "text", required=True), actor)
            s.flush()
            return 201, _incident(s, ref)
        return 200, _incident(s, ref)

    return work


def list_reports(s: Session, r: Request, b: dict[str, Any], actor: str) -> tuple[int, Any]:
    _check_filters(r, ("decision", "source", "quadrant", "q", "page"))
    page = q.list_reports(s, q.ReportFilter.from_query(r.query_params))
    return 200, _page_json(page, [report_json(x) for x in page.rows])


def _report(s: Session, r: Request) -> StoredReport:
    report = s.get(StoredReport, q.checked_id(r.path_params["report_id"], "report"))
    if report is None:
        raise ApiError(404, f"report {r.path_params['report_id']} does not exist")
    return report


def get_report(s: Session, r: Request, b: dict[str, Any], actor: str) -> tuple[int, Any]:
    return 200, report_json(_report(s, r), detail=True)


def override(s: Session, r: Request, b: dict[str, Any], actor: str) -> tuple[int, Any]:
    report = _report(s, r)
    field = _string(b, "field", required=True)
    value = b.get("value")
    if value is not None and not isinstance(value, str):
        raise ApiError(422, "'value' must be a string or null (unknown)")
    value = None if value in (None, "unknown") else value
    lifecycle.override(s, report.id, field, value, actor, _string(b, "reason"))
    s.flush()
    s.refresh(report)
    return 200, report_json(report, detail=True)


def api_routes(rt: Runtime) -> list[BaseRoute]:
    api = Api(rt, load_auth(rt.config.web))
    install_runtime(rt)  # changes made here write their notifications in the same transaction

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(rt.config.web.base_url))

    def route(path: str, work: Work, method: str = "GET") -> Route:
        return Route(PREFIX + path, api.endpoint(work, write=method == "POST"), methods=[method])

    ref = "/incidents/{ref}"
    return [
        Route(PREFIX + "/openapi.json", openapi, methods=["GET"]),
        route("/incidents", list_incidents),
        route("/incidents", declare, "POST"),
        route(ref, get_incident),
        route(ref + "/accept", _transition("accept"), "POST"),
        route(ref + "/decline", _transition("decline"), "POST"),
        route(ref + "/merge", _transition("merge"), "POST"),
        route(ref + "/severity", _transition("severity"), "POST"),
        route(ref + "/updates", _transition("updates"), "POST"),
        route(ref + "/resolve", _transition("resolve"), "POST"),
        route("/reports", list_reports),
        route("/reports/{report_id:int}", get_report),
        route("/reports/{report_id:int}/override", override, "POST"),
    ]
