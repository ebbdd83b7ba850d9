"""The candidate report: one shape for every source, what triage reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Source = Literal["email", "sentry", "telegram", "alertmanager", "events"]
SetAside = Literal["auto_reply", "bounce", "bulk", "own"]


class ParseError(Exception):
    """Input that cannot be turned into a report; the message says what is wrong."""


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int


@dataclass
class Report:
    """A candidate report parsed from one raw message.

    `text` is the new text a person wrote (for email: without quoted history
    and, for a forward, the forwarded original); `note` is what a forwarder
    added on top; `quoted` is the reply history that was split off.
    `fields` holds source-specific facts that rules may read; the keys each
    parser sets are listed in its module docstring.
    """

    source: Source
    title: str
    text: str = ""
    note: str = ""
    quoted: str = ""
    reporter: str = ""  # display form, e.g. "Karen Whitfield <karen@contoso.com>"
    reporter_address: str = ""  # lower-case address or handle, e.g. "karen@contoso.com"
    forwarded_by: str = ""  # the person who forwarded it, when it was forwarded
    sent_at: datetime | None = None
    recipients: list[str] = field(default_factory=list)  # lower-case addresses
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    fingerprint: str = ""  # what ties related reports together
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    fields: dict[str, Any] = field(default_factory=dict)
    set_aside: SetAside | None = None
    set_aside_evidence: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def full_text(self) -> str:
        """Everything a person wrote that triage should read: title, note, text.

        A forward's own subject (often the forwarder's summary, "FW: ... threat
        to leak documents") is read too when it differs from the original's.
        """
        outer = self.headers.get("subject", "") if self.forwarded_by else ""
        parts = (
            outer if outer and self.title not in outer else "",
            self.title,
            self.note,
            self.text,
        )
        return "\n".join(part for part in parts if part)
