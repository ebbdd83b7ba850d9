"""Builders the notification tests share: a runtime with audiences, and its outbox."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.config import parse_config
from core.models_notify import OutboxMessage
from core.outbox import install_runtime
from core.runtime import Runtime
from tests.helpers import open_db


def notify_runtime(db_url: str, toml: str, where: Path | None = None) -> Runtime:
    config = parse_config(tomllib.loads(toml), where)
    rt = open_db(db_url, config)
    rt.config = config
    install_runtime(rt)
    return rt


def outbox(rt: Runtime, **where: Any) -> list[OutboxMessage]:
    with rt.factory() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return list(session.scalars(query).all())


def smtp_toml(port: int, tls: str = "plain", extra: str = "") -> str:
    return f"""
[smtp]
host = "127.0.0.1"
port = {port}
tls = "{tls}"
from = "Incident desk <desk@ourco.example>"
incident_address = "incidents@ourco.example"
{extra}
"""
