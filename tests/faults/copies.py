"""Which second copies a person would see, and which are the at-least-once re-send of one row.

A delivery worker killed between a send and the commit recording it leaves
the row to another worker once its lease runs out (notify.delivery), which
sends it again: the same outbox row, with the same Message-ID (email) or
X-Intake-Delivery id (webhook), by which mail systems and the documented
webhook receiver drop the copy. A Telegram message has no such id: the chat
shows that copy. No sender can avoid this window (the receiver has said "ok",
the sender dies before recording it); delivery keeps it to the send of one
message for Telegram and to one uncommitted batch for email and webhooks.
The ledger (tests.cluster_ledger) counts every second arrival as duplicated;
the fault test tells them apart:

- duplicated: the system made or sent a notification twice. Two outbox rows
  for one event and recipient, or one row's mail under two Message-IDs.
- re-sent after a kill: one row arriving again (same id; for Telegram the same
  text). Counted and printed; each worker kill can cause at most one Telegram
  re-send and one batch of email and webhook re-sends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy import Engine, func, select

from core.models_notify import OutboxMessage
from notify.channel_smtp import HEADER
from tests.smtp_fixture import Received

EVENT_KINDS = ("declared", "triage_needed", "resolved")  # each at most once per incident


@dataclass(frozen=True)
class Copies:
    email_two_ids: int  # outbox rows whose mail came under two Message-IDs
    email_same_id: int  # extra arrivals of a mail under the Message-ID it had
    webhook_same_id: int  # extra arrivals of a delivery id


def count_copies(mails: list[Received], webhooks: Counter[str]) -> Copies:
    parser = BytesHeaderParser(policy=compat32)
    ids_by_row: dict[str, list[str]] = {}
    for mail in mails:
        headers = parser.parsebytes(mail.data, headersonly=True)
        row = str(headers.get(HEADER, "")).split(";", 1)[0].strip()
        ids_by_row.setdefault(row, []).append(str(headers.get("Message-ID", "")).strip())
    two_ids = sum(len(set(ids)) > 1 for ids in ids_by_row.values())
    same_id = sum(len(ids) - len(set(ids)) for ids in ids_by_row.values())
    hooks = sum(n - 1 for n in webhooks.values() if n > 1)
    return Copies(two_ids, same_id, hooks)


def planned_twice(engine: Engine) -> list[str]:
    """Each incident event planned more than once for one recipient, named."""
    key = (
        OutboxMessage.incident_id,
        OutboxMessage.kind,
        OutboxMessage.channel,
        OutboxMessage.recipient,
    )
    query = (
        select(*key, func.count())
        .where(OutboxMessage.kind.in_(EVENT_KINDS))
        .group_by(*key)
        .having(func.count() > 1)
    )
    with engine.connect() as db:
        return [
            f"INC-{incident} {kind} planned {n} times for {channel} {recipient}"
            for incident, kind, channel, recipient, n in db.execute(query)
        ]
