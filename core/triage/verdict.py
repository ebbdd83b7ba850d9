"""What triage decides about a report, and the findings it decides from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

QUESTIONS = ("impact", "urgent", "coordinate", "communicate", "review")
TYPES = ("engineering", "operational", "product", "customer_success", "security", "privacy")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")

Decision = Literal["incident", "not_incident", "needs_review"]
Quadrant = Literal["incident_response", "hotfix", "normal_work", "backlog"]


@dataclass(slots=True)  # not frozen: thousands are made per second, and frozen costs 2x
class Finding:
    """One rule firing: what it saw (evidence) and what that says.

    `weight` is how strongly it speaks; an answer needs a total of 1 to be
    decided, so two weak signals (0.5 each) agree where one would not.
    `decides` short-cuts the decision for facts that settle it (set aside,
    an explicit declaration, a resolution of something already known).
    """

    rule: str
    evidence: str
    yes: tuple[str, ...] = ()
    no: tuple[str, ...] = ()
    planned: bool | None = None
    urgent: bool | None = None  # the grid's axis: needs swift action
    types: tuple[str, ...] = ()
    severity: int | None = None  # 1 (critical) .. 4 (minor)
    weight: float = 1.0
    decides: Decision | None = None
    set_aside: str | None = None  # why an automatic message was set aside


@dataclass
class Answer:
    answer: bool | None
    evidence: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    decision: Decision
    quadrant: Quadrant
    planned: bool
    urgent: bool
    types: list[str]
    severity: str
    golden: dict[str, Answer]
    set_aside: str | None = None
    reason: str = ""  # one line: why this decision
    findings: list[Finding] = field(default_factory=list)

    @property
    def yes_count(self) -> int:
        return sum(1 for a in self.golden.values() if a.answer is True)

    def golden_json(self) -> dict[str, Any]:
        return {q: {"answer": a.answer, "evidence": a.evidence} for q, a in self.golden.items()}


def quadrant_for(planned: bool, urgent: bool) -> Quadrant:
    if planned:
        return "hotfix" if urgent else "normal_work"
    return "incident_response" if urgent else "backlog"
