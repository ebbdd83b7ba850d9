"""Rules that build on what the others found, run last."""

from __future__ import annotations

from core.triage.context import Context
from core.triage.rule import Rule, registry
from core.triage.verdict import Finding

RULES: list[Rule] = []
rule = registry(RULES)

# Findings that show something went wrong that people felt, not just a word.
_DISRUPTIVE_RULES = (
    "outage",
    "money_at_risk",
    "complaints",
    "churn_threat",
    "security",
    "privacy",
    "staff_shortage",
    "service_degradation",
    "confirmation",
    "alert_lifecycle",
    "alert_level",
    "alert_reach",
)


@rule("worth_review", "an unplanned disruption with impact is worth learning from")
def worth_review(ctx: Context) -> Finding | None:
    if ctx.weight("review") >= 1 or ctx.weight("review", answer=False) >= 1:
        return None
    if ctx.weight("impact") < 1 or ctx.weight("impact", answer=False) >= 1:
        return None
    urgent_yes = sum(f.weight for f in ctx.findings if f.urgent is True)
    urgent_no = sum(f.weight for f in ctx.findings if f.urgent is False)
    if urgent_yes < 1 or urgent_no >= urgent_yes:
        return None
    sources = [f.rule for f in ctx.findings if f.rule in _DISRUPTIVE_RULES and f.yes]
    if not sources:
        return None
    return Finding(
        "worth_review",
        f"unplanned disruption with impact ({', '.join(dict.fromkeys(sources))}): worth a review",
        yes=("review",),
    )
