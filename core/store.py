"""The store-raw choke point: every source and every import stores input here first."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.models import PENDING, RawMessage, now, table

_TABLE = table(RawMessage)
# Built once: INSERT ... ON CONFLICT DO NOTHING RETURNING id. One statement per
# input, and a concurrent writer storing the same input cannot fail this one.
_INSERT = {
    name: dialect.insert(_TABLE)
    .on_conflict_do_nothing(index_elements=["source", "natural_key"])
    .returning(_TABLE.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


@dataclass(frozen=True)
class Stored:
    id: int
    created: bool  # False: the same input was already stored; nothing was added


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def store_raw(
    session: Session,
    source: str,
    natural_key: str,
    body: bytes,
    meta: dict[str, Any] | None = None,
    content_key: str | None = None,
    status: str = PENDING,
) -> Stored:
    """Store one input verbatim, once.

    Idempotent by (source, natural_key) and, when given, by (source,
    content_key): receiving the same thing twice returns the first row. The
    caller commits, and only then acknowledges the source.
    """
    if content_key:
        same = session.scalar(
            select(RawMessage.id)
            .where(RawMessage.source == source, RawMessage.content_key == content_key)
            .limit(1)
        )
        if same is not None:
            return Stored(same, created=False)
    values = {
        "source": source,
        "natural_key": natural_key,
        "content_key": content_key,
        "body": body,
        "meta": meta or {},
        "status": status,
        "attempts": 0,
        "received_at": now(),
    }
    connection = session.connection()
    new_id = connection.execute(_INSERT[connection.dialect.name], values).scalar()
    if new_id is not None:
        return Stored(new_id, created=True)
    existing = session.scalar(
        select(RawMessage.id).where(
            RawMessage.source == source, RawMessage.natural_key == natural_key
        )
    )
    assert existing is not None  # the conflict that stopped the insert is this row
    return Stored(existing, created=False)
