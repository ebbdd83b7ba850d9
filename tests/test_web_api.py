"""The REST API: the OpenAPI document lists every route, each route does what it says, errors are 4xx JSON."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value the document allows for a schema, or (sometimes) anything at all."""
    if "enum" in schema:
        documented = st.sampled_from(schema["enum"])
    elif schema.get("type") == "integer":
        documented = st.integers(min_value=schema.get("minimum", -(2**40)), max_value=2**40)
    else:
        documented = st.text(max_size=12)
    return st.one_of(documented, documented, _ANY_JSON)


def _request(
    doc: dict[str, Any], known: dict[str, list[str]]
) -> st.SearchStrategy[tuple[str, str, dict[str, str], Any]]:
    """(method, url, query, JSON body) for any operation of the OpenAPI document; path
    parameters are often ones that exist (`known`), so requests reach real work."""
    operations = [
        (method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()
    ]

    @st.composite
    def build(draw: Any) -> tuple[str, str, dict[str, str], Any]:
        method, path, op = draw(st.sampled_from(operations))
        query: dict[str, str] = {}
        for param in op.get("parameters", []):
            value = draw(_value(param["schema"]))
            if param["in"] == "path" and draw(st.booleans()):
                value = draw(st.sampled_from(known[param["name"]]))
            if param["in"] == "path":
                text = value if isinstance(value, str) else str(value)
                path = path.replace("{" + param["name"] + "}", quote(text, safe="") or "0")
            elif draw(st.booleans()):
                query[param["name"]] = value if isinstance(value, str) else json.dumps(value)
        body = None
        if "requestBody" in op:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            props = schema.get("properties", {})
            body = draw(
                st.fixed_dictionaries({}, optional={k: _value(v) for k, v in props.items()})
                | _ANY_JSON
            )
        return method.upper(), path, query, body

    return build()


def test_requests_from_the_openapi_document_never_make_a_5xx(db_url: str, tmp_path: Path) -> None:
    """Schemathesis-style: requests drawn from the document itself (documented values mixed
    with anything at all), against seeded incidents and reports."""
    rt = runtime(db_url, tmp_path)
    seed(rt, broken=False)  # reports 1 and 2 exist
    with tx(rt) as session:
        live = lifecycle.open_incident(session, "A", "rule:triage", "r", status="live").ref
        triaged = lifecycle.open_incident(session, "B", "rule:triage", "r", status="triage").ref
    loop = asyncio.new_event_loop()
    c = client(app_for(rt))
    doc = loop.run_until_complete(c.get("/api/v1/openapi.json")).json()
    seen: set[tuple[str, int]] = set()
    # Real ones, and numbers too big for any id column (a 500 once).
    known = {
        "ref": ["INC-1", "INC-2", live, triaged, "2", "INC-99999999999999999999"],
        "report_id": ["1", "2", "99999999999999999999"],
    }
    try:

        @settings(
            max_examples=150,
            derandomize=True,  # the same requests every run: a failure reproduces, no flakes
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(request=_request(doc, known))
        def check(request: tuple[str, str, dict[str, str], Any]) -> None:
            method, path, query, body = request
            kwargs: dict[str, Any] = {"params": query}
            if method == "POST":
                kwargs["json"] = body
            response = loop.run_until_complete(c.request(method, path, **kwargs))
            assert response.status_code < 500, (method, path, query, body, response.text)
            if response.status_code >= 400 and "json" in response.headers["content-type"]:
                assert response.json()["error"]
            seen.add((method, response.status_code))

        check()
        # A documented request on a live incident does real work (the draws above may not).
        update = {"text": "Mitigation deployed; error rate back to normal"}
        answer = loop.run_until_complete(c.post(f"/api/v1/incidents/{live}/updates", json=update))
        assert answer.status_code in (200, 201), answer.text
    finally:
        loop.run_until_complete(c.aclose())
        loop.close()
    # The draws reached real work, not only refusals.
    statuses = {status for _, status in seen}
    assert ("GET", 200) in seen, seen
    assert {400, 404, 409, 422} <= statuses, seen
