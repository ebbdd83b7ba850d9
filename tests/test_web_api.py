"""The REST API: the OpenAPI document lists every route, each route does what it says, errors are 4xx JSON."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.routing import Route

from core import lifecycle
from core.models import StoredReport, VerdictChange
from core.triage.verdict import QUESTIONS
from tests.helpers import tx
from tests.web_helpers import app_for, client, runtime, seed

pytestmark = pytest.mark.anyio


def _api_routes(app: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/v1"):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            found.setdefault(path, set()).update(
                m.lower() for m in route.methods or () if m != "HEAD"
            )
    return found


async def test_openapi_document_lists_every_route(db_url: str, tmp_path: Path) -> None:
    app = app_for(runtime(db_url, tmp_path))
    async with client(app) as c:
        doc = (await c.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    routes = _api_routes(app)
    documented = {path: set(ops) for path, ops in doc["paths"].items()}
    assert documented == routes
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (method, path)
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path
    # Every $ref points at a schema that exists.
    text = json.dumps(doc)
    for ref in re.findall(r'"#/components/schemas/(\w+)"', text):
        assert ref in doc["components"]["schemas"]


async def test_the_api_does_what_it_says(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path)
    seed(rt, broken=False)
    with tx(rt) as session:
        waiting = lifecycle.open_incident(
            session, "Printer on fire", "rule:triage", "r", status="triage"
        )
        spam = lifecycle.open_incident(session, "Spam", "rule:triage", "r", status="triage")
        loose = session.scalars(
            select(StoredReport).where(StoredReport.incident_id.is_(None)).order_by(StoredReport.id)
        ).first()
        assert loose is not None
    async with client(app_for(rt)) as c:
        listing = (await c.get("/api/v1/incidents")).json()
        assert listing["total"] >= 3 and listing["items"][0]["ref"] == spam.ref
        only = (await c.get("/api/v1/incidents", params={"status": "triage"})).json()
        assert {i["status"] for i in only["items"]} == {"triage"}
        found = (await c.get("/api/v1/incidents", params={"q": "printer on"})).json()
        assert [i["ref"] for i in found["items"]] == [waiting.ref]

        detail = (await c.get(f"/api/v1/incidents/{waiting.ref}")).json()
        assert detail["title"] == "Printer on fire" and detail["timeline"][0]["kind"] == "declared"

        r = await c.post(f"/api/v1/incidents/{waiting.ref}/accept", json={"reason": "real"})
        assert r.status_code == 200 and r.json()["status"] == "live"
        r = await c.post(f"/api/v1/incidents/{spam.ref}/decline", json={"reason": "bulk mail"})
        assert r.json()["status"] == "declined" and r.json()["decline_reason"] == "bulk mail"
        r = await c.post(f"/api/v1/incidents/{waiting.ref}/severity", json={"severity": "SEV1"})
        assert r.json()["severity"] == "SEV1"
        r = await c.post(f"/api/v1/incidents/{waiting.ref}/updates", json={"text": "Fire out"})
        assert r.status_code == 201 and r.json()["timeline"][-1]["reason"] == "Fire out"
        made = await c.post("/api/v1/incidents", json={"report_id": loose.id, "severity": "SEV2"})
        assert made.status_code == 201 and made.json()["severity"] == "SEV2"
        new_ref = made.json()["ref"]
        r = await c.post(f"/api/v1/incidents/{new_ref}/merge", json={"into": waiting.ref})
        assert r.json()["ref"] == waiting.ref
        assert loose.id in [rep["id"] for rep in r.json()["reports"]]
        r = await c.post(f"/api/v1/incidents/{waiting.ref}/resolve", json={})
        assert r.json()["status"] == "resolved" and r.json()["resolved_at"]

        reports = (await c.get("/api/v1/reports", params={"decision": "not_incident"})).json()
        assert reports["items"] and {x["decision"] for x in reports["items"]} == {"not_incident"}
        one = (await c.get(f"/api/v1/reports/{loose.id}")).json()
        assert one["text"] and set(one["golden"]) == set(QUESTIONS)
        r = await c.post(
            f"/api/v1/reports/{loose.id}/override",
            json={"field": "communicate", "value": "no", "reason": "internal only"},
        )
        assert r.status_code == 200 and r.json()["golden"]["communicate"]["answer"] is False
        assert r.json()["changes"][-1]["actor"] == "api:local"
    with rt.factory() as session:
        change = session.scalars(
            select(VerdictChange).where(VerdictChange.report_id == loose.id)
        ).one()
        assert (change.field, change.new_value, change.reason) == (
            "communicate",
            "no",
            "internal only",
        )
        incident = lifecycle.get_incident(session, waiting.ref)
        actors = {e.actor for e in incident.events if e.kind != "declared"}
        assert actors == {"api:local"}


async def test_errors_are_json_with_4xx_codes(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path)
    with tx(rt) as session:
        live = lifecycle.open_incident(session, "Live one", "rule:triage", "r", status="live")
    async with client(app_for(rt)) as c:
        cases = [
            (await c.get("/api/v1/incidents/INC-999"), 404, "does not exist"),
            (await c.get("/api/v1/incidents/nonsense"), 404, "not an incident reference"),
            (await c.get("/api/v1/reports/999"), 404, "does not exist"),
            (await c.get("/api/v1/incidents", params={"status": "x"}), 400, "status='x'"),
            (await c.get("/api/v1/incidents", params={"color": "red"}), 400, "unknown query"),
            (await c.get("/api/v1/incidents", params={"page": "0"}), 400, "page"),
            (await c.post(f"/api/v1/incidents/{live.ref}/accept", json={}), 409, "cannot accept"),
            (await c.post(f"/api/v1/incidents/{live.ref}/decline", json={}), 422, "'reason'"),
            (
                await c.post(f"/api/v1/incidents/{live.ref}/merge", json={"into": live.ref}),
                409,
                "itself",
            ),
            (
                await c.post(f"/api/v1/incidents/{live.ref}/severity", json={"severity": "SEV9"}),
                422,
                "SEV9",
            ),
            (await c.post("/api/v1/incidents", content=b"{not json"), 400, "not valid JSON"),
            (await c.post("/api/v1/incidents", json=[1, 2]), 400, "JSON object"),
            (await c.post("/api/v1/incidents", json={}), 422, "title or a report"),
            (await c.post("/api/v1/incidents", json={"title": 5}), 422, "must be a string"),
            (await c.post("/api/v1/incidents", json={"report_id": "7"}), 422, "whole number"),
        ]
    for response, status, words in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert words in response.json()["error"], response.json()


_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["title", "reason", "into", "severity", "text", "field", "value", "report_id"]
            )
            | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=6,
)
_POSTS = ["accept", "decline", "merge", "severity", "updates", "resolve"]


def test_no_body_or_query_makes_a_5xx(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path)
    with tx(rt) as session:
        lifecycle.open_incident(session, "A", "rule:triage", "r", status="live")
        lifecycle.open_incident(session, "B", "rule:triage", "r", status="triage")
    loop = asyncio.new_event_loop()
    c = client(app_for(rt))
    try:

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(
            body=_ANY_JSON,
            action=st.sampled_from(_POSTS),
            ref=st.sampled_from(["INC-1", "INC-2", "2", "INC-x", "INC-99999999999999999999"]),
            params=st.dictionaries(
                st.sampled_from(["status", "q", "page", "type", "source", "severity", "zzz"]),
                st.text(max_size=8),
                max_size=3,
            ),
        )
        def check(body: Any, action: str, ref: str, params: dict[str, str]) -> None:
            async def send() -> list[Any]:
                return [
                    await c.post(f"/api/v1/incidents/{ref}/{action}", json=body),
                    await c.post("/api/v1/incidents", json=body),
                    await c.post("/api/v1/reports/1/override", json=body),
                    await c.get("/api/v1/incidents", params=params),
                    await c.get("/api/v1/reports", params=params),
                    await c.get(f"/api/v1/incidents/{ref}"),
                    await c.get("/api/v1/reports/99999999999999999999"),
                ]

            for response in loop.run_until_complete(send()):
                assert response.status_code < 500, (response.request.url, body, response.text)
                if response.headers["content-type"] == "application/json":
                    assert "error" in response.json() or response.status_code < 300

        check()
    finally:
        loop.run_until_complete(c.aclose())
        loop.close()
