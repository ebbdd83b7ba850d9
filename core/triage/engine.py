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


def _urgent_vote(finding: Finding) -> bool | None:
    if finding.urgent is not None:
        return finding.urgent
    if "urgent" in finding.yes:
        return True
    if "urgent" in finding.no:
        return False
    return None


class _Tally:
    """One pass over the findings: weights and evidence per question and axis."""

    def __init__(self, findings: list[Finding]) -> None:
        self.yes: dict[str, list[Finding]] = {}
        self.no: dict[str, list[Finding]] = {}
        for finding in findings:
            for question in finding.yes:
                self.yes.setdefault(question, []).append(finding)
            for question in finding.no:
                self.no.setdefault(question, []).append(finding)
            for axis, vote in (
                ("planned", finding.planned),
                ("grid_urgent", _urgent_vote(finding)),
            ):
                if vote is True:
                    self.yes.setdefault(axis, []).append(finding)
                elif vote is False:
                    self.no.setdefault(axis, []).append(finding)

    def weights(self, key: str) -> tuple[float, float, list[str], list[str]]:
        yes, no = self.yes.get(key, []), self.no.get(key, [])
        return (
            sum(f.weight for f in yes),
            sum(f.weight for f in no),
            [f.evidence for f in yes],
            [f.evidence for f in no],
        )

    def axis(self, key: str) -> tuple[bool, list[str], list[str]]:
        yes_w, no_w, yes, no = self.weights(key)
        return yes_w >= 1 and yes_w > no_w, yes, no

    def answer(self, question: str) -> Answer:
        yes_w, no_w, yes, no = self.weights(question)
        if yes_w >= 1 and yes_w > no_w:
            return Answer(True, yes)
        if no_w >= 1 and no_w >= yes_w:
            return Answer(False, no)
        return Answer(None, yes + no)


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
