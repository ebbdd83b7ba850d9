"""Tables for telegram: the triage cards the bot posted, so a button press finds its report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, now


class TelegramCard(Base):
    """One card: a report's verdict with buttons, posted in the chat the report came from."""

    __tablename__ = "telegram_cards"
    __table_args__ = (UniqueConstraint("report_id", name="uq_telegram_card_report"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # None: not sent yet
    outcome: Mapped[str] = mapped_column(String(200), default="")  # the last press, shown on it
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
