"""Run the rules over a report and add their findings up into a verdict."""

from __future__ import annotations

from core.config import TriageConfig
from core.report import Report
from core.triage import derived_rules, source_rules, text_rules
from core.triage.context import build_context
from core.triage.rule import Rule
from core.triage.verdict import (
    QUESTIONS,
    SEVERITIES,
    TYPES,
    Answer,
    Decision,
    Finding,
    Verdict,
    quadrant_for,
)

# The whole rule list, top to bottom: facts from the source, then words, then
# conclusions drawn from both.
RULES: list[Rule] = [*source_rules.RULES, *text_rules.RULES, *derived_rules.RULES]

_DEFAULT = TriageConfig()


def triage(report: Report, config: TriageConfig | None = None) -> Verdict:
    config = config or _DEFAULT
    ctx = build_context(report, config)
    found = ctx.hits.keys()
    findings = ctx.findings
    for rule in RULES:
        if rule.needs is not None and rule.needs.isdisjoint(found):
            continue
        result = rule.check(ctx)
        if result is None:
            continue
        if isinstance(result, Finding):
            findings.append(result)
        else:
            findings.extend(result)
    return decide(findings, report, config)


class _Tally:
    """One pass over the findings: weight and evidence for and against each key.

    Keys are the golden questions plus the grid's two axes, "planned" and
    "grid_urgent" (the golden "urgent" is derived from the axes).
    """

    __slots__ = ("no", "no_weight", "yes", "yes_weight")

    def __init__(self, findings: list[Finding]) -> None:
        yes: dict[str, list[str]] = {}
        no: dict[str, list[str]] = {}
        yes_weight: dict[str, float] = {}
        no_weight: dict[str, float] = {}
        for finding in findings:
            weight, evidence = finding.weight, finding.evidence
            urgent = finding.urgent
            for question in finding.yes:
                yes.setdefault(question, []).append(evidence)
                yes_weight[question] = yes_weight.get(question, 0.0) + weight
                if question == "urgent" and urgent is None:
                    urgent = True
            for question in finding.no:
                no.setdefault(question, []).append(evidence)
                no_weight[question] = no_weight.get(question, 0.0) + weight
                if question == "urgent" and urgent is None:
                    urgent = False
            for axis, vote in (("planned", finding.planned), ("grid_urgent", urgent)):
                if vote is None:
                    continue
                side, weights = (yes, yes_weight) if vote else (no, no_weight)
                side.setdefault(axis, []).append(evidence)
                weights[axis] = weights.get(axis, 0.0) + weight
        self.yes, self.no, self.yes_weight, self.no_weight = yes, no, yes_weight, no_weight

    def axis(self, key: str) -> tuple[bool, list[str], list[str]]:
        yes_w, no_w = self.yes_weight.get(key, 0.0), self.no_weight.get(key, 0.0)
        return yes_w >= 1 and yes_w > no_w, self.yes.get(key, []), self.no.get(key, [])

    def answer(self, question: str) -> Answer:
        yes_w, no_w = self.yes_weight.get(question, 0.0), self.no_weight.get(question, 0.0)
        if yes_w >= 1 and yes_w > no_w:
            return Answer(True, self.yes[question])
        if no_w >= 1 and no_w >= yes_w:
            return Answer(False, self.no[question])
        return Answer(None, self.yes.get(question, []) + self.no.get(question, []))


def decide(findings: list[Finding], report: Report, config: TriageConfig) -> Verdict:
    tally = _Tally(findings)
    planned, planned_yes, _ = tally.axis("planned")
    urgent, urgent_yes, urgent_no = tally.axis("grid_urgent")
    golden = {q: tally.answer(q) for q in QUESTIONS if q != "urgent"}
    # The golden question is narrower than the grid: urgent *and* outside planned work.
    if urgent and not planned:
        golden["urgent"] = Answer(True, urgent_yes)
    elif urgent and planned:
        golden["urgent"] = Answer(
            False, [*urgent_yes, *(f"planned work: {e}" for e in planned_yes)]
        )
    elif urgent_no:
        golden["urgent"] = Answer(False, urgent_no)
    else:
        golden["urgent"] = Answer(None, urgent_yes)
    golden = {q: golden[q] for q in QUESTIONS}

    decision, reason = _decision(findings, golden, planned, urgent, config)
    # A severity is a claim about an incident; whatever is not one is minor.
    severity = 4
    if decision != "not_incident":
        severity = min((f.severity for f in findings if f.severity), default=3)
    types: list[str] = []
    if decision != "not_incident":
        # A type needs a finding that speaks with full weight, not one stray word.
        found = {t for f in findings if f.weight >= 1 for t in f.types}
        types = [t for t in TYPES if t in found]
    return Verdict(
        decision=decision,
        quadrant=quadrant_for(planned, urgent),
        planned=planned,
        urgent=urgent,
        types=types,
        severity=SEVERITIES[severity - 1],
        golden=golden,
        set_aside=next((f.set_aside for f in findings if f.set_aside), None),
        reason=reason,
        findings=findings,
    )


def _decision(
    findings: list[Finding],
    golden: dict[str, Answer],
    planned: bool,
    urgent: bool,
    config: TriageConfig,
) -> tuple[Decision, str]:
    # Facts that settle it: a "not" (set aside, resolved, not production) wins
    # over a declaration, which wins over any count of answers.
    outcome: Decision
    for outcome in ("not_incident", "incident"):
        for finding in findings:
            if finding.decides == outcome:
                return outcome, finding.evidence
    yes = sum(1 for a in golden.values() if a.answer is True)
    impact = golden["impact"].answer
    counted = f"{yes} of 5 golden questions yes (threshold {config.threshold})"
    if planned:
        return "not_incident", "planned work, handled as planned"
    if not urgent:
        return "not_incident", "can wait: no urgent response needed"
    if impact is True and yes >= config.threshold:
        return "incident", f"unplanned, urgent, with impact; {counted}"
    if impact is False:
        return "not_incident", "urgent, but no impact on product, business or customers"
    if yes >= config.threshold - 1 and (impact is True or yes >= config.threshold):
        return "needs_review", f"on the fence: {counted}"
    return "not_incident", f"too little at stake: {counted}"
