"""The store-raw choke point: every source and every import stores input here first."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import PENDING, RawMessage


@dataclass(frozen=True)
class Stored:
    raw: RawMessage
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
    existing = session.scalar(
        select(RawMessage).where(RawMessage.source == source, RawMessage.natural_key == natural_key)
    )
    if existing is None and content_key:
        existing = session.scalar(
            select(RawMessage)
            .where(RawMessage.source == source, RawMessage.content_key == content_key)
            .limit(1)
        )
    if existing is not None:
        return Stored(existing, created=False)
    raw = RawMessage(
        source=source,
        natural_key=natural_key,
        content_key=content_key,
        body=body,
        meta=meta or {},
        status=status,
    )
    try:
        # A savepoint, so losing a race with another writer leaves the
        # surrounding transaction usable.
        with session.begin_nested():
            session.add(raw)
    except IntegrityError:
        winner = session.scalar(
            select(RawMessage).where(
                RawMessage.source == source, RawMessage.natural_key == natural_key
            )
        )
        if winner is None:
            raise
        return Stored(winner, created=False)
    return Stored(raw, created=True)
