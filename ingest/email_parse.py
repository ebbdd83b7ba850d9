"""Parse one raw email into a candidate report (source "email").

`parse_email(raw)` returns a `Report` or raises `ParseError`; nothing else escapes.

`Report.fields` keys set for every mail:
- `forwarded` (bool): the report describes a forwarded original (inline or attached).
- `html_only` (bool): the body text was converted from HTML (no usable text/plain).
- `sentry_email` (bool): a Sentry alert email (X-Sentry-* headers or a Sentry sender).
- `has_attachments` (bool): at least one attachment is listed.
- `in_reply` (bool): In-Reply-To/References present or the subject starts with Re:/AW:/...
- `mailer` (str): X-Mailer (or User-Agent), "" when absent.
- `sender_domain` (str): domain of `reporter_address` (the original sender of a forward).
Only when they apply:
- `forwarded_by_address` (str): the forwarder's address, for forwards.
- `level`, `environment`, `project`, `url` (str): facts of a Sentry alert email.

A forwarded original that arrived as an attachment is described, not listed: the report
lists the original's own attachments instead.
"""

from __future__ import annotations

import email
import hashlib
import re
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from core.report import Attachment, ParseError, Report
from ingest._values import storable
from ingest.email_auto import Shape, classify_automatic
from ingest.email_body import body_text, html_source, split_body
from ingest.email_forward import find_inline_forward
from ingest.email_headers import (
    SELECTED_HEADERS,
    display_form,
    first_address,
    message_ids,
    parse_addresses,
    parse_date,
    read_headers,
)
from ingest.email_limits import check_limits
from ingest.email_markers import FORWARD_PREFIX, REPLY_PREFIX, strip_subject_prefixes
from ingest.email_mime import BodyParts, message_size, walk_message
from ingest.email_original import apply_original, attached_original, inline_original
from ingest.email_quotes import split_reply
from ingest.email_sentry import is_sentry_email, sentry_facts
from ingest.html_text import strip_marks

__all__ = ["SELECTED_HEADERS", "parse_email"]

_HEADER_START = re.compile(rb"(?:From [^\r\n]{0,1000}\r?\n)?[\x21-\x39\x3b-\x7e]{1,100}[ \t]*:")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def _check_looks_like_mail(raw: bytes) -> bytes:
    """The input without leading blank lines; ParseError when it cannot be mail at all."""
    stripped = raw.lstrip(b" \t\r\n")
    if not stripped:
        raise ParseError("empty input: no headers and no body")
    if stripped[:1] in (b"{", b"["):
        # '{"action":' is a valid header name by RFC 5322's letter, but this is JSON.
        raise ParseError("not an email: the input looks like JSON")
    if _HEADER_START.match(stripped):
        return stripped
    sample = stripped[:4096]
    if b"\x00" in sample or len(_CONTROL_BYTES.findall(sample)) > len(sample) // 20:
        raise ParseError("not an email: binary data with no header lines")
    return stripped


def _parse_message(data: bytes, warnings: list[str], headers_only: bool) -> Message:
    if headers_only:
        return BytesHeaderParser(policy=compat32).parsebytes(data)
    try:
        return email.message_from_bytes(data, policy=compat32)
    except RecursionError:
        # The stdlib parser recurses once per nesting level; hundreds of levels are an
        # attack or a loop. The headers are still readable, the body is kept as text.
        warnings.append("MIME nesting too deep to parse; the body was read as plain text")
        return BytesHeaderParser(policy=compat32).parsebytes(data)


def _sender(raw_headers: dict[str, str], warnings: list[str]) -> tuple[str, str]:
    name, address = first_address(raw_headers.get("from", ""), warnings)
    if not address:
        name, address = first_address(raw_headers.get("sender", ""), warnings)
        if "from" in raw_headers or "sender" in raw_headers:
            warnings.append("no readable sender address in From")
    return name, address


def _recipients(raw_headers: dict[str, str], warnings: list[str]) -> list[str]:
    recipients: list[str] = []
    for name in ("to", "cc"):
        for _, address in parse_addresses(raw_headers.get(name, ""), warnings):
            if address not in recipients:
                recipients.append(address)
    return recipients


def _fingerprint(report: Report, subject: str) -> str:
    """The thread root, else the message replied to, else this message, else the topic."""
    for candidate in (*report.references[:1], report.in_reply_to, report.message_id):
        if candidate:
            return f"email:{candidate}"
    basis = f"{strip_subject_prefixes(subject).lower()}|{report.fields['sender_domain']}"
    return "email:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()[:24]


def _list_attached_messages(report: Report, messages: list[tuple[Message, str]]) -> None:
    for message, file_name in messages:
        size = message_size(message)
        report.attachments.append(Attachment(file_name, "message/rfc822", size))


def _fill_content(
    report: Report,
    parts: BodyParts,
    body: tuple[str, str],
    subject: str,
    forwarder: tuple[str, str] | None,
) -> str:
    """Set text, quoted and note, and for a forward (when `forwarder`, the sender's name and
    address, is given) the original's sender and date; return the title's subject."""
    plain, marked = body
    if forwarder is not None and parts.forwarded:
        original = attached_original(parts.forwarded[0][0], report.warnings)
        _list_attached_messages(report, parts.forwarded[1:])
        report.note = split_body(plain, marked)[0]
        apply_original(report, original, forwarder, report.sent_at)
        return original.subject or subject
    _list_attached_messages(report, parts.forwarded)
    inline = None
    if forwarder is not None:
        text = plain or strip_marks(marked)
        inline = find_inline_forward(text, bool(FORWARD_PREFIX.match(subject)))
    if inline is None or forwarder is None:
        report.text, report.quoted = split_body(plain, marked)
        return subject
    zone = report.sent_at.tzinfo if report.sent_at is not None else None
    original = inline_original(inline, zone)
    report.note = split_reply(inline.note)[0]
    apply_original(report, original, forwarder, report.sent_at)
    return original.subject or subject


def _make_storable(report: Report) -> None:
    """NUL bytes and undecodable leftovers (lone surrogates) become U+FFFD in every string,
    so the report can be written to PostgreSQL, which refuses both."""
    for name in ("title", "text", "note", "quoted", "reporter", "reporter_address"):
        setattr(report, name, storable(getattr(report, name)))
    for name in ("forwarded_by", "message_id", "in_reply_to", "fingerprint"):
        setattr(report, name, storable(getattr(report, name)))
    report.set_aside_evidence = storable(report.set_aside_evidence)
    report.recipients = [storable(value) for value in report.recipients]
    report.references = [storable(value) for value in report.references]
    report.warnings = [storable(value) for value in report.warnings]
    report.headers = {storable(key): storable(value) for key, value in report.headers.items()}
    report.fields = {
        key: storable(value) if isinstance(value, str) else value
        for key, value in report.fields.items()
    }
    report.attachments = [
        Attachment(storable(a.name), storable(a.content_type), a.size) for a in report.attachments
    ]


def parse_email(raw: bytes) -> Report:
    """Parse raw RFC 5322 bytes into a `Report`; see the module docstring for `fields`."""
    checked = check_limits(raw)
    data = _check_looks_like_mail(checked.data)
    warnings: list[str] = list(checked.warnings)
    message = _parse_message(data, warnings, checked.headers_only)
    headers, raw_headers = read_headers(message, warnings)
    if not message.keys():
        warnings.append("no mail headers found; the whole input was read as the body")
    name, address = _sender(raw_headers, warnings)
    sent_at = parse_date(headers.get("date", ""))
    if "date" in headers and sent_at is None:
        warnings.append(f"unreadable Date header: {headers['date'][:60]!r}")
    subject = headers.get("subject", "")

    parts = walk_message(message)
    warnings.extend(parts.warnings)
    plain, marked = body_text(parts, warnings)
    text = plain or strip_marks(marked)
    if not message.keys() and not text.strip():
        raise ParseError("no headers and no body text")

    sentry = is_sentry_email(headers, address)
    report = Report(
        source="email",
        title="",
        reporter=display_form(name, address),
        reporter_address=address,
        sent_at=sent_at,
        recipients=_recipients(raw_headers, warnings),
        message_id=(message_ids(headers.get("message-id", "")) or [""])[0],
        in_reply_to=(message_ids(headers.get("in-reply-to", "")) or [""])[0],
        references=message_ids(headers.get("references", "")),
        headers=headers,
        fields={"forwarded": False, "html_only": bool(marked), "sentry_email": sentry},
        warnings=warnings,
        attachments=list(parts.attachments),
    )
    automatic = None
    if not sentry:
        shape = Shape(
            content_type=message.get_content_type(),
            report_type=parts.report_type,
            has_delivery_status=parts.has_delivery_status,
            has_feedback_report=parts.has_feedback_report,
            has_returned_message=bool(parts.forwarded) or parts.has_rfc822_headers,
            text_start=text[:1000],
        )
        automatic = classify_automatic(headers, sender=address, subject=subject, shape=shape)
    if automatic is not None:
        report.set_aside, report.set_aside_evidence = automatic

    # A bounce carries the returned message, our own mail is ours: neither is a forward.
    forwardable = not sentry and report.set_aside not in ("bounce", "own")
    forwarder = (name, address) if forwardable else None
    title_subject = _fill_content(report, parts, (plain, marked), subject, forwarder)
    report.title = strip_subject_prefixes(title_subject) or "(no subject)"
    report.fields["has_attachments"] = bool(report.attachments)
    report.fields["in_reply"] = bool(
        report.in_reply_to or report.references or REPLY_PREFIX.match(subject)
    )
    report.fields["mailer"] = headers.get("x-mailer") or headers.get("user-agent") or ""
    report.fields["sender_domain"] = report.reporter_address.rpartition("@")[2]
    report.fingerprint = _fingerprint(report, subject)
    if sentry:
        facts = sentry_facts(headers, text, html_source(parts))
        issue_id = facts.pop("issue_id", "")
        report.fields.update(facts)
        if issue_id:
            report.fingerprint = f"sentry:issue:{issue_id}"
    _make_storable(report)
    return report
