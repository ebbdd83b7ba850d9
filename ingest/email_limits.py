"""Caps on hostile mail structure, checked with cheap scans before the stdlib parser runs.

The compat32 feed parser is linear in most things but not all: it checks every body line
against each open boundary (lines × nesting depth), recurses once per nesting level, and
holds several copies of a large body. A mail bomb (100,000 headers, 10,000 parts, nesting
1,000 deep, 50 MB) is caught here first: a header bomb is refused with a `ParseError`,
which the pipeline quarantines; hostile nesting has its body read as plain text; past the
part, byte or line caps only the start is parsed. Each of these leaves a warning on the
report. The raw bytes are stored whole either way; only parsing is limited.

Realistic maxima measured in ../shared/corpora (about 900 mails: bounces from many
servers, MIME torture tests, spam): 759 header lines (an AOL bounce), a 210 KB header block
(flanker's long-header test), 3,043 MIME parts (flanker's "endless" enclosure test), 40
distinct boundaries (an mbox of many mails), nesting depth 4, 3 MB in size. Each cap below
sits well above these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.report import ParseError

# Header lines (fields plus folded continuations) before the body.
MAX_HEADER_LINES = 10_000
# Bytes of the header block: a 1 MB header is an attack or a broken generator.
MAX_HEADER_BYTES = 1_000_000
# MIME boundary delimiter lines, i.e. parts; the walk reads at most email_mime.MAX_PARTS.
MAX_MIME_PARTS = 5_000
# Distinct boundaries declared anywhere in the message.
MAX_BOUNDARIES = 1_000
# Multipart nesting depth (open boundaries at once). The feed parser tests each body line
# against every open boundary, so parse time grows with lines × depth.
MAX_NESTING = 20
# Bytes and lines handed to the parser. Mail servers refuse mail over 25-50 MB; the text
# people write comes first and attachments after, so the first 10 MB hold everything triage
# reads. The parser's cost and memory go by lines (a Python string each): 150,000 lines is
# about 11 MB of base64, or a pasted log far longer than triage reads (200,000 characters).
MAX_PARSE_BYTES = 10_000_000
MAX_PARSE_LINES = 150_000

# A line the feed parser reads as part of the header block (feedparser.headerRE), then
# the header block as a run of such lines. The name class excludes ':' and the
# continuation starts with a blank, so the scan never backtracks.
_HEADER_BLOCK = re.compile(rb"(?:From [^\n]*\n)?(?:[\x21-\x39\x3b-\x7e]*:[^\n]*\n|[ \t][^\n]*\n)*")
_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")
_LINE_END = re.compile(rb"\r\n|\r|\n")
# Matched in the lower-cased text, where a plain literal search is fast; the value is then
# read from the same position in the original.
_BOUNDARY_PARAM = re.compile(rb'boundary\s*\*?=\s*(?:"([^"\n]{1,200})"|([^\s;"]{1,200}))')


@dataclass(frozen=True)
class Checked:
    data: bytes  # what to parse: the whole mail or its start
    warnings: list[str]
    headers_only: bool = False  # MIME structure too hostile: read the body as plain text


def _unify_newlines(data: bytes) -> bytes:
    # The feed parser ends lines at CRLF, CR or LF; the scans below look for LF only.
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _check_header_block(text: bytes) -> None:
    block = _HEADER_BLOCK.match(text)
    assert block is not None  # the pattern matches the empty string
    size = block.end()
    lines = text.count(b"\n", 0, size)
    if lines > MAX_HEADER_LINES:
        raise ParseError(f"{lines:,} header lines, more than {MAX_HEADER_LINES:,}: refused")
    if size > MAX_HEADER_BYTES:
        raise ParseError(f"header block of {size:,} bytes, more than {MAX_HEADER_BYTES:,}: refused")


def _delimiters(text: bytes, boundaries: set[bytes]) -> re.Pattern[bytes]:
    # Longest first, so a boundary that is a prefix of another never shadows it.
    names = sorted(boundaries, key=len, reverse=True)
    alternatives = b"|".join(re.escape(name) for name in names)
    return re.compile(rb"\n--(" + alternatives + rb")(--)?[ \t]*(?=\n|$)")


def _check_mime_structure(text: bytes) -> tuple[int | None, str]:
    """(where to cut the text, or None; why the body must be read as plain text, or "")."""
    boundaries = {
        text[match.start(match.lastindex or 1) : match.end(match.lastindex or 1)]
        for match in _BOUNDARY_PARAM.finditer(text.lower())
    }
    if not boundaries:
        return None, ""
    if len(boundaries) > MAX_BOUNDARIES:
        return None, f"more than {MAX_BOUNDARIES:,} MIME boundaries declared"
    open_boundaries: list[bytes] = []
    parts = 0
    for match in _delimiters(text, boundaries).finditer(text):
        name, closing = match.group(1), match.group(2)
        if name in open_boundaries:
            del open_boundaries[open_boundaries.index(name) + 1 :]
            if closing:
                open_boundaries.pop()
                continue
        elif closing:
            continue
        else:
            open_boundaries.append(name)
            if len(open_boundaries) > MAX_NESTING:
                return None, f"MIME nesting deeper than {MAX_NESTING} levels"
        parts += 1
        if parts > MAX_MIME_PARTS:
            return match.start(), ""
    return None, ""


def _end_of_line(data: bytes, count: int) -> int | None:
    """Where line number `count` ends, or None when `data` has no more lines than that."""
    if data.count(b"\n") + data.count(b"\r") <= count:  # CRLF counts twice: an upper bound
        return None
    for number, match in enumerate(_LINE_END.finditer(data), 1):
        if number == count:
            return match.end()
    return None


def check_limits(data: bytes) -> Checked:
    """What to parse and how, with warnings about it; `ParseError` for a header bomb."""
    warnings: list[str] = []
    size = len(data)
    # The parser is handed the mail without leading blank lines (see email_parse): scan the
    # same bytes, and copy at most MAX_PARSE_BYTES of them.
    start = _LEADING_SPACE.match(data).end()  # type: ignore[union-attr]
    if start or size > MAX_PARSE_BYTES:
        data = data[start : start + MAX_PARSE_BYTES]
    cut = _end_of_line(data, MAX_PARSE_LINES)
    if cut is not None:
        data = data[:cut]
    if len(data) < size - start:
        warnings.append(
            f"message of {size:,} bytes; only the first {len(data):,} were parsed "
            "(text and attachments after that point are missing or cut short)"
        )
    text = _unify_newlines(data)
    _check_header_block(text)
    cut, too_deep = _check_mime_structure(text)
    if too_deep:
        warnings.append(f"{too_deep}; the body was read as plain text")
        return Checked(data, warnings, headers_only=True)
    if cut is not None:
        # Positions are in the unified text; what follows the cut is not parsed anyway.
        warnings.append(f"more than {MAX_MIME_PARTS:,} MIME parts; the rest were not parsed")
        return Checked(text[:cut], warnings)
    return Checked(data, warnings)
