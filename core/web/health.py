"""/healthz (the process answers), /readyz (database reachable, schema current), /metrics.

Every metric is counted from the database when Prometheus scrapes, so web
and worker processes on one PostgreSQL report the same figures and a
restart loses nothing. The processing latency histogram too: it is built
from processed_at - received_at of every processed raw message (bucketed in
SQL), so it only grows, like a histogram should.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select, text
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.migrate import current_revision, head_revision
from core.models import PARKED, PENDING, PROCESSED, QUARANTINED, Incident, RawMessage, StoredReport
from core.models_notify import DEAD, OutboxMessage
from core.models_notify import PENDING as OUTBOX_PENDING
from core.runtime import Runtime
from core.web.auth import bearer_actor, load_auth

LATENCY_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 7200.0)


def _latency_seconds(engine: Engine) -> Any:
    if engine.dialect.name == "sqlite":
        return (
            func.julianday(RawMessage.processed_at) - func.julianday(RawMessage.received_at)
        ) * 86400.0
    return func.extract("epoch", RawMessage.processed_at - RawMessage.received_at)


class DatabaseCollector(Collector):
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        with self.rt.factory() as session:
            inputs = CounterMetricFamily(
                "intake_inputs", "Inputs stored, by source", labels=["source"]
            )
            for source, count in session.execute(
                select(RawMessage.source, func.count()).group_by(RawMessage.source)
            ):
                inputs.add_metric([source], count)
            yield inputs

            decisions = CounterMetricFamily(
                "intake_decisions", "Reports triaged, by decision", labels=["decision"]
            )
            for decision, count in session.execute(
                select(StoredReport.decision, func.count()).group_by(StoredReport.decision)
            ):
                decisions.add_metric([decision], count)
            yield decisions

            statuses = dict(
                session.execute(
                    select(RawMessage.status, func.count()).group_by(RawMessage.status)
                ).all()
            )
            quarantined = GaugeMetricFamily(
                "intake_quarantined",
                "Raw messages waiting in quarantine (retrying) or parked (waiting for a person)",
                labels=["status"],
            )
            for status in (QUARANTINED, PARKED):
                quarantined.add_metric([status], statuses.get(status, 0))
            yield quarantined

            depth = GaugeMetricFamily("intake_queue_depth", "Work waiting", labels=["queue"])
            depth.add_metric(["pending_raw"], statuses.get(PENDING, 0))
            outbox = dict(
                session.execute(
                    select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
                ).all()
            )
            depth.add_metric(["outbox_pending"], outbox.get(OUTBOX_PENDING, 0))
            yield depth

            incidents = GaugeMetricFamily(
                "intake_incidents", "Incidents by status", labels=["status"]
            )
            for status, count in session.execute(
                select(Incident.status, func.count()).group_by(Incident.status)
            ):
                incidents.add_metric([status], count)
            yield incidents

            yield from self._delivery(session, outbox.get(DEAD, 0))

            yield self._latency(session)

    def _delivery(self, session: Any, dead: int) -> Iterator[Metric]:
        # Attempts are counted on the rows; a re-send starts a row's count again.
        attempts = session.scalar(select(func.coalesce(func.sum(OutboxMessage.attempts), 0)))
        family = CounterMetricFamily(
            "intake_delivery_attempts", "Delivery attempts made (outbox rows' attempt counts)"
        )
        family.add_metric([], attempts or 0)
        yield family
        family = CounterMetricFamily(
            "intake_delivery_failures", "Notifications that gave up after retrying (dead letters)"
        )
        family.add_metric([], dead)
        yield family

    def _latency(self, session: Any) -> Metric:
        seconds = _latency_seconds(self.rt.engine)
        done = (RawMessage.status == PROCESSED) & RawMessage.processed_at.is_not(None)
        columns = [
            func.sum(case((seconds <= bound, 1), else_=0)).label(f"le{i}")
            for i, bound in enumerate(LATENCY_BUCKETS)
        ]
        row = session.execute(
            select(func.count(), func.coalesce(func.sum(seconds), 0.0), *columns).where(done)
        ).one()
        count, total = int(row[0]), float(row[1] or 0.0)
        buckets = [(str(bound), int(row[2 + i] or 0)) for i, bound in enumerate(LATENCY_BUCKETS)]
        buckets.append(("+Inf", count))
        family = HistogramMetricFamily(
            "intake_processing_latency_seconds",
            "Seconds from storing an input to the end of its processing",
        )
        family.add_metric([], buckets, sum_value=total)
        return family


def health_routes(rt: Runtime) -> list[BaseRoute]:
    auth = load_auth(rt.config.web)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(rt))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def ready() -> tuple[bool, dict[str, Any]]:
        try:
            with rt.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current, head = current_revision(rt.engine), head_revision()
        except Exception as exc:  # any failure to reach the database means not ready
            first_line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            reason = f"unreachable: {type(exc).__name__}: {first_line}"
            return False, {"status": "unavailable", "database": reason}
        body = {"status": "ok", "database": "ok", "schema": current, "head": head}
        if current != head:
            body.update(
                status="unavailable",
                error=f"schema at {current}, head is {head}: run `intake db upgrade`",
            )
            return False, body
        return True, body

    async def readyz(request: Request) -> Response:
        ok, body = await run_in_threadpool(ready)
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        if bearer_actor(request, auth) is None:  # beyond loopback, scrapes carry an API token
            return JSONResponse({"error": "a bearer API token is required"}, status_code=401)
        payload = await run_in_threadpool(generate_latest, registry)
        return Response(payload, media_type="text/plain; version=0.0.4; charset=utf-8")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
