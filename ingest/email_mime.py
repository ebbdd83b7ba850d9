"""Walk a compat32-parsed message: body text parts, attachments, forwarded messages.

Hand-written instead of `policy.default`'s iter_parts/get_body because the compat32 parser is
several times faster, and because every step here must survive broken MIME: parts are
counted and nesting is bounded, transfer encodings are decoded leniently, and each problem
becomes a short sentence in `warnings`.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from email.message import Message

from core.report import Attachment
from ingest.email_charset import decode_bytes
from ingest.email_headers import decode_header_value

MAX_PARTS = 1000
MAX_DEPTH = 30

_BASE64_NOISE = re.compile(rb"[^A-Za-z0-9+/=\s]")
_BASE64_KEEP = re.compile(rb"[^A-Za-z0-9+/]")
_BAD_QP = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*\r?\n|[ \t]*$)")


@dataclass
class BodyParts:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[tuple[Message, str]] = field(default_factory=list)  # (message, file name)
    report_type: str = ""
    has_delivery_status: bool = False
    has_feedback_report: bool = False
    has_rfc822_headers: bool = False
    warnings: list[str] = field(default_factory=list)
    parts_seen: int = 0

    def warn(self, message: str) -> None:
        if message not in self.warnings and len(self.warnings) < 50:
            self.warnings.append(message)


def stored_payload(part: Message) -> object:
    """The payload as the parser stored it: a list of sub-messages or a string.

    compat32's get_payload() re-decodes 8-bit text with the part's declared charset (any
    codec name the sender chose, with errors it does not catch); the stored string keeps
    the bytes as surrogate escapes, which give back the exact bytes.
    """
    return getattr(part, "_payload", None)


def _uudecode(raw: bytes) -> bytes:
    out = bytearray()
    for line in raw.splitlines():
        if line.startswith((b"begin ", b"end")) or not line.strip():
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            continue
    return bytes(out)


def payload_bytes(part: Message, body: BodyParts) -> bytes:
    """The part's content with its transfer encoding undone, as leniently as possible."""
    payload = stored_payload(part)
    if not isinstance(payload, str):
        return b""
    if payload.isascii():
        raw = payload.encode("ascii")
    else:
        raw = payload.encode("utf-8", "surrogateescape")
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        if _BASE64_NOISE.search(raw):
            body.warn(
                f"broken base64 in a {part.get_content_type()} part: invalid characters skipped"
            )
        try:
            return binascii.a2b_base64(raw)
        except binascii.Error:
            clean = _BASE64_KEEP.sub(b"", raw)
            clean = clean[: len(clean) - len(clean) % 4]
            body.warn(
                f"broken base64 in a {part.get_content_type()} part: decoded what was readable"
            )
            try:
                return binascii.a2b_base64(clean)
            except binascii.Error:
                return b""
    if encoding == "quoted-printable":
        if _BAD_QP.search(raw):
            body.warn(
                f"broken quoted-printable in a {part.get_content_type()} part: "
                "bad escapes kept as text"
            )
        return binascii.a2b_qp(raw)
    if encoding in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return _uudecode(raw)
    if encoding not in ("", "7bit", "8bit", "binary", "7-bit", "8-bit"):
        body.warn(
            f"unknown transfer encoding {encoding[:30]!r} in a {part.get_content_type()} part; "
            "read as is"
        )
    return raw


def part_text(part: Message, body: BodyParts) -> str:
    data = payload_bytes(part, body)
    charset = part.get_param("charset")
    label = charset if isinstance(charset, str) else None
    text, problem = decode_bytes(data, label)
    if problem:
        body.warn(f"{part.get_content_type()} part: {problem}")
    return text


def _file_name(part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name")
    except (ValueError, LookupError, TypeError, IndexError):
        return ""
    if isinstance(name, tuple):  # undecoded RFC 2231 value
        name = name[2]
    return decode_header_value(name) if isinstance(name, str) else ""


def _disposition(part: Message) -> str:
    value = part.get("content-disposition")
    return str(value).split(";", 1)[0].strip().lower() if value else ""


def message_size(message: Message) -> int:
    """Approximate size of an attached message: its header and leaf payload lengths."""
    total = 0
    stack = [message]
    while stack and total < 50_000_000:
        current = stack.pop()
        total += sum(len(str(name)) + len(str(value)) + 4 for name, value in current.raw_items())
        payload = stored_payload(current)
        if isinstance(payload, list):
            stack.extend(child for child in payload if isinstance(child, Message))
        elif isinstance(payload, str):
            total += len(payload)
    return total


def _attach(part: Message, body: BodyParts, ctype: str) -> None:
    if isinstance(stored_payload(part), list):
        size = message_size(part)
    else:
        size = len(payload_bytes(part, body))
    body.attachments.append(Attachment(name=_file_name(part), content_type=ctype, size=size))


def _pick_alternative(children: list[Message]) -> Message | None:
    """The alternative to read: plain text when it has content, else HTML, else the richest."""
    by_type: dict[str, Message] = {}
    for child in children:
        by_type.setdefault(child.get_content_type(), child)
    plain = by_type.get("text/plain")
    if plain is not None:
        payload = stored_payload(plain)
        if not isinstance(payload, str) or payload.strip():
            return plain
    for preferred in ("multipart/related", "multipart/mixed", "text/html"):
        if preferred in by_type:
            return by_type[preferred]
    return plain if plain is not None else (children[-1] if children else None)


def _walk(part: Message, body: BodyParts, depth: int, in_report: bool) -> None:
    body.parts_seen += 1
    if body.parts_seen > MAX_PARTS:
        body.warn(f"more than {MAX_PARTS} MIME parts; the rest were not read")
        return
    if depth > MAX_DEPTH:
        body.warn(f"MIME nesting deeper than {MAX_DEPTH}; inner parts were not read")
        return
    for defect in part.defects[:3]:
        body.warn(f"MIME structure problem: {type(defect).__name__}")
    ctype = part.get_content_type()
    payload = stored_payload(part)

    if ctype == "message/delivery-status":
        body.has_delivery_status = True
    elif ctype == "message/feedback-report":
        body.has_feedback_report = True
    elif ctype == "text/rfc822-headers":
        body.has_rfc822_headers = True

    if isinstance(payload, list):
        children = [child for child in payload if isinstance(child, Message)]
        if ctype == "message/rfc822":
            if in_report or not children:
                _attach(part, body, ctype)
            else:
                body.forwarded.append((children[0], _file_name(part)))
            return
        if ctype.startswith("message/"):
            _attach(part, body, ctype)  # delivery-status and friends: header blocks
            return
        if ctype == "multipart/alternative":
            chosen = _pick_alternative(children)
            if chosen is not None:
                _walk(chosen, body, depth + 1, in_report)
            return
        if ctype == "multipart/report":
            report_type = part.get_param("report-type")
            body.report_type = report_type.lower() if isinstance(report_type, str) else ""
            for index, child in enumerate(children):
                if index == 0:
                    _walk(child, body, depth + 1, True)
                else:
                    _report_part(child, body)
            return
        for child in children:
            _walk(child, body, depth + 1, in_report)
            if body.parts_seen > MAX_PARTS:
                return
        return

    disposition = _disposition(part)
    name = _file_name(part)
    if ctype.startswith("multipart/"):
        # No boundary found: the parser left the whole body as one string.
        body.warn(f"{ctype} without readable parts; its body was read as plain text")
        body.plain.append(part_text(part, body))
        return
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not name:
        (body.plain if ctype == "text/plain" else body.html).append(part_text(part, body))
        return
    if part.get("content-id") and disposition != "attachment" and not ctype.startswith("text/"):
        return  # an image the HTML shows inline, not something the sender attached
    _attach(part, body, ctype)


def _report_part(part: Message, body: BodyParts) -> None:
    """Machine-readable parts of a delivery or feedback report: listed, never read as text."""
    ctype = part.get_content_type()
    if ctype == "message/delivery-status":
        body.has_delivery_status = True
    elif ctype == "message/feedback-report":
        body.has_feedback_report = True
    body.parts_seen += 1
    _attach(part, body, ctype)


def walk_message(message: Message) -> BodyParts:
    """Body texts (plain and HTML, in order), attachments and attached messages of `message`."""
    body = BodyParts()
    _walk(message, body, 0, False)
    return body
