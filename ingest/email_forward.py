"""Find an inline forward in a plain-text body: the forwarder's note, the original's headers
and the original's text.

Recognised: Gmail's "---------- Forwarded message ---------", Thunderbird's
"-------- Forwarded Message --------", Apple Mail's "Begin forwarded message:" (whose block
may be `>`-quoted), their German/French/Spanish forms, and, when the subject says it is a
forward, Outlook's From/Sent/To/Subject block (often under "-----Original Message-----" or a
rule line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.email_markers import (
    ATTRIBUTION_END,
    FORWARD_MARKER,
    ORIGINAL_MESSAGE,
    RULE_LINE,
    HeaderBlocks,
    header_line,
)
from ingest.email_quotes import MAX_SPLIT_CHARS

_QUOTE_PREFIX = re.compile(r"^[ \t]*> ?")
_MAILTO = re.compile(r"\[mailto:([^\]\s]{1,320})\]", re.IGNORECASE)
# A wrapped header value continues for at most this many lines (long To/Cc lists).
_MAX_WRAPPED = 3
# Forwards of forwards followed down to the first one, at most this deep.
_MAX_NESTED = 5


@dataclass
class InlineForward:
    note: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)  # from/date/to/cc/subject, as written


def _is_quote(line: str) -> bool:
    return line.lstrip(" ").startswith(">")


def _read_headers(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """The forwarded header block at `start`: (fields, index of the first body line)."""
    headers: dict[str, str] = {}
    index = start
    last_name = ""
    wrapped = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            break
        found = header_line(line)
        if found is not None:
            last_name, value = found
            headers.setdefault(last_name, value)
            wrapped = 0
        elif last_name in ("to", "cc") and wrapped < _MAX_WRAPPED:
            # Gmail and Outlook wrap long To/Cc lists without indentation.
            wrapped += 1
            headers[last_name] = f"{headers[last_name]} {line.strip()}".strip()
        else:
            break
        index += 1
    return headers, index


def _unquote_block(lines: list[str]) -> list[str]:
    """Apple Mail quotes the whole forwarded message with `>`: take one level off."""
    return [_QUOTE_PREFIX.sub("", line, count=1) if _is_quote(line) else line for line in lines]


def _forward_start(lines: list[str], subject_says_forward: bool) -> tuple[int, int] | None:
    """(marker line, first header line) of the first forward above any reply history."""
    blocks = HeaderBlocks(lines)
    last_text = ""
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if _is_quote(line):
            # Apple Mail's HTML puts its marker inside the quote it forwards; under an
            # "On ... wrote:" line the quote is reply history that happens to hold a forward.
            marker = FORWARD_MARKER.match(_QUOTE_PREFIX.sub("", line, count=1))
            if marker and not ATTRIBUTION_END.search(last_text):
                return index, index + 1
            return None  # quoted reply history comes first: this is a reply, not a forward
        last_text = line
        if FORWARD_MARKER.match(line):
            return index, index + 1
        if not subject_says_forward:
            continue
        if ORIGINAL_MESSAGE.match(line) or RULE_LINE.match(line):
            following = index + 1
            while (
                following < len(lines) and following <= index + 3 and not lines[following].strip()
            ):
                following += 1
            if following < len(lines) and blocks.end(following) != -1:
                return index, following
            if ORIGINAL_MESSAGE.match(line):
                return None
        if blocks.end(index) != -1:
            return index, index
    return None


def find_inline_forward(text: str, subject_says_forward: bool) -> InlineForward | None:
    """The inline forward in `text`, or None when the text forwards nothing.

    Outlook writes the same header block for replies and forwards, so that form only counts
    when `subject_says_forward` (the subject starts with Fwd:/FW:/WG:/TR:/RV:...). A forward
    whose body is nothing but another forward ("Fwd: Fwd:" without words in between) is
    followed down to the message that was first forwarded.
    """
    found = _one_forward(text, subject_says_forward)
    for _ in range(_MAX_NESTED):
        if found is None:
            break
        inner = _one_forward(found.body, subject_says_forward=True)
        if inner is None or inner.note:
            break
        found = InlineForward(note=found.note, body=inner.body, headers=inner.headers)
    return found


def _one_forward(text: str, subject_says_forward: bool) -> InlineForward | None:
    lines = text[:MAX_SPLIT_CHARS].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = _forward_start(lines, subject_says_forward)
    if found is None:
        return None
    marker, header_start = found
    rest = lines[header_start:]
    first = 0
    while first < len(rest) and not rest[first].strip():
        first += 1
    if first < len(rest) and _is_quote(rest[first]):
        rest = _unquote_block(rest)
        while first < len(rest) and not rest[first].strip():
            first += 1
    headers, body_start = _read_headers(rest, first)
    if "from" in headers:
        headers["from"] = _MAILTO.sub(r"<\1>", headers["from"]).replace("*", "").strip()
    note = "\n".join(lines[:marker]).strip()
    body = "\n".join(rest[body_start:]).strip("\n")
    return InlineForward(note=note, body=body, headers=headers)
