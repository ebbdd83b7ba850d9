"""Tables for email intake: mailbox cursors."""

from __future__ import annotations

from core.models import Base  # noqa: F401  (tables of this area subclass Base)
