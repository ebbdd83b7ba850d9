"""Alembic environment: migrations run on the connection the caller hands in."""

from __future__ import annotations

from alembic import context

from core import models_alerts, models_email, models_notify, models_telegram  # noqa: F401
from core.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `intake db upgrade`, which passes a connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
context.run_migrations()
