"""One realistic input per rule: the rule fires, and the verdict moves the way it should."""

from __future__ import annotations

import pytest

from core.report import Report
from core.triage.engine import RULES, triage
from core.triage.verdict import Verdict


def chat(text: str, **fields: object) -> Report:
    return Report(
        source="telegram", title=text.splitlines()[0][:100], text=text, fields=dict(fields)
    )


def mail(subject: str, body: str, **kwargs: object) -> Report:
    return Report(source="email", title=subject, text=body, **kwargs)  # type: ignore[arg-type]


def sentry(title: str, **fields: object) -> Report:
    return Report(source="sentry", title=title, text=title, fields=dict(fields))


def fired(verdict: Verdict) -> set[str]:
    return {f.rule for f in verdict.findings}


def test_every_rule_has_a_name_and_a_description() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert all(r.description for r in RULES)


# Rules driven by config are tested in test_config.py with a config file.
CONFIG_RULES = {"custom_rules", "configured_keywords", "key_customer"}


def test_every_rule_has_a_realistic_case() -> None:
    tested = {case[0] for case in CASES} | CONFIG_RULES
    assert {r.name for r in RULES} <= tested


CASES = [
    (
        "outage",
        chat(
            "Is the booking site down for anyone else? I just get a 502 Bad Gateway on every page"
        ),
        {"decision": "incident", "types": ["engineering"]},
    ),
    (
        "outage",
        mail(
            "Störung Kundenportal",
            "Hallo, das Kundenportal ist seit 9 Uhr nicht erreichbar. Alle Kunden rufen an.",
        ),
        {"decision": "incident"},
    ),
    (
        "outage",
        chat("L'appli mobile est en panne depuis ce matin, impossible de se connecter"),
        {"decision": "incident"},
    ),
    (
        "outage",
        chat("La web está caída, nadie puede entrar al panel desde hace 20 minutos"),
        {"decision": "incident"},
    ),
    (
        "money_at_risk",
        chat("Card payments failing at checkout since the 14:05 release, Stripe returns errors"),
        {"decision": "incident", "impact": True},
    ),
    (
        "complaints",
        mail(
            "Angry customers re: missing confirmation emails",
            "Support has had 30+ complaints this morning that booking confirmations never "
            "arrived. Customers are calling to check whether their booking exists.",
        ),
        {"communicate": True},
    ),
    (
        "churn_threat",
        mail(
            "Contract",
            "After three outages this quarter our board has asked me to look at alternatives. "
            "Unless we see a credible plan by Friday we will terminate the contract.",
        ),
        {"decision": "incident"},
    ),
    (
        "security",
        mail(
            "AWS key in public repo",
            "Heads-up: an AWS access key for the billing account was pushed to GitHub in a "
            "public repo 2 hours ago. GitGuardian flagged it. Rotating now, need security on this.",
        ),
        {"decision": "incident", "types": ["security"]},
    ),
    (
        "privacy",
        mail(
            "Invoice sent to the wrong customer",
            "Our billing run emailed the March invoice for Acme (with contact names and phone "
            "numbers) to the wrong customer by mistake. Who handles the GDPR side?",
        ),
        {"decision": "incident", "types": ["operational", "privacy"]},
    ),
    (
        "outside_attention",
        mail(
            "Press enquiry: outage yesterday",
            "A journalist from the local newspaper asks for a statement about yesterday's "
            "outage that left patients unable to book. Deadline 5pm today.",
        ),
        {"communicate": True},
    ),
    (
        "staff_shortage",
        chat(
            "We're badly short-staffed on the support desk, 3 called in sick and the queue is at 140"
        ),
        {"decision": "incident", "types": ["operational"]},
    ),
    (
        "service_degradation",
        chat(
            "Delivery times are at 75 minutes in the north zone, twice the usual. Orders delayed everywhere"
        ),
        {"impact": True},
    ),
    (
        "facilities",
        chat(
            "Power cut in the Leeds office, the server room UPS has 20 minutes left. Need IT and facilities now"
        ),
        {"decision": "incident", "types": ["operational"]},
    ),
    (
        "everyday_mishap",
        chat(
            "Careful, someone spilled coffee all over the stairs by the kitchen, I'm getting a mop"
        ),
        {"decision": "not_incident", "impact": False},
    ),
    (
        "cosmetic",
        mail(
            "Typo on pricing page",
            "Small one: the pricing page says 'anual' instead of 'annual'. Low priority.",
        ),
        {"decision": "not_incident", "quadrant": "backlog"},
    ),
    (
        "not_urgent",
        chat("Export to CSV drops the last column. No rush, whenever someone has time"),
        {"decision": "not_incident", "urgent": False},
    ),
    (
        "urgency",
        chat("Need someone on the payment API asap, all requests time out right now"),
        {"urgent": True},
    ),
    (
        "coordination",
        chat(
            "Checkout is failing for everyone. @dana @li can you jump on a call with support and product?"
        ),
        {"coordinate": True},
    ),
    (
        "tell_others",
        chat(
            "Login is broken for all users, can someone update the status page and notify customers?"
        ),
        {"communicate": True},
    ),
    (
        "learn",
        chat("The nightly import failed again, no idea why, third time this month"),
        {"review": True},
    ),
    (
        "planned",
        mail(
            "Scheduled maintenance Sunday 02:00-04:00 UTC",
            "As planned in the change calendar, the database will be unavailable during the "
            "maintenance window this Sunday. No action needed.",
        ),
        {"decision": "not_incident", "quadrant": "normal_work"},
    ),
    (
        "hotfix",
        mail(
            "Hotfix 2.3.1 goes out at 16:00",
            "Heads-up: hotfix 2.3.1 for the known rounding bug goes to production today at 16:00, "
            "as agreed in this morning's triage. Rolling deploy.",
        ),
        {"decision": "not_incident", "quadrant": "hotfix"},
    ),
    (
        "routine",
        mail(
            "Annual leave request",
            "Hi Sam, I'd like to book annual leave from 4 to 15 August. Handover notes will follow.",
        ),
        {"decision": "not_incident", "quadrant": "normal_work"},
    ),
    (
        "small_talk",
        chat("Who's in for lunch at the ramen place at 12:30?"),
        {"decision": "not_incident"},
    ),
    (
        "small_talk",
        chat("Quick question: how do I export the list of invoices for last quarter?"),
        {"decision": "not_incident"},
    ),
    (
        "resolved",
        chat(
            "Update: the API is back to normal, it was down for 4 minutes during the failover. All good now"
        ),
        {"decision": "not_incident"},
    ),
    (
        "no_impact",
        mail(
            "Disk alert on build server",
            "Build server disk at 91%, internal only, no customer impact.",
        ),
        {"impact": False},
    ),
    (
        "test_environment",
        chat("Staging is down again after the last deploy, QA blocked"),
        {"decision": "not_incident"},
    ),
    (
        "widespread",
        chat("Nobody can log in, all customers get an error page since 10:02"),
        {"decision": "incident", "severity": "SEV1"},
    ),
    (
        "confirmation",
        chat(
            "same here, customers calling the front desk",
            reply_to_text="Is the portal down for anyone else?",
        ),
        {"decision": "incident"},
    ),
    (
        "explicit_declaration",
        chat("/incident SMS reminders not sending", commands=["/incident"]),
        {"decision": "incident"},
    ),
    (
        "explicit_declaration",
        mail(
            "Declaring an incident: EU region",
            "I'm declaring an incident for the EU region latency.",
        ),
        {"decision": "incident"},
    ),
    (
        "automatic_message",
        mail("Automatic reply: Re: your order", "I am out of office", set_aside="auto_reply"),
        {"decision": "not_incident", "set_aside": "auto_reply"},
    ),
    (
        "alert_lifecycle",
        sentry("ConnectionError: timeout", resource="issue", action="resolved", level="error"),
        {"decision": "not_incident"},
    ),
    (
        "alert_lifecycle",
        sentry(
            "KeyError: 'tenant'",
            resource="issue",
            action="unresolved",
            level="error",
            environment="production",
        ),
        {"review": True, "urgent": True},
    ),
    (
        "environment",
        sentry(
            "IntegrityError",
            resource="event_alert",
            action="triggered",
            level="error",
            environment="staging",
        ),
        {"decision": "not_incident", "impact": False},
    ),
    (
        "alert_level",
        sentry(
            "Crash in BookingActivity",
            resource="issue",
            action="created",
            level="fatal",
            environment="production",
        ),
        {"decision": "incident", "impact": True},
    ),
    (
        "alert_level",
        sentry("p95 latency above 2s", resource="metric_alert", action="warning"),
        {"decision": "not_incident"},
    ),
    (
        "errors",
        chat("Seeing a lot of timeout errors from the search API in the logs, slow responses too"),
        {"impact": True},
    ),
    (
        "customers_affected",
        mail(
            "Invoices wrong",
            "Several customers report the PDF invoices show the wrong VAT amount and duplicate lines.",
        ),
        {"communicate": True},
    ),
    (
        "key_account",
        mail(
            "Globex cannot log in",
            "Our largest customer Globex cannot log in to the portal since 8:00, urgent.",
        ),
        {"types": ["engineering", "customer_success"]},
    ),
    (
        "operations",
        chat(
            "Warehouse scanners are down, shipments are stuck at the dock and drivers are waiting"
        ),
        {"types": ["engineering", "operational"]},
    ),
    (
        "ongoing",
        chat("Checkout is failing again, still happening since 9:40"),
        {"urgent": True},
    ),
    (
        "worth_review",
        chat("The booking page is down for everyone, 502 on every request"),
        {"review": True},
    ),
    (
        "alert_reach",
        sentry(
            "TimeoutError in /api/slots",
            resource="issue",
            action="created",
            level="error",
            environment="production",
            user_count=420,
            event_count=3100,
        ),
        {"decision": "incident", "communicate": True},
    ),
]


@pytest.mark.parametrize(
    ("rule", "report", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_rule_fires_and_moves_the_verdict(
    rule: str, report: Report, expected: dict[str, object]
) -> None:
    verdict = triage(report)
    assert rule in fired(verdict), [f"{f.rule}: {f.evidence}" for f in verdict.findings]
    for key, value in expected.items():
        if key in verdict.golden:
            assert verdict.golden[key].answer == value, (key, verdict.golden[key])
        else:
            assert getattr(verdict, key) == value, (
                key,
                verdict.reason,
                [f.evidence for f in verdict.findings],
            )


def test_churn_threat_is_customer_success_work() -> None:
    verdict = triage(
        mail(
            "Renewal",
            "Unless the pricing is revised we will not renew and move to another provider.",
        )
    )
    assert verdict.types == ["customer_success"]


def test_every_golden_answer_shows_its_evidence() -> None:
    verdict = triage(chat("Checkout is down for all customers, need eng and support on a call now"))
    for question, answer in verdict.golden.items():
        if answer.answer is not None:
            assert answer.evidence, question


def test_negated_outage_is_not_an_outage() -> None:
    verdict = triage(chat("FYI the site is not down, the monitor was misconfigured. False alarm."))
    assert "outage" not in fired(verdict)
    assert verdict.decision == "not_incident"


def test_planned_work_that_went_wrong_is_unplanned() -> None:
    verdict = triage(
        chat(
            "The planned DB migration broke checkout: payments failing for all customers since 02:10"
        )
    )
    assert verdict.planned is False
    assert verdict.decision == "incident"
