"""Separate the new text of a plain-text reply from the quoted history below (or around) it.

Two reference suites define the expected split (see tests/test_email_quotes.py):
email-reply-parser (zapier) and talon (mailgun). Together they give these rules:

* A *hard* history start cuts everything below it: Outlook's "-----Original Message-----",
  a From/Sent/To/Subject header block (with or without a rule line above it), a forwarded
  message marker, or an "On ... wrote:" attribution that is not followed by `>` lines.
* `>` blocks, with the attribution line above them, are *soft*: when new text sits between
  two of them (inline answers), the reply runs up to the last new text, quotes included, as
  email-reply-parser shows; with a single block of new text (top or bottom posting) only that
  block is the reply, as talon shows for Thunderbird's bottom-posted reply.
* Signatures: a reply that has history keeps its signature (talon keeps "Sent from my iPhone"
  and Sparrow's "-- " block above the quote); a message with no history at all loses a
  trailing signature ("-- ", "Sent from my ...", "-Name", a mailing-list footer), as
  email-reply-parser hides it. A footer alone below the last quote goes with the history.
"""

from __future__ import annotations

import re

from ingest.email_markers import (
    ATTRIBUTION_END,
    ATTRIBUTION_START,
    FORWARD_MARKER,
    GENERIC_ATTRIBUTION_FACT,
    GENERIC_ATTRIBUTION_START,
    ORIGINAL_MESSAGE,
    RULE_LINE,
    HeaderBlocks,
)
from ingest.html_text import html_to_marked_text, split_at_mark

# The splitter is linear, but a body beyond this is a pasted log or an attack, not a reply.
MAX_SPLIT_CHARS = 200_000
# An attribution wraps over at most this many lines ("On <date>, Name\n<addr>\nwrote:").
_ATTRIBUTION_LINES = 4
_MAX_ATTRIBUTION_TRIES = 500
# Lines of a trailing signature block, as in talon's SIGNATURE_MAX_LINES neighbourhood.
_SIGNATURE_MAX_LINES = 15

_SIGNATURE_DELIMITER = re.compile(
    r"^(?:--[ \t]*|—[ \t]*|_{2,}.*|[-—][A-Z][a-z]+(?: [A-Z][\w.']*){0,3}"
    r"|Sent from my [\w-]+(?: [\w-]+){0,4}"
    r"|Sent from (?:Mail|Outlook|Yahoo Mail|Gmail|Samsung Mobile|my mobile)\b[^,;]{0,40}"
    r"|Get Outlook for \w+(?: \w+)?|Sent with [\w ]{1,30}(?:\(\S{1,100}\))?"
    r"|Von meinem [\w-]+(?: [\w-]+){0,3} gesendet|Envoy[ée] de mon [\w-]+(?: [\w-]+){0,3}"
    r"|Enviado desde mi [\w-]+(?: [\w-]+){0,3})[ \t]*$"
)


def _is_quote(line: str) -> bool:
    return line.lstrip(" ").startswith(">")


def _attribution_end(lines: list[str], start: int) -> int:
    """Index of the last line of a known-language attribution starting at `start`, or -1."""
    joined = ""
    for index in range(start, min(len(lines), start + _ATTRIBUTION_LINES)):
        line = lines[index].strip()
        if not line or (index > start and _is_quote(line)):
            return -1
        joined = f"{joined} {line}" if joined else line
        if len(joined) > 500:
            return -1
        # Every attribution ends in a colon; the verb pattern is only worth trying there.
        if line.endswith(":") and ATTRIBUTION_END.search(joined) is not None:
            return index
    return -1


def _attributions(lines: list[str]) -> dict[int, int]:
    """First line -> last line of each known-language attribution.

    Only the first _MAX_ATTRIBUTION_TRIES lines that start like one are tried: real mail has
    a handful, a hostile text thousands.
    """
    found: dict[int, int] = {}
    tries = 0
    for index, line in enumerate(lines):
        if not ATTRIBUTION_START.match(line):
            continue
        tries += 1
        if tries > _MAX_ATTRIBUTION_TRIES:
            break
        end = _attribution_end(lines, index)
        if end != -1:
            found[index] = end
    return found


def _find_hard_cut(lines: list[str], attributions: dict[int, int]) -> int:
    """Index of the first line that starts history with nothing new below it, or len(lines)."""
    blocks = HeaderBlocks(lines)
    for index, line in enumerate(lines):
        if not line or _is_quote(line):
            continue
        if FORWARD_MARKER.match(line) or ORIGINAL_MESSAGE.match(line):
            return index
        if blocks.end(index) != -1:
            above = index - 1
            while above >= 0 and above >= index - 3 and not lines[above].strip():
                above -= 1
            if above >= 0 and RULE_LINE.match(lines[above]):
                return above
            return index
        end = attributions.get(index, -1)
        if end != -1:
            following = end + 1
            while following < len(lines) and not lines[following].strip():
                following += 1
            if following >= len(lines) or not _is_quote(lines[following]):
                return index
    return len(lines)


def _soft_attribution_start(
    lines: list[str], quote_start: int, floor: int, attributions: dict[int, int]
) -> int:
    """First line of the attribution right above a `>` block, or `quote_start` if none."""
    last = quote_start - 1
    while last >= floor and not lines[last].strip():
        last -= 1
    if last < floor or _is_quote(lines[last]) or not lines[last].rstrip().endswith(":"):
        return quote_start
    lowest = max(floor, last - _ATTRIBUTION_LINES + 1)
    for first in range(last, lowest - 1, -1):
        if not lines[first].strip() or _is_quote(lines[first]):
            break
        if attributions.get(first) == last:
            return first
    for first in range(max(floor, last - 2), last + 1):
        span = lines[first : last + 1]
        if any(not line.strip() or _is_quote(line) for line in span):
            continue
        joined = " ".join(line.strip() for line in span)
        if (
            len(joined) <= 300
            and joined.endswith(":")
            and GENERIC_ATTRIBUTION_START.match(span[0]) is not None
            and GENERIC_ATTRIBUTION_FACT.search(joined) is not None
        ):
            return first
    return quote_start


def _quote_blocks(lines: list[str], attributions: dict[int, int]) -> list[tuple[int, int]]:
    """(start, end) of each `>` block with its attribution; blank lines inside belong to it."""
    blocks: list[tuple[int, int]] = []
    index = 0
    count = len(lines)
    while index < count:
        if not _is_quote(lines[index]):
            index += 1
            continue
        start = index
        end = index + 1
        probe = end
        while probe < count:
            if _is_quote(lines[probe]):
                end = probe + 1
            elif lines[probe].strip():
                break
            probe += 1
        floor = blocks[-1][1] if blocks else 0
        blocks.append((_soft_attribution_start(lines, start, floor, attributions), end))
        index = end
    return blocks


def _text_blocks(lines: list[str], quotes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, end) of each run of non-quoted lines that holds some text."""
    blocks: list[tuple[int, int]] = []
    position = 0
    for start, end in [*quotes, (len(lines), len(lines))]:
        first = position
        while first < start and not lines[first].strip():
            first += 1
        last = start
        while last > first and not lines[last - 1].strip():
            last -= 1
        if first < last:
            blocks.append((first, last))
        position = end
    return blocks


def _signature_start(lines: list[str], start: int, end: int) -> int:
    """Earliest line in [start, end) that opens a signature running to `end`, or -1."""
    found = -1
    text_lines = 0
    for index in range(end - 1, start - 1, -1):
        line = lines[index].strip()
        if not line:
            continue
        text_lines += 1
        if text_lines > _SIGNATURE_MAX_LINES:
            break
        if _SIGNATURE_DELIMITER.match(line):
            found = index
    return found


def _join(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n")


def split_reply(text: str) -> tuple[str, str]:
    """(new text, quoted history) of a plain-text message body.

    Whatever is neither (a trailing signature of a message without history) is dropped.
    Only the first MAX_SPLIT_CHARS characters are read.
    """
    text = text[:MAX_SPLIT_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    attributions = _attributions(lines)
    cut = _find_hard_cut(lines, attributions)
    head, history = lines[:cut], lines[cut:]
    quotes = _quote_blocks(head, attributions)
    texts = _text_blocks(head, quotes)

    if texts and quotes and texts[-1][0] > quotes[-1][0]:
        # Below the last quote: a footer or signature alone is history, not a reply.
        first, last = texts[-1]
        if _signature_start(head, first, last) == first:
            texts.pop()

    if not texts:
        return "", _join(lines)
    if not quotes and not history:
        first, last = texts[0]
        signature = _signature_start(head, first, last)
        if signature > first:
            last = signature
        return _join(head[first:last]), ""
    if len(texts) == 1:
        first, last = texts[0]
        quoted = [*head[:first], *head[last:]]
        return _join(head[first:last]), _join([*quoted, *history])
    last = texts[-1][1]
    return _join(head[:last]), _join([*head[last:], *history])


def split_marked_reply(marked: str) -> tuple[str, str]:
    """`split_reply` for text from `html_to_marked_text`: the client's own quote markup
    (Gmail's gmail_quote, Outlook's reply header...) cuts first, the text rules after."""
    head, tail = split_at_mark(marked)
    new, quoted = split_reply(head)
    return new, "\n\n".join(part for part in (quoted, tail) if part)


def split_html_reply(html: str) -> tuple[str, str]:
    """(new text, quoted history) of an HTML message body, both as plain text."""
    return split_marked_reply(html_to_marked_text(html))
