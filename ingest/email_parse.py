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
"""

from __future__ import annotations

import email
import hashlib
import re
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from core.report import Attachment, ParseError, Report
from ingest.email_auto import Shape, classify_automatic
from ingest.email_dates import parse_loose_date
from ingest.email_forward import find_inline_forward
from ingest.email_headers import (
    decode_header_value,
    display_form,
    message_ids,
    parse_addresses,
    parse_date,
)
from ingest.email_markers import FORWARD_PREFIX, REPLY_PREFIX, strip_subject_prefixes
from ingest.email_mime import BodyParts, message_size, walk_message
from ingest.email_quotes import split_marked_reply, split_reply
from ingest.email_sentry import is_sentry_email, sentry_facts
from ingest.html_text import html_to_marked_text, strip_marks

# Text beyond this is a pasted log or an attack; triage reads the start.
MAX_BODY_CHARS = 200_000
_MAX_HEADER_CHARS = 10_000

SELECTED_HEADERS = frozenset(
    {"from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references"}
    | {"auto-submitted", "precedence", "list-id", "list-unsubscribe", "x-autoreply"}
    | {"x-autorespond", "x-auto-response-suppress", "content-type", "return-path", "x-mailer"}
    | {"x-intake-notification", "reply-to", "sender", "user-agent", "x-failed-recipients"}
    | {"mailing-list", "x-mlserver"}
)

# Families read whole: Sentry's own headers, RFC 2369 list headers, Amazon SNS's headers.
_PREFIXES = ("x-sentry-", "list-", "x-amz-sns-")
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


def _read_headers(message: Message, warnings: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(selected headers decoded, the same headers' raw values) with lower-case names."""
    decoded: dict[str, str] = {}
    raw_values: dict[str, str] = {}
    for name, value in message.raw_items():
        key = str(name).strip().lower()
        if key in raw_values or not (key in SELECTED_HEADERS or key.startswith(_PREFIXES)):
            continue
        text = str(value)[:_MAX_HEADER_CHARS]
        raw_values[key] = text
        decoded[key] = decode_header_value(text, warnings)
    return decoded, raw_values


def _first_address(raw: str, warnings: list[str]) -> tuple[str, str]:
    pairs = parse_addresses(raw, warnings)
    return pairs[0] if pairs else ("", "")


def _quoted_sender(value: str) -> tuple[str, str]:
    """(name, address) from a forwarded block's From line; the address may be missing."""
    if "@" not in value:
        return value.strip().strip("\"'"), ""
    pairs = parse_addresses(value)
    return pairs[0] if pairs else (value.strip(), "")


def _body_text(parts: BodyParts, warnings: list[str]) -> tuple[str, str, bool]:
    """(plain text, HTML converted with quote marks, html_only) of a walked message."""
    plain = "\n\n".join(text for text in parts.plain if text.strip())
    if plain.strip():
        if len(plain) > MAX_BODY_CHARS:
            warnings.append(
                f"body longer than {MAX_BODY_CHARS} characters; only the start was read"
            )
            plain = plain[:MAX_BODY_CHARS]
        return plain, "", False
    html = "\n".join(parts.html)
    if not html.strip():
        return "", "", False
    return "", html_to_marked_text(html, warnings), True


def _split(plain: str, marked_html: str) -> tuple[str, str]:
    """(new text, quoted history) of a body given as plain text or marked HTML text."""
    return split_marked_reply(marked_html) if marked_html else split_reply(plain)


def _fingerprint(
    references: list[str], in_reply_to: str, message_id: str, subject: str, domain: str
) -> str:
    if references:
        return f"email:{references[0]}"
    if in_reply_to:
        return f"email:{in_reply_to}"
    if message_id:
        return f"email:{message_id}"
    basis = f"{strip_subject_prefixes(subject).lower()}|{domain}"
    return "email:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()[:24]


def _html_source(parts: BodyParts) -> str:
    return "\n".join(parts.html)[:MAX_BODY_CHARS]


class _Original:
    """The forwarded original: who sent it, when, about what, and its text."""

    def __init__(self) -> None:
        self.name = ""
        self.address = ""
        self.date: datetime | None = None
        self.subject = ""
        self.text = ""
        self.quoted = ""
        self.attachments: list[Attachment] = []


def _attached_original(inner: Message, warnings: list[str]) -> _Original:
    original = _Original()
    headers, raw = _read_headers(inner, warnings)
    original.name, original.address = _first_address(raw.get("from", ""), warnings)
    original.date = parse_date(headers.get("date", ""))
    original.subject = headers.get("subject", "")
    parts = walk_message(inner)
    warnings.extend(f"forwarded message: {warning}" for warning in parts.warnings)
    plain, marked, _ = _body_text(parts, warnings)
    original.text, original.quoted = _split(plain, marked)
    original.attachments = parts.attachments
    return original


def parse_email(raw: bytes) -> Report:
    """Parse raw RFC 5322 bytes into a `Report`; see the module docstring for `fields`."""
    data = _check_looks_like_mail(raw)
    warnings: list[str] = []
    try:
        message = email.message_from_bytes(data, policy=compat32)
    except RecursionError:
        # The stdlib parser recurses once per nesting level; hundreds of levels are an
        # attack or a loop. The headers are still readable, the body is kept as text.
        message = BytesHeaderParser(policy=compat32).parsebytes(data)
        warnings.append("MIME nesting too deep to parse; the body was read as plain text")
    headers, raw_headers = _read_headers(message, warnings)
    if not message.keys():
        warnings.append("no mail headers found; the whole input was read as the body")

    from_name, from_address = _first_address(raw_headers.get("from", ""), warnings)
    if not from_address:
        from_name, from_address = _first_address(raw_headers.get("sender", ""), warnings)
        if "from" in raw_headers or "sender" in raw_headers:
            warnings.append("no readable sender address in From")
    recipients: list[str] = []
    for name in ("to", "cc"):
        for _, address in parse_addresses(raw_headers.get(name, ""), warnings):
            if address not in recipients:
                recipients.append(address)
    sent_at = parse_date(headers.get("date", ""))
    if "date" in headers and sent_at is None:
        warnings.append(f"unreadable Date header: {headers['date'][:60]!r}")
    subject = headers.get("subject", "")
    message_id = (message_ids(headers.get("message-id", "")) or [""])[0]
    references = message_ids(headers.get("references", ""))
    in_reply_to = (message_ids(headers.get("in-reply-to", "")) or [""])[0]

    parts = walk_message(message)
    warnings.extend(parts.warnings)
    plain, marked, html_only = _body_text(parts, warnings)
    body = plain or strip_marks(marked)
    if not message.keys() and not body.strip():
        raise ParseError("no headers and no body text")

    sentry = is_sentry_email(headers, from_address)
    shape = Shape(
        content_type=message.get_content_type(),
        report_type=parts.report_type,
        has_delivery_status=parts.has_delivery_status,
        has_feedback_report=parts.has_feedback_report,
        has_returned_message=bool(parts.forwarded) or parts.has_rfc822_headers,
        text_start=body[:1000],
    )
    automatic = None
    if not sentry:
        automatic = classify_automatic(
            headers, sender=from_address, sender_name=from_name, subject=subject, shape=shape
        )

    fields: dict[str, Any] = {"forwarded": False, "html_only": html_only, "sentry_email": sentry}
    report = Report(
        source="email",
        title="",
        reporter=display_form(from_name, from_address),
        reporter_address=from_address,
        sent_at=sent_at,
        recipients=recipients,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        headers=headers,
        fields=fields,
        warnings=warnings,
        attachments=list(parts.attachments),
    )
    if automatic is not None:
        report.set_aside, report.set_aside_evidence = automatic

    forwardable = not sentry and (automatic is None or automatic[0] not in ("bounce", "own"))
    title_subject = subject
    if forwardable and parts.forwarded:
        inner, _ = parts.forwarded[0]
        original = _attached_original(inner, warnings)
        for extra, file_name in parts.forwarded[1:]:
            report.attachments.append(
                Attachment(name=file_name, content_type="message/rfc822", size=message_size(extra))
            )
        report.note = _split(plain, marked)[0]
        _apply_original(report, original, from_name, from_address, sent_at)
        title_subject = original.subject or subject
    else:
        for extra, file_name in parts.forwarded:
            report.attachments.append(
                Attachment(name=file_name, content_type="message/rfc822", size=message_size(extra))
            )
        inline = None
        if forwardable:
            inline = find_inline_forward(body, bool(FORWARD_PREFIX.match(subject)))
        if inline is not None:
            original = _Original()
            original.name, original.address = _quoted_sender(inline.headers.get("from", ""))
            zone = sent_at.tzinfo if sent_at is not None else None
            original.date = parse_loose_date(inline.headers.get("date", ""), zone)
            original.subject = inline.headers.get("subject", "")
            original.text, original.quoted = split_reply(inline.body)
            report.note = split_reply(inline.note)[0]
            _apply_original(report, original, from_name, from_address, sent_at)
            title_subject = original.subject or subject
        else:
            report.text, report.quoted = _split(plain, marked)

    report.title = strip_subject_prefixes(title_subject) or "(no subject)"
    fields["has_attachments"] = bool(report.attachments)
    fields["in_reply"] = bool(in_reply_to or references or REPLY_PREFIX.match(subject))
    fields["mailer"] = headers.get("x-mailer") or headers.get("user-agent") or ""
    fields["sender_domain"] = report.reporter_address.rpartition("@")[2]
    report.fingerprint = _fingerprint(
        references, in_reply_to, message_id, subject, fields["sender_domain"]
    )
    if sentry:
        facts = sentry_facts(headers, body, _html_source(parts))
        issue_id = facts.pop("issue_id", "")
        fields.update(facts)
        if issue_id:
            report.fingerprint = f"sentry:issue:{issue_id}"
    return report


def _apply_original(
    report: Report,
    original: _Original,
    forwarder_name: str,
    forwarder_address: str,
    forwarded_at: datetime | None,
) -> None:
    """Make the report describe the forwarded original, keeping who forwarded it."""
    report.fields["forwarded"] = True
    report.forwarded_by = display_form(forwarder_name, forwarder_address)
    report.fields["forwarded_by_address"] = forwarder_address
    if original.address or original.name:
        report.reporter = display_form(original.name, original.address)
        report.reporter_address = original.address
    else:
        report.warnings.append("forwarded message without a readable sender; kept the forwarder")
    if original.date is not None:
        report.sent_at = original.date
    else:
        report.warnings.append("forwarded message without a readable date; kept the forward's")
        report.sent_at = forwarded_at
    report.text = original.text
    report.quoted = original.quoted
    report.attachments.extend(original.attachments)
