"""Header values for the email parser: RFC 2047 words, addresses, dates and message ids.

Works on the raw strings the compat32 parser keeps (8-bit bytes survive as surrogate escapes),
so no header is decoded twice and a broken one never raises.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from ingest.email_charset import decode_bytes

_FOLD = re.compile(r"\r?\n[ \t]*")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]*")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_MSGID = re.compile(r"<([^<>\s]{1,500})>")
_SPACE = re.compile(r"\s+")

# Headers kept in Report.headers (lower-case names), besides the families in _PREFIXES.
SELECTED_HEADERS = frozenset(
    {"from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references"}
    | {"auto-submitted", "precedence", "list-id", "list-unsubscribe", "x-autoreply"}
    | {"x-autorespond", "x-auto-response-suppress", "content-type", "return-path", "x-mailer"}
    | {"x-intake-notification", "reply-to", "sender", "user-agent", "x-failed-recipients"}
    | {"mailing-list", "x-mlserver"}
)
# Families read whole: Sentry's own headers, RFC 2369 list headers, Amazon SNS's headers.
_PREFIXES = ("x-sentry-", "list-", "x-amz-sns-")
_MAX_HEADER_CHARS = 10_000

# getaddresses is slow on long hostile values (unbalanced quotes and brackets); real address
# lists longer than this are mass mail whose tail does not matter for triage.
MAX_ADDRESS_HEADER = 8192


def _restore_8bit(value: str) -> str:
    """Raw 8-bit header bytes (kept as surrogate escapes) decoded as UTF-8 or a guess."""
    if value.isascii():
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value
    return decode_bytes(data, None)[0]


def _decode_word(charset: str, encoding: str, payload: str, problems: list[str]) -> str:
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    raw = payload.encode("utf-8", "surrogateescape")
    if encoding in "bB":
        clean = _NOT_BASE64.sub(b"", raw)
        clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
        clean += b"=" * (-len(clean) % 4)
        try:
            data = binascii.a2b_base64(clean)
        except binascii.Error:
            problems.append("unreadable base64 encoded word in a header")
            return payload
    else:
        data = binascii.a2b_qp(raw, header=True)
    text, problem = decode_bytes(data, charset)
    if problem:
        problems.append(f"header: {problem}")
    return text


def decode_header_value(value: str, problems: list[str] | None = None) -> str:
    """Unfold a raw header value and decode its RFC 2047 encoded words (any charset).

    Whitespace between two adjacent encoded words is dropped, as RFC 2047 says; problems
    (unknown charsets, broken base64) are appended to `problems` when given.
    """
    if problems is None:
        problems = []
    value = _FOLD.sub(" ", value).strip()
    value = _restore_8bit(value)
    if "=?" not in value:
        return value
    out: list[str] = []
    pos = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        if not (previous_was_word and _BETWEEN_WORDS.fullmatch(gap)):
            out.append(gap)
        out.append(_decode_word(match.group(1), match.group(2), match.group(3), problems))
        pos = match.end()
        previous_was_word = True
    out.append(value[pos:])
    return "".join(out)


def parse_addresses(raw: str, problems: list[str] | None = None) -> list[tuple[str, str]]:
    """(display name, lower-case address) pairs of an address header, names decoded."""
    raw = _FOLD.sub(" ", raw)
    if len(raw) > MAX_ADDRESS_HEADER:
        if problems is not None:
            problems.append("address header too long; only its start was read")
        raw = raw[:MAX_ADDRESS_HEADER]
    raw = _restore_8bit(raw)
    pairs: list[tuple[str, str]] = []
    for name, address in getaddresses([raw]):
        address = address.strip().strip("<>").lower()
        if not address:
            continue
        name = decode_header_value(name, problems).strip().strip("\"'").strip()
        if name.lower() == address:
            name = ""
        pairs.append((name, address))
    return pairs


def display_form(name: str, address: str) -> str:
    """'Name <addr>', or just the address (or name) when the other part is missing."""
    if name and address:
        return f"{name} <{address}>"
    return address or name


def parse_date(value: str) -> datetime | None:
    """A timezone-aware datetime from an RFC 5322 date; naive ('-0000') dates count as UTC."""
    value = _SPACE.sub(" ", value).strip()
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def message_ids(value: str) -> list[str]:
    """Message ids of a References/In-Reply-To/Message-ID value, without angle brackets."""
    found = _MSGID.findall(value)
    if found:
        return list(found)
    # Some clients drop the brackets; take whitespace-separated tokens that look like ids.
    return [token.strip(",;") for token in value.split() if "@" in token][:100]


def read_headers(message: Message, problems: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(selected headers decoded, their raw values), lower-case names, first occurrence."""
    decoded: dict[str, str] = {}
    raw_values: dict[str, str] = {}
    for name, value in message.raw_items():
        key = str(name).strip().lower()
        if key in raw_values or not (key in SELECTED_HEADERS or key.startswith(_PREFIXES)):
            continue
        text = str(value)[:_MAX_HEADER_CHARS]
        raw_values[key] = text
        decoded[key] = decode_header_value(text, problems)
    return decoded, raw_values


def first_address(raw: str, problems: list[str] | None = None) -> tuple[str, str]:
    """(display name, lower-case address) of the first address in a raw header value."""
    pairs = parse_addresses(raw, problems)
    return pairs[0] if pairs else ("", "")
