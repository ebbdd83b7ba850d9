"""Present a verdict: the `intake triage` JSON contract and the readable explanation."""

from __future__ import annotations

from typing import Any

from core.report import Report
from core.triage.verdict import QUESTIONS, Verdict

_LABEL = {True: "yes", False: "no", None: "unknown"}


def verdict_json(
    path: str, source: str, report: Report | None, verdict: Verdict | None, ignored: str = ""
) -> dict[str, Any]:
    if report is None or verdict is None:
        return {
            "path": path,
            "source": source,
            "title": "",
            "decision": "not_incident",
            "quadrant": "backlog",
            "planned": False,
            "urgent": False,
            "types": [],
            "severity": "SEV4",
            "golden": {q: {"answer": None, "evidence": []} for q in QUESTIONS},
            "set_aside": None,
            "ignored": ignored or "nothing to triage",
        }
    return {
        "path": path,
        "source": source,
        "title": report.title,
        "decision": verdict.decision,
        "quadrant": verdict.quadrant,
        "planned": verdict.planned,
        "urgent": verdict.urgent,
        "types": verdict.types,
        "severity": verdict.severity,
        "golden": verdict.golden_json(),
        "set_aside": verdict.set_aside,
        "reason": verdict.reason,
    }


def explain(
    path: str, source: str, report: Report | None, verdict: Verdict | None, ignored: str = ""
) -> str:
    if report is None or verdict is None:
        return f"{path}\n  {source}: {ignored or 'nothing to triage'}\n"
    lines = [path, f"  {source} · {report.title or '(no title)'}"]
    if report.reporter:
        via = f" (forwarded by {report.forwarded_by})" if report.forwarded_by else ""
        lines.append(f"  from: {report.reporter}{via}")
    lines.append(f"  decision: {verdict.decision} — {verdict.reason}")
    if verdict.set_aside:
        lines.append(f"  set aside: {verdict.set_aside}")
    lines.append(
        f"  quadrant: {verdict.quadrant} (planned: {_LABEL[verdict.planned]}, "
        f"urgent: {_LABEL[verdict.urgent]})"
    )
    lines.append(f"  types: {', '.join(verdict.types) or '-'}   severity: {verdict.severity}")
    for question in QUESTIONS:
        answer = verdict.golden[question]
        lines.append(f"  {question:<12}{_LABEL[answer.answer]:<8}")
        for evidence in answer.evidence:
            lines.append(f"      · {evidence}")
    for warning in report.warnings:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines) + "\n"
