"""The readable body of a walked message: plain text when there is some, else HTML turned
into text, each cut to a size triage can read, and its split into new text and history."""

from __future__ import annotations

from ingest.email_mime import BodyParts
from ingest.email_quotes import split_marked_reply, split_reply
from ingest.html_text import html_to_marked_text

# Text beyond this is a pasted log or an attack; triage reads the start.
MAX_BODY_CHARS = 200_000


def body_text(parts: BodyParts, problems: list[str]) -> tuple[str, str]:
    """(plain text, HTML text with quote marks); at most one of them is non-empty."""
    plain = "\n\n".join(text for text in parts.plain if text.strip())
    if plain.strip():
        if len(plain) > MAX_BODY_CHARS:
            problems.append(
                f"body longer than {MAX_BODY_CHARS} characters; only the start was read"
            )
            plain = plain[:MAX_BODY_CHARS]
        return plain, ""
    html = "\n".join(parts.html)
    if not html.strip():
        return "", ""
    return "", html_to_marked_text(html, problems)


def split_body(plain: str, marked_html: str) -> tuple[str, str]:
    """(new text, quoted history) of a body given as plain text or marked HTML text."""
    return split_marked_reply(marked_html) if marked_html else split_reply(plain)


def html_source(parts: BodyParts) -> str:
    """The raw HTML of the body (links live in its attributes)."""
    return "\n".join(parts.html)[:MAX_BODY_CHARS]
