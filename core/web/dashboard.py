"""The dashboard: server-rendered pages (Jinja2, autoescaped) over the incidents and reports.

Every page reads in a worker thread with its own session and renders there,
so a slow query never stalls the event loop the webhooks share. Every form
carries the session's CSRF token; actions go through core/lifecycle.py with
the logged-in person as the actor (see dashboard_actions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from core import lifecycle
from core.models import RawMessage, StoredReport, now
from core.outbox import install_runtime
from core.runtime import Runtime
from core.triage.verdict import QUESTIONS, SEVERITIES, TYPES
from core.web import dashboard_notify as notify_view
from core.web import dashboard_queries as q
from core.web.auth import (
    Auth,
    csrf_ok,
    csrf_token,
    load_auth,
    login_required,
    safe_next,
    session_middleware,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "web"
QUESTION_TEXT = {
    "impact": "Risk of negative impact on the product, business or customers?",
    "urgent": "Needs an urgent response, outside planned work?",
    "coordinate": "Needs coordination between several people or departments?",
    "communicate": "Must the organisation or customers be told?",
    "review": "Will we want to review it afterwards?",
}


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates do not change under a running service: no stat per page
    )
    env.globals.update(
        QUESTIONS=QUESTIONS,
        QUESTION_TEXT=QUESTION_TEXT,
        SEVERITIES=SEVERITIES,
        TYPES=TYPES,
        STATUSES=q.STATUSES,
        SOURCES=q.SOURCES,
        DECISIONS=q.DECISIONS,
        QUADRANTS=q.QUADRANTS,
        sentry_link=q.sentry_link,
        telegram_link=q.telegram_link,
    )
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M") if value else ""
    env.filters["answer"] = lambda value: {True: "yes", False: "no"}.get(value, "unknown")
    return env


Loader = Callable[[Session], dict[str, Any]]

# The pages need no script at all, so the browser is told to run none: even text that
# escaped escaping could not execute. Styles are inline; forms post only here.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page_response(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


class Dashboard:
    def __init__(self, rt: Runtime, auth: Auth) -> None:
        self.rt, self.auth = rt, auth
        self.env = make_environment()

    async def render(
        self, request: Request, actor: str, name: str, load: Loader, status: int = 200
    ) -> Response:
        base = {
            "actor": actor,
            "open": self.auth.open,
            "csrf": csrf_token(request),
            "flash": request.session.pop("flash", None),
            "path": request.url.path,
        }

        def work() -> str | None:
            with self.rt.factory() as session:
                try:
                    context = load(session)
                except LookupError:
                    return None
                return self.env.get_template(name).render(**base, **context)

        html = await run_in_threadpool(work)
        if html is None:
            return await self.not_found(request, actor)
        return page_response(html, status)

    async def not_found(self, request: Request, actor: str) -> Response:
        html = self.env.get_template("not_found.html").render(
            actor=actor, open=self.auth.open, csrf=csrf_token(request), path=request.url.path
        )
        return page_response(html, 404)

    # -- pages

    async def home(self, request: Request, actor: str) -> Response:
        return RedirectResponse("/incidents", status_code=303)

    async def incidents(self, request: Request, actor: str) -> Response:
        f = q.IncidentFilter.from_query(request.query_params)
        return await self.render(
            request,
            actor,
            "incidents.html",
            lambda s: {"page": q.list_incidents(s, f), "f": f},
        )

    async def incident(self, request: Request, actor: str) -> Response:
        ref = request.path_params["ref"]

        def load(session: Session) -> dict[str, Any]:
            try:
                incident = lifecycle.get_incident(session, ref)
            except lifecycle.LifecycleError as exc:
                raise LookupError(ref) from exc
            return {
                "incident": incident,
                "updates": [e for e in incident.events if e.kind == "update_posted"],
                "notifications": notify_view.for_incident(session, incident.id),
            }

        return await self.render(request, actor, "incident.html", load)

    async def triage(self, request: Request, actor: str) -> Response:
        return await self.render(
            request, actor, "triage.html", lambda s: {"queue": q.triage_queue(s)}
        )

    async def reports(self, request: Request, actor: str) -> Response:
        f = q.ReportFilter.from_query(request.query_params)
        return await self.render(
            request, actor, "reports.html", lambda s: {"page": q.list_reports(s, f), "f": f}
        )

    async def report(self, request: Request, actor: str) -> Response:
        report_id = request.path_params["report_id"]

        def load(session: Session) -> dict[str, Any]:
            report = session.get(StoredReport, report_id)
            if report is None:
                raise LookupError(report_id)
            return {"report": report}

        return await self.render(request, actor, "report.html", load)

    async def quarantine(self, request: Request, actor: str) -> Response:
        return await self.render(
            request, actor, "quarantine.html", lambda s: {"messages": q.quarantined(s)}
        )

    async def raw_download(self, request: Request, actor: str) -> Response:
        raw_id = request.path_params["raw_id"]

        def load() -> tuple[bytes, str] | None:
            with self.rt.factory() as session:
                raw = session.get(RawMessage, raw_id)
                return (raw.body, raw.source) if raw else None

        found = await run_in_threadpool(load)
        if found is None:
            return await self.not_found(request, actor)
        body, source = found
        suffix = ".eml" if source == "email" else ".json"
        return Response(
            body,
            media_type="application/octet-stream",  # never rendered by the browser
            headers={
                "Content-Disposition": f'attachment; filename="raw-{raw_id}{suffix}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def grid(self, request: Request, actor: str) -> Response:
        days = q._page(request.query_params.get("days")) if request.query_params.get("days") else 0

        def load(session: Session) -> dict[str, Any]:
            since = now() - timedelta(days=days) if days else None
            return {"counts": q.quadrant_counts(session, since), "days": days}

        return await self.render(request, actor, "grid.html", load)

    async def outbox(self, request: Request, actor: str) -> Response:
        return await self.render(request, actor, "outbox.html", notify_view.outbox_page)

    async def digests(self, request: Request, actor: str) -> Response:
        audience = request.query_params.get("audience", "")
        return await self.render(
            request,
            actor,
            "digests.html",
            lambda s: notify_view.digest_page(s, self.rt, audience),
        )

    # -- login

    async def login_form(self, request: Request) -> Response:
        if self.auth.open:
            return RedirectResponse("/incidents", status_code=303)
        html = self.env.get_template("login.html").render(
            actor=None,
            open=False,
            csrf=csrf_token(request),
            next=safe_next(request.query_params.get("next")),
            error=request.session.pop("login_error", None),
            path="/login",
        )
        return page_response(html)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        target = safe_next(str(form.get("next") or "/"))
        if not csrf_ok(request, form.get("csrf")):
            request.session["login_error"] = "The form expired; please try again."
            return RedirectResponse(f"/login?next={target}", status_code=303)
        name, password = str(form.get("name") or ""), str(form.get("password") or "")
        ok = await run_in_threadpool(self.auth.verify_password, name, password)
        if not ok:
            request.session["login_error"] = "Wrong name or password."
            return RedirectResponse(f"/login?next={target}", status_code=303)
        request.session.clear()  # a new session on login: nothing carried over from before
        request.session["user"] = name
        csrf_token(request)
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request, actor: str) -> Response:
        request.session.clear()
        return RedirectResponse("/login" if not self.auth.open else "/", status_code=303)


def dashboard_routes(rt: Runtime) -> list[BaseRoute]:
    from core.web.dashboard_actions import action_routes

    auth = load_auth(rt.config.web)
    install_runtime(rt)  # actions here write their notifications in the same transaction
    board = Dashboard(rt, auth)
    middleware = session_middleware(auth)

    def page(path: str, handler: Any, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route(
            path,
            login_required(auth, handler),
            methods=list(methods),
            middleware=middleware,
        )

    routes: list[BaseRoute] = [
        page("/", board.home),
        page("/incidents", board.incidents),
        page("/incidents/{ref:ref}", board.incident),
        page("/triage", board.triage),
        page("/reports", board.reports),
        page("/reports/{report_id:rowid}", board.report),
        page("/quarantine", board.quarantine),
        page("/raw/{raw_id:rowid}/download", board.raw_download),
        page("/grid", board.grid),
        page("/outbox", board.outbox),
        page("/digests", board.digests),
        page("/logout", board.logout, ("POST",)),
        Route("/login", board.login_form, methods=["GET"], middleware=middleware),
        Route("/login", board.login, methods=["POST"], middleware=middleware),
    ]
    for path, handler in action_routes(rt, board):
        routes.append(page(path, handler, ("POST",)))
    return routes
