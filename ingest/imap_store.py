"""Store one received mail through the store-raw choke point (IMAP and the Maildir drop folder).

The content key is the Message-ID plus a hash of the bytes with line endings
made LF: IMAP servers hand out CRLF while files on disk are usually LF, and
the same mail in two folders, after a UIDVALIDITY change or dropped twice
must still be stored once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.models import PENDING, QUARANTINED, RawMessage
from core.store import Stored, store_raw
from ingest.files_import import digest, message_id_of

SOURCE = "email"


def mail_content_key(body: bytes) -> str:
    message_id = message_id_of(body) or ""
    hashed = digest(body.replace(b"\r\n", b"\n"))
    return f"{message_id[:150]}|{hashed[:32]}"


def oversize_reason(size: int, limit: int) -> str:
    return (
        f"message is {size} bytes, over the {limit} byte limit: only its headers were kept; "
        "raise max_bytes and reprocess, or read it in the mailbox"
    )


def store_mail(
    session: Session,
    natural_key: str,
    body: bytes,
    meta: dict[str, Any],
    quarantine_reason: str | None = None,
) -> Stored:
    """Store a mail once; with a reason it waits in quarantine for a person instead of parsing."""
    status = QUARANTINED if quarantine_reason else PENDING
    stored = store_raw(
        session, SOURCE, natural_key, body, meta, mail_content_key(body), status=status
    )
    if stored.created and quarantine_reason:
        # No next attempt: retrying cannot make the mail smaller; `intake reprocess` can.
        session.execute(
            update(RawMessage)
            .where(RawMessage.id == stored.id)
            .values(last_error=quarantine_reason, next_attempt_at=None)
        )
    return stored
