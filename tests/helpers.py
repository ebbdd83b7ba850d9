"""Small builders the pipeline tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy.orm import Session

from core.config import Config
from core.db import make_engine, session_factory, transaction
from core.migrate import upgrade
from core.runtime import Runtime


def open_db(url: str, config: Config | None = None) -> Runtime:
    engine = make_engine(url)
    migrated = upgrade(engine)
    return Runtime(config or Config(database_url=url), engine, session_factory(engine), migrated)


@contextmanager
def tx(rt: Runtime) -> Iterator[Session]:
    with transaction(rt.factory) as session:
        yield session


def mail(
    subject: str,
    body: str,
    sender: str = "Ana Ruiz <ana@customer.example>",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    date: datetime | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "incidents@ourco.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2025, 10, 14, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="customer.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return bytes(msg)


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 10, 14, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)
