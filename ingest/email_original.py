"""The forwarded original a report describes: read from an attached message/rfc822 part or
from an inline forward block, then put on the report with the forwarder kept aside."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.message import Message

from core.report import Attachment, Report
from ingest.email_body import body_text, split_body
from ingest.email_dates import parse_loose_date
from ingest.email_forward import InlineForward
from ingest.email_headers import (
    display_form,
    first_address,
    parse_addresses,
    parse_date,
    read_headers,
)
from ingest.email_mime import walk_message
from ingest.email_quotes import split_reply


@dataclass
class Original:
    name: str = ""
    address: str = ""
    date: datetime | None = None
    subject: str = ""
    text: str = ""
    quoted: str = ""
    attachments: list[Attachment] = field(default_factory=list)


def attached_original(inner: Message, problems: list[str]) -> Original:
    """The original from a message/rfc822 part: its own headers, body and attachments."""
    headers, raw = read_headers(inner, problems)
    name, address = first_address(raw.get("from", ""), problems)
    parts = walk_message(inner)
    problems.extend(f"forwarded message: {problem}" for problem in parts.warnings)
    text, quoted = split_body(*body_text(parts, problems))
    return Original(
        name=name,
        address=address,
        date=parse_date(headers.get("date", "")),
        subject=headers.get("subject", ""),
        text=text,
        quoted=quoted,
        attachments=parts.attachments,
    )


def _quoted_sender(value: str) -> tuple[str, str]:
    """(name, address) from a forwarded block's From line; the address may be missing."""
    if "@" not in value:
        return value.strip().strip("\"'"), ""
    pairs = parse_addresses(value)
    return pairs[0] if pairs else (value.strip(), "")


def inline_original(forward: InlineForward, zone: tzinfo | None) -> Original:
    """The original from an inline forward block; its printed date is read in `zone`."""
    name, address = _quoted_sender(forward.headers.get("from", ""))
    text, quoted = split_reply(forward.body)
    return Original(
        name=name,
        address=address,
        date=parse_loose_date(forward.headers.get("date", ""), zone),
        subject=forward.headers.get("subject", ""),
        text=text,
        quoted=quoted,
    )


def apply_original(
    report: Report,
    original: Original,
    forwarder: tuple[str, str],
    forwarded_at: datetime | None,
) -> None:
    """Make the report describe the forwarded original; `forwarder` is (name, address)."""
    report.fields["forwarded"] = True
    report.forwarded_by = display_form(*forwarder)
    report.fields["forwarded_by_address"] = forwarder[1]
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
