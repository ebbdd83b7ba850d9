"""parse_email on each mail shape: plain, HTML, alternatives, charsets, broken encodings,
replies, attachments, Sentry alert mails, fingerprints, and input that is not mail."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.report import Attachment, ParseError, Report
from ingest.email_parse import SELECTED_HEADERS, parse_email
from tests.conftest import EXAMPLES

DATA = Path(__file__).parent / "data" / "email"
ALWAYS_SET = {"forwarded", "html_only", "sentry_email", "has_attachments", "in_reply", "mailer"}


def load(name: str) -> Report:
    return parse_email((DATA / name).read_bytes())


def example(name: str) -> Report:
    path = EXAMPLES / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing (CI needs ../shared beside the checkout)")
        pytest.skip(f"{path} not present on this machine")
    return parse_email(path.read_bytes())


def mail(headers: str, body: str = "Body text.\n") -> bytes:
    return (headers.strip("\n") + "\n\n" + body).encode("utf-8")


# --- plain text and headers -----------------------------------------------------------------


def test_plain_utf8_quoted_printable_with_encoded_headers() -> None:
    report = load("plain-utf8.eml")
    assert report.source == "email"
    assert report.title == "Zahlungen schlagen fehl – Checkout hängt"
    assert report.reporter == "Lena Krauß <lena.kraus@tidewell.io>"
    assert report.reporter_address == "lena.kraus@tidewell.io"
    assert report.recipients == [
        "incidents@tidewell.io",
        "ops-oncall@tidewell.io",
        "platform-dev@tidewell.io",
    ]
    assert report.sent_at == datetime(2025, 4, 8, 14, 2, 11, tzinfo=timezone(timedelta(hours=2)))
    assert "mindestens 40 Bestellungen in München und Wien" in report.text
    assert report.message_id == "CAF3x9Q1+plain@mail.tidewell.io"
    assert report.fingerprint == "email:CAF3x9Q1+plain@mail.tidewell.io"
    assert report.headers["subject"] == report.title
    assert report.headers["from"] == "Lena Krauß <Lena.Kraus@Tidewell.io>"
    assert report.fields["mailer"] == "Thunderbird 128.3.1"
    assert report.fields["sender_domain"] == "tidewell.io"
    assert report.warnings == []


def test_latin1_encoded_subject_and_sender_name() -> None:
    report = load("subject-latin1.eml")
    assert report.title == "Problème de livraison à Lyon : colis non reçus"
    assert report.reporter == "Anaïs Lefèvre <anais.lefevre@client-paris.example>"
    assert "Nos trois dernières commandes n'ont jamais été livrées à Lyon." in report.text


def test_every_field_key_is_set() -> None:
    report = load("plain-utf8.eml")
    assert ALWAYS_SET | {"sender_domain"} <= set(report.fields)
    assert report.fields["forwarded"] is False
    assert report.fields["html_only"] is False
    assert report.fields["sentry_email"] is False
    assert report.fields["has_attachments"] is False
    assert report.fields["in_reply"] is False


def test_selected_headers_are_collected_and_decoded() -> None:
    raw = mail(
        """
From: a@example.com
To: b@example.com
Subject: =?utf-8?q?caf=C3=A9?=
Precedence: first-class
X-Sentry-Team: payments
X-Intake-Notification: update
X-Auto-Response-Suppress: OOF
Received: from somewhere
X-Unrelated: skip me
"""
    )
    report = parse_email(raw)
    assert report.headers["subject"] == "café"
    assert report.headers["x-sentry-team"] == "payments"
    assert report.headers["x-intake-notification"] == "update"
    assert "received" not in report.headers and "x-unrelated" not in report.headers
    assert (
        {"from", "to", "subject", "precedence"}
        <= set(report.headers)
        <= (SELECTED_HEADERS | {"x-sentry-team"})
    )


def test_encoded_words_in_several_charsets_and_adjacent_words_join() -> None:
    raw = mail(
        """
From: =?koi8-r?B?68/S0MnLIOnXwc4=?= <ivan@example.ru>
Subject: =?utf-8?B?QmVzdGVs?= =?utf-8?B?bHVuZyBmZWhsdA==?= and =?iso-8859-15?q?=A4_bill?=
"""
    )
    report = parse_email(raw)
    assert report.title == "Bestellung fehlt and € bill"
    assert report.reporter == "Корпик Иван <ivan@example.ru>"


def test_unknown_charset_in_encoded_word_warns() -> None:
    report = parse_email(mail("From: a@example.com\nSubject: =?x-martian?q?caf=E9?="))
    assert report.title == "café"
    assert any("x-martian" in warning for warning in report.warnings)


def test_raw_utf8_header_bytes() -> None:
    report = parse_email("From: Zoë <zoe@example.com>\nSubject: Größe\n\nx\n".encode())
    assert report.title == "Größe"
    assert report.reporter == "Zoë <zoe@example.com>"


def test_raw_header_with_a_stray_invalid_byte_stays_utf8() -> None:
    raw = "From: Юникод Тест".encode() + b"\xf1 <u@example.com>\nSubject: x\n\nbody\n"
    report = parse_email(raw)
    assert report.reporter.startswith("Юникод Тест")
    assert report.reporter_address == "u@example.com"


def test_date_without_zone_and_unreadable_date() -> None:
    report = parse_email(mail("From: a@example.com\nDate: Tue, 08 Apr 2025 10:00:00 -0000"))
    assert report.sent_at == datetime(2025, 4, 8, 10, 0, tzinfo=UTC)
    report = parse_email(mail("From: a@example.com\nDate: the day before yesterday"))
    assert report.sent_at is None
    assert any("Date" in warning for warning in report.warnings)


def test_missing_subject_and_sender() -> None:
    report = parse_email(mail("To: b@example.com"))
    assert report.title == "(no subject)"
    assert report.reporter == "" and report.reporter_address == ""
    assert report.fields["sender_domain"] == ""
    assert report.fingerprint.startswith("email:")


def test_subject_prefixes_stripped_tags_kept() -> None:
    raw = mail("From: a@example.com\nSubject: RE: AW: Fwd: [INC-12] Re: Payments down")
    report = parse_email(raw)
    assert report.title == "[INC-12] Payments down"
    assert report.fields["in_reply"] is True
    assert report.fields["forwarded"] is False


def test_forward_prefix_without_forward_block_is_only_stripped() -> None:
    raw = mail("From: a@example.com\nSubject: Fwd: Printer on floor 3", "It jams again.\n")
    report = parse_email(raw)
    assert report.title == "Printer on floor 3"
    assert report.fields["forwarded"] is False
    assert report.text == "It jams again."
    assert report.reporter_address == "a@example.com"
    assert report.fields["in_reply"] is False


# --- body shapes ----------------------------------------------------------------------------


def test_html_only_drops_scripts_styles_and_head() -> None:
    report = load("html-only.eml")
    assert report.fields["html_only"] is True
    for leaked in ("tracking", "nor this", "font-family", "Alert digest", "comment"):
        assert leaked not in report.text
    lines = report.text.splitlines()
    assert lines[0] == "p95 latency – api-gateway"
    assert "The p95 latency has been above 900 ms for 12 minutes." in lines
    assert "Region: eu-west-1" in lines
    assert "- Owner: platform team" in lines
    assert "2. Scale out if CPU > 80%" in lines
    assert "Café terminals are not affected." in lines


def test_multipart_alternative_prefers_plain_text() -> None:
    report = load("alternative.eml")
    assert report.fields["html_only"] is False
    assert report.text.startswith("Since the 3.12 release this morning")
    assert "HTML VERSION" not in report.text
    assert report.text.endswith("Marco")


def test_empty_plain_alternative_falls_back_to_html() -> None:
    raw = mail(
        'From: a@example.com\nContent-Type: multipart/alternative; boundary="b"',
        "--b\nContent-Type: text/plain\n\n\n--b\nContent-Type: text/html\n\n"
        "<p>Only <i>HTML</i> here</p>\n--b--\n",
    )
    report = parse_email(raw)
    assert report.text == "Only HTML here"
    assert report.fields["html_only"] is True


def test_unknown_charset_label_with_latin1_bytes() -> None:
    report = load("unknown-charset.eml")
    assert "Café Müller store" in report.text and "réseau" in report.text
    assert any("x-unknown" in warning for warning in report.warnings)


def test_wrong_charset_label_is_guessed_with_warning() -> None:
    raw = (
        b"From: a@example.com\nContent-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: 8bit\n\nStra\xdfe gesperrt, Lieferung versp\xe4tet\n"
    )
    report = parse_email(raw)
    assert report.text == "Straße gesperrt, Lieferung verspätet"
    assert any("utf-8" in warning for warning in report.warnings)


def test_hostile_charset_label_is_not_used_as_codec() -> None:
    raw = b"From: a@example.com\nContent-Type: text/plain; charset=zlib\n\nplain words\n"
    report = parse_email(raw)
    assert report.text == "plain words"


def test_broken_base64_is_decoded_best_effort() -> None:
    report = load("broken-base64.eml")
    assert report.text.startswith("Warehouse scanners in Leipzig reject every parcel label")
    assert any("base64" in warning for warning in report.warnings)


def test_broken_quoted_printable_keeps_bad_escapes() -> None:
    report = load("broken-qp.eml")
    assert "stuck at 62% – finance needs it by noon." in report.text
    assert "=ZZ" in report.text
    assert any("quoted-printable" in warning for warning in report.warnings)


def test_attachments_listed_with_decoded_sizes() -> None:
    report = load("attachments.eml")
    assert report.attachments == [
        Attachment("failed-orders.csv", "text/csv", 45),
        Attachment("Fehlerbericht März.pdf", "application/pdf", 1083),
    ]
    assert report.fields["has_attachments"] is True
    assert report.text == "Export and screenshot attached."


def test_inline_text_part_with_file_name_is_an_attachment() -> None:
    raw = mail(
        'From: a@example.com\nContent-Type: multipart/mixed; boundary="m"',
        "--m\nContent-Type: text/plain\n\nSee the log.\n--m\nContent-Type: text/plain\n"
        'Content-Disposition: inline; filename="app.log"\n\nERROR one\nERROR two\n--m--\n',
    )
    report = parse_email(raw)
    assert report.text == "See the log."
    assert report.attachments == [Attachment("app.log", "text/plain", 19)]


def test_multipart_example_009() -> None:
    report = example("009-planned-hotfix-deployment.eml")
    assert report.title == "[Release] Hotfix 4.18.1 to production today 15:00 UTC"
    assert report.text.startswith("Hi all,\n\nHeads-up: hotfix 4.18.1 goes to production")
    assert "<b>" not in report.text
    assert report.fields["html_only"] is False
    assert report.reporter == "Omar Haddad <omar.haddad@tidewell.io>"


# --- replies --------------------------------------------------------------------------------


def test_reply_with_quoted_history_and_thread_fingerprint() -> None:
    report = load("reply-en.eml")
    assert report.title == "[INC-12] Checkout errors in Poland"
    assert report.text == (
        "Rolled back the payment SDK to 5.2.0, error rate is back to normal.\n"
        "I will keep watching for an hour."
    )
    assert report.quoted.startswith("On Fri, 11 Apr 2025 at 10:02, Mateusz Nowak")
    assert "invalid currency" in report.quoted
    assert report.in_reply_to == "CAreply-en-1@mail.gmail.com"
    assert report.references == ["CAroot-inc12@mail.gmail.com", "CAreply-en-1@mail.gmail.com"]
    assert report.fingerprint == "email:CAroot-inc12@mail.gmail.com"
    assert report.fields["in_reply"] is True


@pytest.mark.parametrize(
    ("name", "text", "quoted_start", "fingerprint"),
    [
        ("reply-de.eml", "Der Dienst läuft wieder", "Am Fr., 11. Apr. 2025", "orig-de@tidewell.io"),
        ("reply-fr.eml", "Le prestataire confirme", "Le ven. 11 avr. 2025", "orig-fr@tidewell.io"),
        ("reply-es.eml", "Ya hemos añadido diez", "El vie, 11 abr 2025", "orig-es@tidewell.io"),
        (
            "reply-outlook.eml",
            "Cleaned up old WAL files",
            "From: Monitoring",
            "orig-outlook@tidewell.io",
        ),
    ],
)
def test_replies_in_other_languages_and_clients(
    name: str, text: str, quoted_start: str, fingerprint: str
) -> None:
    report = load(name)
    assert report.text.startswith(text)
    assert "\n>" not in report.text and quoted_start not in report.text
    assert report.quoted.startswith(quoted_start)
    assert report.fingerprint == f"email:{fingerprint}"
    assert report.fields["in_reply"] is True
    assert report.fields["forwarded"] is False


def test_html_reply_split_uses_the_gmail_quote() -> None:
    report = load("reply-html-gmail.eml")
    assert report.text == "The CDN certificate expired at 13:00, renewing it now.\n\nRavi"
    assert report.quoted.startswith("On Fri, 11 Apr 2025 at 14:50, Sara Lind")
    assert "grey map tiles" in report.quoted
    assert report.fields["html_only"] is True


def test_fingerprint_without_message_ids_hashes_subject_and_domain() -> None:
    first = parse_email(mail("From: a@shop.example\nSubject: Re: Till broken"))
    second = parse_email(mail("From: b@shop.example\nSubject: Till broken"))
    other = parse_email(mail("From: a@other.example\nSubject: Till broken"))
    assert first.fingerprint == second.fingerprint != other.fingerprint
    assert first.fingerprint.startswith("email:") and len(first.fingerprint) > 20


def test_message_ids_without_brackets() -> None:
    report = parse_email(mail("From: a@x.example\nMessage-ID: abc@x.example\nIn-Reply-To: r@x"))
    assert report.message_id == "abc@x.example"
    assert report.in_reply_to == "r@x"
    assert report.fingerprint == "email:r@x"


# --- Sentry alert emails --------------------------------------------------------------------


def test_sentry_alert_email_fields_and_issue_fingerprint() -> None:
    report = load("sentry-alert.eml")
    assert report.fields["sentry_email"] is True
    assert report.fields["level"] == "error"
    assert report.fields["environment"] == "production"
    assert report.fields["project"] == "checkout-api"
    assert report.fields["url"].startswith("https://tidewell.sentry.io/issues/4512345678/")
    assert report.fingerprint == "sentry:issue:4512345678"
    assert report.set_aside is None  # despite Auto-Submitted and List-Unsubscribe
    assert report.headers["x-sentry-logger"] == "javascript"


def test_sentry_html_alert_from_sentry_sender() -> None:
    report = load("sentry-alert-html.eml")
    assert report.fields["sentry_email"] is True
    assert report.fields["level"] == "fatal"
    assert report.fields["environment"] == "prod-eu"
    assert report.fields["project"] == "payments-worker"
    assert report.fingerprint == "sentry:issue:987654"
    assert report.set_aside is None


def test_sentry_reply_to_header_gives_issue_id() -> None:
    raw = mail(
        "From: Sentry <noreply@md.getsentry.com>\nX-Sentry-Reply-To: 777+sig@reply.sentry.io",
        "Something broke.\n",
    )
    report = parse_email(raw)
    assert report.fingerprint == "sentry:issue:777"
    assert "level" not in report.fields


def test_not_sentry_when_only_the_body_mentions_it() -> None:
    raw = mail("From: dev@tidewell.io\nSubject: sentry link", "https://sentry.io/issues/5/\n")
    report = parse_email(raw)
    assert report.fields["sentry_email"] is False
    assert report.fingerprint != "sentry:issue:5"


# --- not mail, broken mail ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"  \r\n\n\t ", "empty"),
        (b'{"action": "created", "data": {}}', "JSON"),
        (b"[1, 2, 3]", "JSON"),
        (bytes(range(256)) * 4, "binary"),
        (b"\x00\x01\x02\x03garbage\xff\xfe", "binary"),
    ],
)
def test_not_mail_raises_parse_error(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_email(raw)


def test_headers_without_body_is_a_report() -> None:
    report = parse_email(b"From: a@example.com\nSubject: heads only\n")
    assert report.title == "heads only"
    assert report.text == ""


def test_text_without_headers_is_read_as_body_with_warning() -> None:
    report = parse_email(b"the till in store 4 is on fire\nplease call\n")
    assert "the till in store 4 is on fire" in report.text
    assert any("no mail headers" in warning for warning in report.warnings)


def test_truncated_mail_is_best_effort() -> None:
    raw = (DATA / "attachments.eml").read_bytes()
    report = parse_email(raw[: len(raw) // 2])
    assert report.title == "Failed orders export and screenshot"
    assert report.warnings


def test_missing_boundary_reads_body_as_text() -> None:
    raw = mail(
        'From: a@example.com\nContent-Type: multipart/mixed; boundary="nope"',
        "There is no boundary here, just words.\n",
    )
    report = parse_email(raw)
    assert "just words" in report.text
    assert report.warnings


def test_deep_nesting_is_bounded() -> None:
    depth = 200
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)
    )
    raw = ("From: a@example.com\n" + head + "Content-Type: text/plain\n\ndeep\n").encode()
    report = parse_email(raw)
    assert any("nesting" in warning for warning in report.warnings)


def test_many_parts_are_capped() -> None:
    parts = "".join(f"--m\nContent-Type: text/plain\n\npart {i}\n" for i in range(3000))
    raw = mail(
        'From: a@example.com\nContent-Type: multipart/mixed; boundary="m"', parts + "--m--\n"
    )
    report = parse_email(raw)
    assert any("MIME parts" in warning for warning in report.warnings)
    assert "part 0" in report.text


def test_huge_html_is_capped() -> None:
    html = "<div>" + "<p>row</p>" * 100_000 + "</div>"
    raw = mail("From: a@example.com\nContent-Type: text/html", html)
    report = parse_email(raw)
    assert report.text.startswith("row")
    assert any("HTML body longer" in warning for warning in report.warnings)
