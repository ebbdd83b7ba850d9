"""Rules over facts that travel with the input: headers, Sentry fields, commands.

They run first, in this order. Some settle the decision outright (set-aside
mail, an explicit declaration, the resolution of something already known);
the rest weigh in like any other rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.triage.context import KEYWORD_PREFIX, Context
from core.triage.rule import Rule, registry
from core.triage.verdict import QUESTIONS, Finding

RULES: list[Rule] = []
rule = registry(RULES)
_f = Finding


# --- facts that settle the matter -------------------------------------------------


@rule("automatic_message", "auto-replies, bounces, bulk mail and our own notifications")
def automatic_message(ctx: Context) -> Finding | None:
    report = ctx.report
    if report.set_aside:
        why = report.set_aside_evidence or report.set_aside
        return _f(
            "automatic_message",
            f"set aside ({report.set_aside}): {why}",
            decides="not_incident",
            set_aside=report.set_aside,
        )
    own = ctx.config.own_addresses
    if own and report.source == "email" and report.reporter_address in own:
        return _f(
            "automatic_message",
            f"set aside (own): sent from our own address {report.reporter_address}",
            decides="not_incident",
            set_aside="own",
        )
    return None


@rule("explicit_declaration", "someone declared an incident in so many words or with /incident")
def explicit_declaration(ctx: Context) -> Finding | None:
    commands = ctx.report.fields.get("commands") or []
    who = ctx.report.reporter_address or ctx.report.reporter or "the reporter"
    if "/incident" in commands:
        return _f(
            "explicit_declaration",
            f"declared by {who} with /incident",
            yes=("impact",),
            urgent=True,
            planned=False,
            decides="incident",
        )
    if ctx.has("declaration"):
        return _f(
            "explicit_declaration",
            f"declared by {who}: {ctx.found('declaration')}",
            yes=("impact",),
            urgent=True,
            planned=False,
            decides="incident",
        )
    return None


# --- source fields ----------------------------------------------------------------


_RESOLVING_ACTIONS = {"resolved": "resolved", "archived": "archived", "ignored": "ignored"}
_BOOKKEEPING_ACTIONS = {"assigned", "deleted", "updated"}


@rule("alert_lifecycle", "Sentry actions on something already known: resolved, assigned, comments")
def alert_lifecycle(ctx: Context) -> Finding | None:
    fields = ctx.report.fields
    if ctx.report.source != "sentry":
        return None
    resource, action = fields.get("resource"), fields.get("action")
    if resource == "comment":
        return _f(
            "alert_lifecycle",
            "a comment on an existing Sentry issue, not a new problem",
            urgent=False,
            decides="not_incident",
        )
    if action in _RESOLVING_ACTIONS:
        return _f(
            "alert_lifecycle",
            f"{resource} {_RESOLVING_ACTIONS[action]}: the problem is closed at its source",
            urgent=False,
            decides="not_incident",
        )
    if action in _BOOKKEEPING_ACTIONS:
        return _f(
            "alert_lifecycle",
            f"{resource} {action}: bookkeeping on a known issue, not a new problem",
            urgent=False,
            decides="not_incident",
        )
    if action == "unresolved":
        return _f(
            "alert_lifecycle",
            "issue unresolved: a problem thought fixed came back (regression)",
            yes=("review",),
            urgent=True,
            planned=False,
        )
    if resource == "event_alert" and action == "triggered":
        alert = fields.get("rule") or "an issue alert"
        return _f(
            "alert_lifecycle",
            f"alert rule fired: {alert}",
            urgent=True,
            planned=False,
        )
    return None


@rule("environment", "production versus staging and test environments")
def environment(ctx: Context) -> Finding | None:
    env = ctx.report.fields.get("environment")
    if not isinstance(env, str) or not env:
        return None
    if env.lower() in ctx.config.production_environments:
        return _f(
            "environment",
            f'environment "{env}" is production: real customers are exposed',
            yes=("impact",),
            weight=0.5,
        )
    return _f(
        "environment",
        f'environment "{env}" is not production: no customer is exposed',
        no=("impact", "communicate"),
        urgent=False,
        weight=2.0,
        decides="not_incident",
    )


@rule("alert_level", "Sentry level and metric alert status")
def alert_level(ctx: Context) -> Finding | None:
    fields = ctx.report.fields
    level, status = fields.get("level"), fields.get("action")
    if fields.get("resource") == "metric_alert":
        if status == "critical":
            return _f(
                "alert_level",
                f"metric alert critical: {fields.get('rule') or ctx.report.title}",
                yes=("impact", "review"),
                urgent=True,
                planned=False,
                types=("engineering",),
                severity=2,
            )
        if status == "warning":
            return _f(
                "alert_level",
                "metric alert warning: a threshold is near, nothing has broken yet",
                urgent=False,
                weight=1.5,
                types=("engineering",),
                severity=4,
            )
        return None
    if level == "fatal":
        return _f(
            "alert_level",
            'level "fatal": the application crashed',
            yes=("impact", "review"),
            urgent=True,
            types=("engineering",),
            severity=2,
        )
    if level == "error":
        return _f(
            "alert_level",
            'level "error": a failure, not a warning',
            yes=("impact",),
            types=("engineering",),
            severity=3,
        )
    if level in ("warning", "info", "debug"):
        return _f(
            "alert_level",
            f'level "{level}": below error',
            urgent=False,
            weight=0.5,
            severity=4,
        )
    return None


@rule("alert_reach", "how many users and events a Sentry issue has")
def alert_reach(ctx: Context) -> Iterable[Finding]:
    fields, cfg = ctx.report.fields, ctx.config
    users, events = fields.get("user_count"), fields.get("event_count")
    if isinstance(users, int) and users >= cfg.widespread_users:
        yield _f(
            "alert_reach",
            f"{users} users affected: customers must be told, several teams involved",
            yes=("impact", "communicate", "coordinate"),
            urgent=True,
            severity=1 if users >= cfg.widespread_users * 20 else 2,
        )
    if isinstance(events, int) and events >= cfg.storm_events:
        yield _f(
            "alert_reach",
            f"{events} events: it keeps happening",
            yes=("review",),
            urgent=True,
        )
    if fields.get("handled") is False:
        yield _f(
            "alert_reach",
            "unhandled exception: the code had no answer for this case",
            yes=("review",),
            weight=0.5,
        )


@rule("custom_rules", "rules written in the config file")
def custom_rules(ctx: Context) -> Iterable[Finding]:
    text = ctx.report.full_text
    for custom in ctx.config.rules:
        if custom.sources and ctx.report.source not in custom.sources:
            continue
        match = custom.pattern.search(text)
        if match:
            yield _f(
                f"config:{custom.name}",
                f'matched "{match.group(0)[:60]}"',
                yes=custom.yes,
                no=custom.no,
                planned=custom.planned,
                urgent=custom.urgent,
                types=custom.types,
                severity=custom.severity,
                weight=1.5,
            )


_KEYWORD_CONCEPTS = tuple(f"{KEYWORD_PREFIX}{neg}{q}" for q in QUESTIONS for neg in ("", "not_"))


@rule(
    "configured_keywords",
    "phrases from the config that answer a golden question",
    needs=_KEYWORD_CONCEPTS,
)
def configured_keywords(ctx: Context) -> list[Finding]:
    findings = []
    for concept in _KEYWORD_CONCEPTS:
        if concept not in ctx.hits:
            continue
        key = concept.removeprefix(KEYWORD_PREFIX)
        question = key.removeprefix("not_")
        answer = key == question
        findings.append(
            _f(
                "configured_keywords",
                f"config keywords for {key}: {ctx.found(concept)}",
                yes=(question,) if answer else (),
                no=() if answer else (question,),
                urgent=answer if question == "urgent" else None,
                weight=1.5,
            )
        )
    return findings


@rule("key_customer", "mail from a key customer's domain (config)")
def key_customer(ctx: Context) -> Finding | None:
    domains = ctx.config.key_customer_domains
    address = ctx.report.reporter_address
    if not domains or "@" not in address:
        return None
    domain = address.rsplit("@", 1)[1]
    if any(domain == d or domain.endswith("." + d) for d in domains):
        return _f(
            "key_customer",
            f"from key customer domain {domain}",
            yes=("impact", "communicate"),
            types=("customer_success",),
            severity=2,
        )
    return None
