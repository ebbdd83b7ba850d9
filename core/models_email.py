"""Tables for email intake: mailbox cursors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, now


class MailboxCursor(Base):
    """How far a mailbox folder has been read: UIDs up to `last_uid` under `uidvalidity` are stored.

    Written in the same transaction as the raw messages it covers, so after a
    crash reading resumes exactly where the committed rows end.
    """

    __tablename__ = "mailbox_cursors"
    __table_args__ = (UniqueConstraint("mailbox", "folder", name="uq_mailbox_cursor"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=now)
