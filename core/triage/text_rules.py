"""Rules over what people wrote, read through the vocabulary's concepts.

Each rule says which golden questions its words answer and how strongly.
Negated words ("no customer impact", "kein Ausfall") never count for a
concept; several concepts exist only to say no ("no_impact", "not_urgent").
"""

from __future__ import annotations

from collections.abc import Iterable

from core.triage.context import Context
from core.triage.rule import Rule, registry
from core.triage.verdict import Finding

RULES: list[Rule] = []
rule = registry(RULES)
_f = Finding

# Concepts that mean something is actually going wrong for the business.
DISRUPTION = (
    "outage",
    "security",
    "complaints",
    "churn",
    "shortage",
    "service_degradation",
    "facilities",
    "misdirected",
)


def disrupted(ctx: Context) -> bool:
    """Whether something is actually going wrong; asked by many rules, worked out once."""
    if ctx.disrupted is None:
        ctx.disrupted = ctx.has(*DISRUPTION) or (ctx.has("money") and ctx.has("errors"))
    return ctx.disrupted


@rule("outage", "something people rely on is down, failing or unreachable", needs=("outage",))
def outage(ctx: Context) -> Finding | None:
    wide = ctx.has("widespread")
    return _f(
        "outage",
        f"outage: {ctx.found('outage')}"
        + (f", widespread: {ctx.found('widespread')}" if wide else ""),
        yes=("impact",),
        urgent=True,
        planned=False,
        types=("engineering",),
        severity=1 if wide else 2,
    )


@rule("errors", "errors, timeouts, slowness: a technical fault", needs=("errors",))
def errors(ctx: Context) -> Finding | None:
    return _f(
        "errors",
        f"errors: {ctx.found('errors')}",
        yes=("impact",),
        types=("engineering",),
        severity=3,
        weight=1.0 if ctx.count("errors") >= 2 else 0.5,
    )


@rule(
    "money_at_risk",
    "payments, orders or billing failing: revenue is lost while it lasts",
    needs=("money",),
)
def money_at_risk(ctx: Context) -> Finding | None:
    if not (ctx.has("outage") or (ctx.has("errors") and not ctx.has("cosmetic"))):
        return None
    return _f(
        "money_at_risk",
        f"money flow failing: {ctx.found('money')} with {ctx.found('outage', 'errors', limit=2)}",
        yes=("impact",),
        urgent=True,
        types=("engineering",),
        severity=2,
    )


@rule(
    "customers_affected", "customers feel it: they will need to hear from us", needs=("customers",)
)
def customers_affected(ctx: Context) -> Finding | None:
    if not (disrupted(ctx) or ctx.has("errors")):
        return None
    return _f(
        "customers_affected",
        f"customers are affected: {ctx.found('customers')}",
        yes=("impact", "communicate"),
    )


@rule("complaints", "customers complaining or escalating", needs=("complaints",))
def complaints(ctx: Context) -> Finding | None:
    return _f(
        "complaints",
        f"customers complain: {ctx.found('complaints')}",
        yes=("impact", "communicate"),
        urgent=True,
        weight=1.0,
    )


@rule("churn_threat", "a customer threatens to leave or to end the contract", needs=("churn",))
def churn_threat(ctx: Context) -> Finding | None:
    key = ctx.has("key_account")
    return _f(
        "churn_threat",
        f"customer may leave: {ctx.found('churn')}"
        + (f"; a key account: {ctx.found('key_account')}" if key else ""),
        yes=("impact", "coordinate", "communicate", "review"),
        urgent=True,
        planned=False,
        types=("customer_success",),
        severity=2 if key else 3,
    )


@rule(
    "key_account",
    "one of the largest or most important customers is involved",
    needs=("key_account",),
)
def key_account(ctx: Context) -> Finding | None:
    if ctx.has("churn"):
        return None
    if not disrupted(ctx):
        return None
    return _f(
        "key_account",
        f"a key account is involved: {ctx.found('key_account')}",
        yes=("impact", "communicate"),
        types=("customer_success",),
        severity=2,
    )


@rule("security", "an attack, a compromise, a leak or a threat to leak", needs=("security",))
def security(ctx: Context) -> Finding | None:
    what = ctx.found("security")
    if ctx.has("secrets"):
        what += f" involving {ctx.found('secrets')}"
    return _f(
        "security",
        f"security: {what}",
        yes=("impact", "coordinate", "review"),
        urgent=True,
        planned=False,
        types=("security",),
        severity=1 if ctx.has("widespread") else 2,
    )


@rule(
    "privacy",
    "personal data exposed or sent to the wrong person",
    needs=("personal_data", "misdirected"),
)
def privacy(ctx: Context) -> Iterable[Finding]:
    personal = ctx.has("personal_data")
    misdirected = ctx.has("misdirected")
    if misdirected and (personal or ctx.has("money", "customers", "secrets")):
        what = ctx.found("personal_data", "money", "customers", "secrets")
        yield _f(
            "privacy",
            f"data reached the wrong person: {ctx.found('misdirected')} ({what})",
            yes=("impact", "coordinate", "communicate", "review"),
            urgent=True,
            planned=False,
            types=("privacy", "operational"),
            severity=2,
        )
    elif personal and (ctx.has("security") or ctx.has("outside_attention")):
        yield _f(
            "privacy",
            f"personal data at stake: {ctx.found('personal_data')}",
            yes=("impact", "coordinate", "communicate"),
            types=("privacy",),
            severity=2,
        )


@rule(
    "outside_attention",
    "regulators, press, lawyers or the public are or will be watching",
    needs=("outside_attention",),
)
def outside_attention(ctx: Context) -> Finding | None:
    return _f(
        "outside_attention",
        f"outside attention: {ctx.found('outside_attention')}",
        yes=("communicate", "coordinate", "impact"),
        urgent=True,
        weight=1.0,
    )


@rule("staff_shortage", "not enough people to run the operation right now", needs=("shortage",))
def staff_shortage(ctx: Context) -> Finding | None:
    return _f(
        "staff_shortage",
        f"staff shortage: {ctx.found('shortage')}",
        yes=("impact",),
        urgent=True,
        planned=False,
        types=("operational",),
        severity=2,
    )


@rule(
    "operations", "the physical or people side of the service is disrupted", needs=("operations",)
)
def operations(ctx: Context) -> Finding | None:
    if not ctx.has("shortage", "service_degradation", "outage", "complaints"):
        return None
    return _f(
        "operations",
        f"operations disrupted: {ctx.found('operations')}",
        yes=("impact",),
        types=("operational",),
    )


@rule(
    "service_degradation",
    "the service customers get is measurably worse",
    needs=("service_degradation",),
)
def service_degradation(ctx: Context) -> Finding | None:
    return _f(
        "service_degradation",
        f"service worse for customers: {ctx.found('service_degradation')}",
        yes=("impact", "communicate"),
        urgent=True,
        types=("product",),
        severity=2,
    )


@rule("facilities", "a building, power, network or safety problem", needs=("facilities",))
def facilities(ctx: Context) -> Finding | None:
    return _f(
        "facilities",
        f"facilities: {ctx.found('facilities')}",
        yes=("coordinate", "impact"),
        urgent=True,
        types=("operational",),
        severity=3,
    )


@rule(
    "everyday_mishap",
    "a small accident in the office: care needed, nothing at stake",
    needs=("mishap",),
)
def everyday_mishap(ctx: Context) -> Iterable[Finding]:
    if disrupted(ctx):
        return
    what = ctx.found("mishap")
    yield _f("everyday_mishap", f"needs care right now: {what}", urgent=True, weight=0.5)
    yield _f(
        "everyday_mishap",
        f"everyday mishap, nothing for product, business or customers: {what}",
        no=("impact", "coordinate", "communicate", "review"),
        severity=4,
    )


@rule("cosmetic", "a small or cosmetic flaw with a workaround", needs=("cosmetic",))
def cosmetic(ctx: Context) -> Finding | None:
    if ctx.has("outage", "security", "churn"):
        return None
    return _f(
        "cosmetic",
        f"minor or cosmetic: {ctx.found('cosmetic')}",
        no=("coordinate", "communicate", "review"),
        urgent=False,
        severity=4,
        weight=1.0,
    )


@rule("not_urgent", "the writer says it can wait", needs=("not_urgent",))
def not_urgent(ctx: Context) -> Finding | None:
    return _f(
        "not_urgent",
        f"can wait: {ctx.found('not_urgent')}",
        urgent=False,
        weight=1.5,
    )


@rule("urgency", "the writer asks for speed or names a deadline", needs=("urgency",))
def urgency(ctx: Context) -> Finding | None:
    return _f(
        "urgency",
        f"urgency: {ctx.found('urgency')}",
        urgent=True,
        # Asking for speed about an actual problem is enough; alone it needs repeating.
        weight=1.0 if ctx.count("urgency") >= 2 or disrupted(ctx) or ctx.has("errors") else 0.75,
    )


@rule("ongoing", "it is happening now and keeps happening", needs=("ongoing",))
def ongoing(ctx: Context) -> Finding | None:
    if not disrupted(ctx):
        return None
    return _f(
        "ongoing",
        f"still happening: {ctx.found('ongoing')}",
        urgent=True,
        weight=0.5,
    )


@rule("coordination", "people or teams are asked to act together")
def coordination(ctx: Context) -> Iterable[Finding]:
    if ctx.has("coordination"):
        yield _f("coordination", f"asks for help: {ctx.found('coordination')}", yes=("coordinate",))
    teams = ctx.count("teams")
    if teams:
        yield _f(
            "coordination",
            f"teams named: {ctx.found('teams', limit=4)}",
            yes=("coordinate",),
            weight=1.0 if teams >= 2 else 0.5,
        )
    mentions = ctx.report.fields.get("mentions") or []
    if mentions:
        yield _f(
            "coordination",
            f"pulls in {', '.join(mentions[:3])}",
            yes=("coordinate",),
            weight=0.5,
        )


@rule("tell_others", "the writer says others must be told", needs=("tell_others",))
def tell_others(ctx: Context) -> Finding | None:
    return _f("tell_others", f"must be told: {ctx.found('tell_others')}", yes=("communicate",))


@rule("learn", "cause unknown, a mistake or a repeat: worth learning from", needs=("learn",))
def learn(ctx: Context) -> Finding | None:
    return _f("learn", f"to learn from: {ctx.found('learn')}", yes=("review",))


@rule("planned", "work decided and scheduled in advance", needs=("planned",))
def planned(ctx: Context) -> Finding | None:
    return _f(
        "planned",
        f"planned: {ctx.found('planned')}",
        planned=True,
        weight=min(2.0, 0.75 * ctx.count("planned")),
    )


@rule("hotfix", "an urgent fix that is nonetheless planned", needs=("hotfix",))
def hotfix(ctx: Context) -> Finding | None:
    return _f(
        "hotfix",
        f"hotfix: {ctx.found('hotfix')}",
        planned=True,
        urgent=True,
        weight=1.0,
    )


@rule(
    "routine", "the ordinary running of the company, handled by its processes", needs=("routine",)
)
def routine(ctx: Context) -> Finding | None:
    if disrupted(ctx):
        return None
    return _f(
        "routine",
        f"routine business: {ctx.found('routine')}",
        no=("coordinate", "communicate", "review"),
        planned=True,
        urgent=False,
        weight=1.0,
        severity=4,
    )


@rule("small_talk", "chit-chat and how-to questions", needs=("chitchat", "howto"))
def small_talk(ctx: Context) -> Finding | None:
    if disrupted(ctx):
        return None
    return _f(
        "small_talk",
        f"chat or a question: {ctx.found('chitchat', 'howto')}",
        no=("impact", "coordinate", "communicate", "review"),
        urgent=False,
        weight=1.0,
        severity=4,
    )


@rule("resolved", "it is over: fixed, back to normal, or a false alarm", needs=("resolved",))
def resolved(ctx: Context) -> Finding | None:
    return _f(
        "resolved",
        f"already over: {ctx.found('resolved')}",
        urgent=False,
        weight=1.5,
    )


@rule("no_impact", "the writer says nobody is affected", needs=("no_impact",))
def no_impact(ctx: Context) -> Finding | None:
    return _f("no_impact", f"no impact: {ctx.found('no_impact')}", no=("impact",), weight=1.5)


@rule("test_environment", "it happened in staging, test or development", needs=("non_production",))
def test_environment(ctx: Context) -> Finding | None:
    if ctx.has("production"):
        return None
    if ctx.report.fields.get("environment"):
        return None
    return _f(
        "test_environment",
        f"not production: {ctx.found('non_production')}",
        no=("impact", "communicate"),
        weight=1.0,
    )


@rule("widespread", "many or all customers are affected", needs=("widespread",))
def widespread(ctx: Context) -> Finding | None:
    if not disrupted(ctx):
        return None
    return _f(
        "widespread",
        f"widespread: {ctx.found('widespread')}",
        yes=("communicate", "coordinate"),
        severity=1,
    )


@rule(
    "confirmation",
    "a reply that confirms the problem in the message it answers",
    needs=("confirms",),
)
def confirmation(ctx: Context) -> Finding | None:
    parent = [c for c in DISRUPTION if c in ctx.parent_hits]
    if not parent:
        return None
    words = ", ".join(f'"{ctx.parent_hits[c][0].found}"' for c in parent[:3])
    return _f(
        "confirmation",
        f"confirms ({ctx.found('confirms')}) the message it answers: {words}",
        yes=("impact",),
        urgent=True,
        planned=False,
        types=("engineering",) if "outage" in parent else (),
    )
