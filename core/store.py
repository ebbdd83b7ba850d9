"""The store-raw choke point: every source and every import stores input here first."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
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
# Prebuilt lookups: run for every input, so they skip the ORM's per-call work.
_SAME_CONTENT = (
    select(_TABLE.c.id)
    .where(_TABLE.c.source == bindparam("source"), _TABLE.c.content_key == bindparam("key"))
    .limit(1)
)
_SAME_KEY = select(_TABLE.c.id).where(
    _TABLE.c.source == bindparam("source"), _TABLE.c.natural_key == bindparam("key")
)


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
    connection = session.connection()
    if content_key:
        same = connection.execute(_SAME_CONTENT, {"source": source, "key": content_key}).scalar()
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
    new_id = connection.execute(_INSERT[connection.dialect.name], values).scalar()
    if new_id is not None:
        return Stored(new_id, created=True)
    existing = connection.execute(_SAME_KEY, {"source": source, "key": natural_key}).scalar()
    assert existing is not None  # the conflict that stopped the insert is this row
    return Stored(existing, created=False)
