"""Forwarded mail: inline forwards of Gmail, Outlook, Apple Mail and Thunderbird in English,
German, French and Spanish, forwards as message/rfc822 attachments, and forwarded dates."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.report import Attachment, Report
from ingest.email_dates import parse_loose_date
from ingest.email_forward import find_inline_forward
from ingest.email_parse import parse_email
from tests.conftest import EXAMPLES

DATA = Path(__file__).parent / "data" / "email"
CEST = timezone(timedelta(hours=2))


def example(name: str) -> Report:
    path = EXAMPLES / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing (CI needs ../shared beside the checkout)")
        pytest.skip(f"{path} not present on this machine")
    return parse_email(path.read_bytes())


FORWARDS = [
    # file, original sender, forwarder, title, note starts, text starts, sent_at
    (
        "fwd-gmail.eml",
        "Daniel Okafor <d.okafor@northwind.example>",
        "Sofia Marin <sofia.marin@tidewell.io>",
        "Urgent: invoices show the wrong VAT rate",
        "Can someone from billing look at this today?",
        "Hi Sofia,\n\nAll invoices we received this month charge 21% VAT",
        datetime(2025, 4, 8, 16, 12, tzinfo=CEST),
    ),
    (
        "fwd-outlook.eml",
        "Eva de Vries <eva.devries@depot-rotterdam.example>",
        "Becker, Tom <tom.becker@tidewell.io>",
        "Outage at our Rotterdam depot",
        "Passing this on - the depot is one of our three biggest customers.",
        "Tom,\n\nYour route planner has shown an empty schedule",
        datetime(2025, 4, 9, 7, 58, tzinfo=UTC),
    ),
    (
        "fwd-outlook-rule.eml",
        "Li Wei <li.wei@customer-mail.example>",
        "Hannah Scott <hannah.scott@tidewell.io>",
        "Account takeover?",
        "Security, please check.",
        "Someone changed the e-mail address and the payout IBAN",
        datetime(2025, 4, 9, 9, 47, tzinfo=UTC),
    ),
    (
        "fwd-apple.eml",
        "Grace Holm <grace@holm-bakery.example>",
        "Chris Doyle <chris.doyle@tidewell.io>",
        "Data export contains other customers' orders",
        "FYI, looks like a privacy problem.",
        "Hello,\n\nThe CSV export I downloaded today lists orders from two other bakeries,",
        datetime(2025, 4, 10, 12, 2, 55, tzinfo=timezone(timedelta(hours=1))),
    ),
    (
        "fwd-de-gmail.eml",
        "Jürgen Hofmann <j.hofmann@feinkost-hofmann.example>",
        "Katrin Vogel <katrin.vogel@tidewell.io>",
        "Lieferungen in Hamburg seit Stunden verspätet",
        "Bitte dringend anschauen",
        "Guten Tag Frau Vogel,",
        datetime(2025, 4, 8, 16, 12, tzinfo=CEST),
    ),
    (
        "fwd-de-outlook.eml",
        "Filiale Köln <koeln@tidewell.io>",
        "Stefan Braun <stefan.braun@tidewell.io>",
        "Störung Kassensystem Filiale Köln",
        "Zur Info, bitte Priorität hoch.",
        "Hallo Stefan,\n\nseit 8 Uhr nimmt keine Kasse mehr Kartenzahlungen an.",
        datetime(2025, 4, 9, 8, 47, tzinfo=CEST),
    ),
    (
        "fwd-fr-gmail.eml",
        "Claire Dubois <claire.dubois@exemple-mail.example>",
        "Julien Moreau <julien.moreau@tidewell.io>",
        "Double prélèvement sur ma carte",
        "Deuxième cliente aujourd'hui",
        "Bonjour,\n\nMa commande de ce midi a été débitée deux fois.",
        datetime(2025, 4, 8, 17, 55, tzinfo=CEST),
    ),
    (
        "fwd-fr-outlook.eml",
        "Paul Girard <paul.girard@restaurant-girard.example>",
        "Nadia Benali <nadia.benali@tidewell.io>",
        "Fuite de données ?",
        "À traiter en priorité.",
        "Bonjour,\n\nUn inconnu m'a appelé",
        datetime(2025, 4, 9, 10, 41, tzinfo=CEST),
    ),
    (
        "fwd-es-gmail.eml",
        "Carlos Ruiz <carlos.ruiz@taberna-ruiz.example>",
        "Lucía Romero <lucia.romero@tidewell.io>",
        "Pedidos duplicados en Madrid",
        "Esto afecta a varios restaurantes.",
        "Hola Lucía,\n\nCada pedido nos llega dos veces",
        datetime(2025, 4, 8, 18, 31, tzinfo=CEST),
    ),
    (
        "fwd-es-outlook.eml",
        "Marta Gil <marta.gil@flota-valencia.example>",
        "Diego Torres <diego.torres@tidewell.io>",
        "Caída de la app de repartidores",
        "Os lo reenvío, urgente.",
        "Diego,\n\nLa app de repartidores no carga en Valencia",
        datetime(2025, 4, 9, 13, 5, tzinfo=CEST),
    ),
    (
        "fwd-attached.eml",
        "Risk Desk <risk-desk@acquirer-bank.example>",
        "Ingrid Lund <ingrid.lund@tidewell.io>",
        "Chargeback notice for March",
        "The acquirer sent this, attached as it came in.",
        "Dear merchant,\n\nYour chargeback ratio reached 1.9% in March",
        datetime(2025, 4, 10, 13, 44, 27, tzinfo=timezone(timedelta(hours=1))),
    ),
]


@pytest.mark.parametrize(
    ("name", "reporter", "forwarder", "title", "note", "text", "sent_at"),
    FORWARDS,
    ids=[case[0] for case in FORWARDS],
)
def test_forwarded_mail_describes_the_original(
    name: str,
    reporter: str,
    forwarder: str,
    title: str,
    note: str,
    text: str,
    sent_at: datetime,
) -> None:
    report = parse_email((DATA / name).read_bytes())
    assert report.reporter == reporter
    assert report.reporter_address == reporter.split("<")[1].rstrip(">")
    assert report.forwarded_by == forwarder
    assert report.title == title
    assert report.note.startswith(note)
    assert report.text.startswith(text)
    assert report.sent_at == sent_at
    assert report.fields["forwarded"] is True
    assert report.fields["forwarded_by_address"] == forwarder.split("<")[1].rstrip(">")
    assert report.fields["sender_domain"] == report.reporter_address.split("@")[1]
    # The forward's own lines never leak into the original's text or the note.
    for marker in ("Forwarded", "Weitergeleitete", "transféré", "reenviado", "From:", "Von:"):
        assert marker not in report.text and marker not in report.note
    assert report.set_aside is None


def test_attached_forward_lists_the_originals_attachments() -> None:
    report = parse_email((DATA / "fwd-attached.eml").read_bytes())
    assert report.attachments == [Attachment("cb-report-march.pdf", "application/pdf", 1083)]
    assert report.fields["has_attachments"] is True
    assert report.message_id == "fwd-attached-01@tidewell.io"  # the raw message's own id


def test_example_003_inline_gmail_forward() -> None:
    report = example("003-largest-customer-churn-threat.eml")
    assert report.reporter == "Karen Whitfield <karen.whitfield@contoso.com>"
    assert report.reporter_address == "karen.whitfield@contoso.com"
    assert report.forwarded_by == "Tom Becker <tom.becker@tidewell.io>"
    assert report.note.startswith("Flagging this as an incident")
    assert report.title == "Tidewell for Business - renewal"
    assert report.text.startswith("Tom,\n\nFollowing our quarterly review")
    assert report.sent_at == datetime(2025, 3, 17, 8, 31, tzinfo=UTC)
    assert report.fields["forwarded"] is True
    assert report.fields["sender_domain"] == "contoso.com"


def test_example_004_forward_as_rfc822_attachment() -> None:
    report = example("004-ex-employee-leak-threat.eml")
    assert report.reporter == "James Markham <jmarkham.personal@example.net>"
    assert report.forwarded_by == "Grace Liu <grace.liu@tidewell.io>"
    assert report.title == "My final commission"
    assert report.note.startswith("Hi security team,")
    assert "send the 2025 pricing strategy deck" in report.text
    assert report.sent_at == datetime(2025, 3, 18, 22, 47, 3, tzinfo=UTC)
    assert report.fields["forwarded"] is True


def test_reply_above_a_quoted_forward_is_a_reply() -> None:
    text = (
        "Agreed, let's call them.\n\nOn Tue, 8 Apr 2025 at 17:00, Sofia <s@tidewell.io> wrote:\n"
        "> ---------- Forwarded message ---------\n> From: Daniel <d@northwind.example>\n"
    )
    assert find_inline_forward(text, subject_says_forward=False) is None
    raw = f"From: a@tidewell.io\nSubject: Re: Fwd: VAT\n\n{text}".encode()
    report = parse_email(raw)
    assert report.fields["forwarded"] is False
    assert report.text == "Agreed, let's call them."
    assert report.reporter_address == "a@tidewell.io"


def test_outlook_block_needs_a_forward_subject() -> None:
    text = "Thanks!\n\nFrom: Eva <eva@example.com>\nSent: Monday\nTo: Tom\nSubject: Depot\n\nHi"
    assert find_inline_forward(text, subject_says_forward=False) is None
    found = find_inline_forward(text, subject_says_forward=True)
    assert found is not None
    assert found.note == "Thanks!"
    assert found.headers == {
        "from": "Eva <eva@example.com>",
        "date": "Monday",
        "to": "Tom",
        "subject": "Depot",
    }
    assert found.body == "Hi"


def test_thunderbird_forward_and_wrapped_recipients() -> None:
    text = (
        "-------- Forwarded Message --------\nSubject: \tOvens offline\nDate: \tTue, 8 Apr 2025"
        " 09:00:00 +0200\nFrom: \tBakery <ops@bakery.example>\nTo: \ta@x.example, b@x.example,\n"
        "c@x.example\n\nAll three ovens report E42.\n"
    )
    found = find_inline_forward(text, subject_says_forward=False)
    assert found is not None
    assert found.note == ""
    assert found.headers["to"] == "a@x.example, b@x.example, c@x.example"
    assert found.body == "All three ovens report E42."


def test_forward_without_sender_keeps_the_forwarder_with_warning() -> None:
    raw = (
        b"From: Tom <tom@tidewell.io>\nDate: Tue, 08 Apr 2025 10:00:00 +0000\nSubject: Fwd: x\n\n"
        b"Look.\n\n---------- Forwarded message ---------\nSubject: Broken\n\nThe body.\n"
    )
    report = parse_email(raw)
    assert report.fields["forwarded"] is True
    assert report.reporter == "Tom <tom@tidewell.io>"
    assert report.title == "Broken"
    assert report.text == "The body."
    assert report.sent_at == datetime(2025, 4, 8, 10, 0, tzinfo=UTC)
    assert any("sender" in warning for warning in report.warnings)
    assert any("date" in warning for warning in report.warnings)


def test_outlook_sender_without_address() -> None:
    raw = (
        b"From: Tom <tom@tidewell.io>\nSubject: FW: Printer\n\nFYI\n\n-----Original Message-----\n"
        b"From: Facilities Desk\nSent: Tuesday, April 8, 2025 9:15 AM\nTo: Tom\nSubject: Printer"
        b"\n\nThe printer is smoking.\n"
    )
    report = parse_email(raw)
    assert report.reporter == "Facilities Desk"
    assert report.reporter_address == ""
    assert report.text == "The printer is smoking."
    assert report.sent_at == datetime(2025, 4, 8, 9, 15, tzinfo=UTC)


def test_bounce_with_attached_message_is_not_a_forward() -> None:
    report = parse_email((DATA / "bounce-postfix.eml").read_bytes())
    assert report.fields["forwarded"] is False
    assert report.reporter_address == "mailer-daemon@mx1.tidewell.io"
    assert {attachment.content_type for attachment in report.attachments} == {
        "message/delivery-status",
        "message/rfc822",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 17 Mar 2025 at 08:31", datetime(2025, 3, 17, 8, 31, tzinfo=CEST)),
        ("Monday, March 17, 2025 8:31 PM", datetime(2025, 3, 17, 20, 31, tzinfo=CEST)),
        ("17 March 2025 at 08:31:00 GMT", datetime(2025, 3, 17, 8, 31, tzinfo=UTC)),
        ("Montag, 17. März 2025 08:31", datetime(2025, 3, 17, 8, 31, tzinfo=CEST)),
        ("lun. 17 mars 2025 à 08:31", datetime(2025, 3, 17, 8, 31, tzinfo=CEST)),
        ("lunes, 17 de marzo de 2025 8:31", datetime(2025, 3, 17, 8, 31, tzinfo=CEST)),
        ("mar, 18 mar 2025 a las 10:02", datetime(2025, 3, 18, 10, 2, tzinfo=CEST)),
        ("17.03.2025 08:31", datetime(2025, 3, 17, 8, 31, tzinfo=CEST)),
        ("3/17/2025 8:31 AM", datetime(2025, 3, 17, 8, 31, tzinfo=CEST)),
        ("2025-03-17 08:31", datetime(2025, 3, 17, 8, 31, tzinfo=CEST)),
        (
            "Tue, 18 Mar 2025 22:47:03 -0500",
            datetime(2025, 3, 18, 22, 47, 3, tzinfo=timezone(timedelta(hours=-5))),
        ),
        ("Friday, 23 March 2012 5:08 p.m.", datetime(2012, 3, 23, 17, 8, tzinfo=CEST)),
    ],
)
def test_forwarded_dates(value: str, expected: datetime) -> None:
    assert parse_loose_date(value, CEST) == expected


@pytest.mark.parametrize("value", ["", "yesterday", "31.02.2025 10:00", "99:99"])
def test_unreadable_forwarded_dates(value: str) -> None:
    assert parse_loose_date(value, CEST) is None


HTML_FORWARDS = {
    "outlook": (
        "FW: Depot outage",
        '<div class="WordSection1"><p class="MsoNormal">Passing this on.<o:p></o:p></p>'
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        '<p class="MsoNormal"><b>From:</b> Eva de Vries &lt;eva@depot.example&gt;<br>'
        "<b>Sent:</b> Wednesday, April 9, 2025 7:58 AM<br><b>To:</b> Tom<br>"
        "<b>Subject:</b> Depot outage</p></div>"
        '<p class="MsoNormal">Forty drivers are waiting in the yard.</p></div>',
    ),
    "gmail": (
        "Fwd: Depot outage",
        '<div dir="ltr">Passing this on.<br><br><div class="gmail_quote">'
        '<div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: '
        '<strong class="gmail_sendername">Eva de Vries</strong> <span>&lt;<a href="mailto:'
        'eva@depot.example">eva@depot.example</a>&gt;</span><br>Date: Wed, 9 Apr 2025 at 07:58'
        "<br>Subject: Depot outage<br>To: Tom &lt;tom@tidewell.io&gt;<br></div><br><br>"
        '<div dir="ltr">Forty drivers are waiting in the yard.</div></div></div>',
    ),
    "apple": (
        "Fwd: Depot outage",
        '<div>Passing this on.</div><div><br><blockquote type="cite"><div>Begin forwarded '
        "message:</div><br><div><b>From: </b>Eva de Vries &lt;eva@depot.example&gt;<br>"
        "<b>Subject: </b>Depot outage<br><b>Date: </b>9 April 2025 at 07:58:00 GMT<br>"
        "<b>To: </b>Tom<br></div><br><div>Forty drivers are waiting in the yard.</div>"
        "</blockquote></div>",
    ),
}


@pytest.mark.parametrize("client", sorted(HTML_FORWARDS))
def test_html_only_forwards(client: str) -> None:
    subject, html = HTML_FORWARDS[client]
    raw = (
        f"From: Tom <tom@tidewell.io>\nSubject: {subject}\nDate: Wed, 09 Apr 2025 08:15:00 +0000"
        f"\nContent-Type: text/html; charset=utf-8\n\n<html><body>{html}</body></html>\n"
    ).encode()
    report = parse_email(raw)
    assert report.fields["forwarded"] is True
    assert report.fields["html_only"] is True
    assert report.reporter == "Eva de Vries <eva@depot.example>"
    assert report.forwarded_by == "Tom <tom@tidewell.io>"
    assert report.title == "Depot outage"
    assert report.note == "Passing this on."
    assert report.text == "Forty drivers are waiting in the yard."
    assert report.sent_at == datetime(2025, 4, 9, 7, 58, tzinfo=UTC)


def test_forward_of_a_forward_reaches_the_first_original() -> None:
    raw = (
        b"From: Ann <ann@tidewell.io>\nSubject: Fwd: Fwd: Oven fire alarm\n\nSee below.\n\n"
        b"---------- Forwarded message ---------\nFrom: Ben <ben@tidewell.io>\n"
        b"Date: Tue, 8 Apr 2025 at 10:05\nSubject: Fwd: Oven fire alarm\n\n\n\n"
        b"---------- Forwarded message ---------\nFrom: Store 9 <store9@tidewell.io>\n"
        b"Date: Tue, 8 Apr 2025 at 10:01\nSubject: Oven fire alarm\n\nThe alarm went off.\n"
    )
    report = parse_email(raw)
    assert report.reporter == "Store 9 <store9@tidewell.io>"
    assert report.forwarded_by == "Ann <ann@tidewell.io>"
    assert report.title == "Oven fire alarm"
    assert report.note == "See below."
    assert report.text == "The alarm went off."


def test_forward_with_words_between_stops_at_the_outer_original() -> None:
    raw = (
        b"From: Ann <ann@tidewell.io>\nSubject: Fwd: Fwd: Oven\n\nFYI\n\n"
        b"---------- Forwarded message ---------\nFrom: Ben <ben@tidewell.io>\nSubject: Fwd: Oven"
        b"\n\nBen's own words.\n\n---------- Forwarded message ---------\nFrom: Store 9 "
        b"<store9@tidewell.io>\nSubject: Oven\n\nThe alarm went off.\n"
    )
    report = parse_email(raw)
    assert report.reporter == "Ben <ben@tidewell.io>"
    assert report.text.startswith("Ben's own words.")
