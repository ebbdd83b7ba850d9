"""Automatic mail is set aside: each signal on its own, their precedence, and the
set-of-emails / flanker corpora (read in place)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.report import Report
from ingest.email_parse import parse_email
from tests.conftest import CORPORA
from tests.conftest import require_shared as corpus

DATA = Path(__file__).parent / "data" / "email"
MAILDIR = CORPORA / "set-of-emails" / "maildir"
BOUNCE_PREFIXES = ("lhost-", "rhost-", "rfc3464-", "arf-")


def human_mail(extra_headers: str = "", subject: str = "Card terminals down in store 7") -> bytes:
    return (
        "From: Nora Ali <nora.ali@tidewell.io>\nTo: incidents@tidewell.io\n"
        f"Subject: {subject}\nDate: Fri, 11 Apr 2025 09:00:00 +0000\n"
        f"Message-ID: <auto-test@tidewell.io>\n{extra_headers}"
        "Content-Type: text/plain; charset=utf-8\n\nNo card payments since 08:45.\n"
    ).encode()


def test_ordinary_mail_is_not_set_aside() -> None:
    report = parse_email(human_mail())
    assert report.set_aside is None
    assert report.set_aside_evidence == ""


@pytest.mark.parametrize(
    ("headers", "kind", "evidence"),
    [
        ("Auto-Submitted: auto-replied\n", "auto_reply", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated\n", "bulk", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: auto-notified; owner=x\n", "bulk", "Auto-Submitted: auto-notified"),
        ("X-Autoreply: yes\n", "auto_reply", "X-Autoreply: yes"),
        ("X-Autorespond: Out of office\n", "auto_reply", "X-Autorespond: Out of office"),
        ("X-Auto-Response-Suppress: All\n", "auto_reply", "X-Auto-Response-Suppress: All"),
        ("Precedence: bulk\n", "bulk", "Precedence: bulk"),
        ("Precedence: junk\n", "bulk", "Precedence: junk"),
        ("Precedence: list\n", "bulk", "Precedence: list"),
        ("List-Id: Ops announcements <ops.lists.tidewell.io>\n", "bulk", "List-Id: Ops"),
        ("List-Unsubscribe: <mailto:leave@lists.example>\n", "bulk", "List-Unsubscribe"),
        ("X-Failed-Recipients: gone@example.com\n", "bounce", "X-Failed-Recipients"),
        ("X-Intake-Notification: digest\n", "own", "X-Intake-Notification: digest"),
    ],
)
def test_header_signals(headers: str, kind: str, evidence: str) -> None:
    report = parse_email(human_mail(headers))
    assert report.set_aside == kind
    assert report.set_aside_evidence.startswith(evidence)


@pytest.mark.parametrize(
    "headers", ["Auto-Submitted: no\n", "X-Autoreply: no\n", "Precedence: first-class\n"]
)
def test_negative_header_values_are_not_signals(headers: str) -> None:
    assert parse_email(human_mail(headers)).set_aside is None


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Card terminals down",
        "Auto-Reply: Card terminals down",
        "Out of Office: back on Monday",
        "Out of Office AutoReply: Card terminals down",
        "Out of office",
        "Abwesenheitsnotiz: Kartenterminals",
        "Automatische Antwort: Kartenterminals",
        "Réponse automatique : Terminaux",
        "Respuesta automática: Terminales",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    report = parse_email(human_mail(subject=subject))
    assert report.set_aside == "auto_reply"
    assert report.set_aside_evidence == f"Subject: {subject}"


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Undeliverable: Card terminals down",
        "failure notice",
        "Returned mail: see transcript for details",
    ],
)
def test_bounce_subjects(subject: str) -> None:
    report = parse_email(human_mail(subject=subject))
    assert report.set_aside == "bounce"
    assert report.set_aside_evidence == f"Subject: {subject}"


@pytest.mark.parametrize(
    "subject",
    [
        "Delivery failed for order 5531 in Leipzig",
        "Re: returned parcels piling up",
        "Out of stock",
        "Out of office tomorrow - who covers the night shift?",
        "Abwesend wegen Stromausfall im Lager",
        "Returned mail room is flooded",
    ],
)
def test_human_subjects_that_merely_mention_delivery_problems(subject: str) -> None:
    assert parse_email(human_mail(subject=subject)).set_aside is None


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx.example.com", "postmaster@example.org", "Mailer-Daemon"]
)
def test_mailer_daemon_and_postmaster_senders(sender: str) -> None:
    raw = f"From: {sender}\nSubject: Notice\n\nSomething about your message.\n".encode()
    report = parse_email(raw)
    assert report.set_aside == "bounce"
    assert report.set_aside_evidence == f"From: {sender.lower()}"


def report_mail(report_type: str, machine_part: str) -> bytes:
    return (
        "From: Mail System <mailer@mx.example.net>\nTo: incidents@tidewell.io\nSubject: Report\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="r"\n\n'
        "--r\nContent-Type: text/plain\n\nHuman-readable part.\n"
        f"--r\nContent-Type: {machine_part}\n\nReporting-MTA: dns; mx.example.net\n"
        "--r\nContent-Type: message/rfc822\n\nFrom: incidents@tidewell.io\nSubject: x\n\nbody\n"
        "--r--\n"
    ).encode()


@pytest.mark.parametrize(
    ("report_type", "part", "kind", "evidence"),
    [
        ("delivery-status", "message/delivery-status", "bounce", "report-type=delivery-status"),
        ("feedback-report", "message/feedback-report", "bounce", "feedback-report (complaint)"),
        (
            "disposition-notification",
            "message/disposition-notification",
            "auto_reply",
            "read receipt",
        ),
    ],
)
def test_multipart_reports(report_type: str, part: str, kind: str, evidence: str) -> None:
    report = parse_email(report_mail(report_type, part))
    assert report.set_aside == kind
    assert evidence in report.set_aside_evidence
    assert report.fields["forwarded"] is False
    assert report.text == "Human-readable part."


def test_delivery_status_part_outside_a_report() -> None:
    raw = (
        b'From: gateway@mx.example.net\nSubject: Note\nContent-Type: multipart/mixed; boundary="m"'
        b"\n\n--m\nContent-Type: text/plain\n\nCould not deliver.\n--m\n"
        b"Content-Type: message/delivery-status\n\nAction: failed\n--m--\n"
    )
    report = parse_email(raw)
    assert report.set_aside == "bounce"
    assert report.set_aside_evidence == "a message/delivery-status part"


@pytest.mark.parametrize(
    ("headers", "subject", "kind"),
    [
        ("Auto-Submitted: auto-replied\nPrecedence: bulk\n", "x", "auto_reply"),
        ("Auto-Submitted: auto-replied\n", "Undeliverable: x", "bounce"),
        ("Auto-Submitted: auto-generated\nX-Failed-Recipients: a@b.c\n", "x", "bounce"),
        ("List-Id: <l.example>\nX-Autoreply: yes\n", "x", "auto_reply"),
        ("X-Auto-Response-Suppress: All\n", "Delivery Status Notification (Failure)", "bounce"),
        ("X-Intake-Notification: update\nList-Id: <l.example>\n", "Undeliverable: x", "own"),
    ],
)
def test_precedence_own_bounce_auto_reply_bulk(headers: str, subject: str, kind: str) -> None:
    assert parse_email(human_mail(headers, subject=subject)).set_aside == kind


def test_fixture_bounce_and_out_of_office() -> None:
    bounce = parse_email((DATA / "bounce-postfix.eml").read_bytes())
    assert bounce.set_aside == "bounce"
    assert (
        bounce.set_aside_evidence == "Content-Type: multipart/report; report-type=delivery-status"
    )
    ooo = parse_email((DATA / "out-of-office.eml").read_bytes())
    assert ooo.set_aside == "auto_reply"
    assert ooo.set_aside_evidence == "Auto-Submitted: auto-replied"


def test_forwarded_auto_reply_is_a_human_forward() -> None:
    raw = (
        b"From: Tom <tom@tidewell.io>\nSubject: Fwd: Automatic reply: invoices\n\nWho covers?\n\n"
        b"---------- Forwarded message ---------\nFrom: Eva <eva@example.com>\n"
        b"Subject: Automatic reply: invoices\n\nI am away.\n"
    )
    report = parse_email(raw)
    assert report.set_aside is None
    assert report.fields["forwarded"] is True


# --- corpora --------------------------------------------------------------------------------


def parse_folder(folder: Path, prefixes: tuple[str, ...]) -> dict[str, Report]:
    return {
        path.name: parse_email(path.read_bytes())
        for path in sorted(corpus(folder).iterdir())
        if path.name.startswith(prefixes)
    }


def test_set_of_emails_bounces_are_set_aside() -> None:
    reports = parse_folder(MAILDIR / "bsd", BOUNCE_PREFIXES)
    assert len(reports) > 600
    missed = sorted(name for name, report in reports.items() if report.set_aside is None)
    not_bounce = sorted(
        f"{name}: {report.set_aside} ({report.set_aside_evidence})"
        for name, report in reports.items()
        if report.set_aside not in (None, "bounce")
    )
    set_aside = len(reports) - len(missed)
    print(
        f"bounces set aside: {set_aside}/{len(reports)}; as bounce: "
        f"{set_aside - len(not_bounce)}; other kinds: {not_bounce}; missed: {missed}"
    )
    assert set_aside / len(reports) >= 0.98, f"not set aside: {missed}"
    # Measured: only lhost-sendmail-14 (a person's "Fwd:" of a bounce) is kept.
    assert len(missed) <= 1, f"not set aside: {missed}"
    as_bounce = set_aside - len(not_bounce)
    assert as_bounce / len(reports) >= 0.98, f"set aside as another kind: {not_bounce}"


@pytest.mark.parametrize("folder", ["mac", "dos"])
def test_bounces_with_cr_and_crlf_line_endings(folder: str) -> None:
    reports = parse_folder(MAILDIR / folder, BOUNCE_PREFIXES)
    missed = sorted(name for name, report in reports.items() if report.set_aside is None)
    assert reports and len(missed) <= 1, f"not set aside: {missed}"


def test_set_of_emails_auto_replies_are_set_aside() -> None:
    reports = parse_folder(MAILDIR / "bsd", ("rfc3834-",))
    assert len(reports) == 6
    missed = sorted(name for name, report in reports.items() if report.set_aside != "auto_reply")
    assert missed == [], f"not set aside as auto_reply: {missed}"


def test_set_of_emails_not_bounces_are_kept() -> None:
    # maildir/not/ holds two is-not-bounce-* messages: a short Japanese personal mail sent
    # through an HTTP-to-SMTP gateway (curl X-Mailer) and an Apple Mail message carrying
    # another mail as a message/rfc822 attachment. Both are person-to-person mail, so
    # neither is set aside at all (the attachment makes the second a forward).
    # rb-issue-368-bug.eml in the same folder is a real bounce (postmaster, "bounce
    # notification"), kept there for a parser bug, not as a negative example.
    reports = parse_folder(MAILDIR / "not", ("is-not-bounce-",))
    assert len(reports) == 2
    assert {name: report.set_aside for name, report in reports.items()} == {
        "is-not-bounce-01.eml": None,
        "is-not-bounce-02.eml": None,
    }
    assert reports["is-not-bounce-02.eml"].fields["forwarded"] is True


def test_flanker_bounces_and_complaints() -> None:
    folder = corpus(CORPORA / "flanker" / "tests" / "fixtures" / "messages")
    for sub in ("bounce", "complaints"):
        for path in sorted((folder / sub).iterdir()):
            report = parse_email(path.read_bytes())
            assert report.set_aside == "bounce", (path.name, report.set_aside_evidence)
