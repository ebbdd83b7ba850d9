"""The REST API's OpenAPI 3.1 document, written out by hand so it says exactly what the API does."""

from __future__ import annotations

from typing import Any

from core.triage.verdict import QUESTIONS, SEVERITIES, TYPES
from core.web.dashboard_queries import DECISIONS, QUADRANTS, SOURCES, STATUSES


def _enum(values: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _query(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


_REF = {
    "name": "ref",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^(INC-)?[0-9]+$"},
    "description": "Incident reference, INC-<n>",
}
_REPORT_ID = {
    "name": "report_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
_PAGE = _query("page", {"type": "integer", "minimum": 1}, "Page number (50 per page)")
_SEARCH = _query("q", {"type": "string", "maxLength": 200}, "Text (or INC-n) to search for")


def _error(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(schema: str, text: str = "OK") -> dict[str, Any]:
    return {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": bool(required),
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": properties, "required": required}
            }
        },
    }


_REASON = {"type": "string", "description": "Why (kept on the timeline)"}
_COMMON_ERRORS = {"401": _error("No valid bearer token"), "400": _error("Bad request")}


def _transition(summary: str, body: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": [_REF],
            "requestBody": _body(body, required),
            "responses": {
                "200": _ok("IncidentDetail"),
                "404": _error("No such incident"),
                "409": _error("Not allowed in the incident's current status"),
                "422": _error("A value is missing or not acceptable"),
                **_COMMON_ERRORS,
            },
        }
    }


def openapi_document(base_url: str = "") -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/v1/incidents": {
            "get": {
                "summary": "List incidents, newest first",
                "parameters": [
                    _query("status", _enum(STATUSES), "Only this status"),
                    _query("severity", _enum(SEVERITIES), "Only this severity"),
                    _query("type", _enum(TYPES), "Only incidents of this type"),
                    _query("source", _enum(SOURCES), "Only incidents with a report from here"),
                    _SEARCH,
                    _PAGE,
                ],
                "responses": {"200": _ok("IncidentPage"), **_COMMON_ERRORS},
            },
            "post": {
                "summary": "Declare an incident, from a report or from a title",
                "requestBody": _body(
                    {
                        "title": {"type": "string"},
                        "report_id": {"type": "integer"},
                        "severity": _enum(SEVERITIES),
                        "reason": _REASON,
                    },
                    [],
                ),
                "responses": {
                    "201": _ok("Incident", "Declared"),
                    "404": _error("No such report"),
                    "409": _error("The report already belongs to an open incident"),
                    "422": _error("Neither title nor report, or a bad severity"),
                    **_COMMON_ERRORS,
                },
            },
        },
        "/api/v1/incidents/{ref}": {
            "get": {
                "summary": "One incident with its reports and timeline",
                "parameters": [_REF],
                "responses": {
                    "200": _ok("IncidentDetail"),
                    "404": _error("No such incident"),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/incidents/{ref}/accept": _transition(
            "Accept an incident in triage (it goes live)", {"reason": _REASON}, []
        ),
        "/api/v1/incidents/{ref}/decline": _transition(
            "Decline an incident in triage", {"reason": _REASON}, ["reason"]
        ),
        "/api/v1/incidents/{ref}/merge": _transition(
            "Merge this incident into another (answers with the one merged into)",
            {"into": {"type": "string", "description": "INC-<n>"}, "reason": _REASON},
            ["into"],
        ),
        "/api/v1/incidents/{ref}/severity": _transition(
            "Change the severity", {"severity": _enum(SEVERITIES), "reason": _REASON}, ["severity"]
        ),
        "/api/v1/incidents/{ref}/updates": _transition(
            "Post a stakeholder update", {"text": {"type": "string", "minLength": 1}}, ["text"]
        ),
        "/api/v1/incidents/{ref}/resolve": _transition(
            "Resolve a live incident", {"reason": _REASON}, []
        ),
        "/api/v1/reports": {
            "get": {
                "summary": "List reports (incidents or not, set-aside mail included), newest first",
                "parameters": [
                    _query("decision", _enum(DECISIONS), "Only this decision"),
                    _query("source", _enum(SOURCES), "Only this source"),
                    _query("quadrant", _enum(QUADRANTS), "Only this quadrant"),
                    _SEARCH,
                    _PAGE,
                ],
                "responses": {"200": _ok("ReportPage"), **_COMMON_ERRORS},
            }
        },
        "/api/v1/reports/{report_id}": {
            "get": {
                "summary": "One report with its text, fields and verdict changes",
                "parameters": [_REPORT_ID],
                "responses": {
                    "200": _ok("ReportDetail"),
                    "404": _error("No such report"),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/reports/{report_id}/override": {
            "post": {
                "summary": "Override a golden answer or the decision (kept as a new row)",
                "parameters": [_REPORT_ID],
                "requestBody": _body(
                    {
                        "field": _enum((*QUESTIONS, "decision")),
                        "value": {
                            "type": ["string", "null"],
                            "description": "yes, no, unknown/null for a question; "
                            "incident, not_incident, needs_review for the decision",
                        },
                        "reason": _REASON,
                    },
                    ["field"],
                ),
                "responses": {
                    "200": _ok("ReportDetail"),
                    "404": _error("No such report"),
                    "422": _error("Unknown field or value"),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
            }
        },
    }
    answer = {
        "type": "object",
        "properties": {
            "answer": {"type": ["boolean", "null"]},
            "evidence": {"type": "array", "items": {"type": "string"}},
        },
    }
    report = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "raw_id": {"type": "integer"},
            "source": {"type": "string"},
            "title": {"type": "string"},
            "reporter": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "decision": _enum(DECISIONS),
            "quadrant": _enum(QUADRANTS),
            "planned": {"type": "boolean"},
            "urgent": {"type": "boolean"},
            "types": {"type": "array", "items": _enum(TYPES)},
            "severity": _enum(SEVERITIES),
            "golden": {"type": "object", "additionalProperties": answer},
            "reason": {"type": "string"},
            "set_aside": {"type": ["string", "null"]},
            "incident": {"type": ["string", "null"]},
        },
    }
    incident = {
        "type": "object",
        "properties": {
            "ref": {"type": "string"},
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "status": _enum(STATUSES),
            "severity": _enum(SEVERITIES),
            "types": {"type": "array", "items": _enum(TYPES)},
            "opened_at": {"type": "string", "format": "date-time"},
            "last_activity_at": {"type": "string", "format": "date-time"},
        },
    }
    event = {
        "type": "object",
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "kind": {"type": "string"},
            "actor": {"type": "string"},
            "reason": {"type": "string"},
            "data": {"type": "object"},
        },
    }

    def page(item: str) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "pages": {"type": "integer"},
            },
        }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "intake REST API",
            "version": "1",
            "description": "Incidents and reports of intake; every change is a timeline "
            "event with the API token's name as the actor.",
        },
        "servers": [{"url": base_url or "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
                "Report": report,
                "ReportDetail": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Report"},
                        {
                            "type": "object",
                            "properties": {
                                "text": {"type": "string"},
                                "fields": {"type": "object"},
                                "changes": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    ]
                },
                "Incident": incident,
                "IncidentDetail": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Incident"},
                        {
                            "type": "object",
                            "properties": {
                                "reports": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Report"},
                                },
                                "timeline": {"type": "array", "items": event},
                            },
                        },
                    ]
                },
                "IncidentPage": page("Incident"),
                "ReportPage": page("Report"),
            },
        },
    }
