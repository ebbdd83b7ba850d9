"""What a command needs to reach the database: config, engine, sessions, migrated schema."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config, load_config
from core.db import make_engine, session_factory
from core.migrate import upgrade


@dataclass
class Runtime:
    config: Config
    engine: Engine
    factory: sessionmaker[Session]  # durable commits: storing input
    migrated: tuple[str | None, str | None]
    work_factory: sessionmaker[Session] | None = None  # processing, redoable from input

    @property
    def work(self) -> sessionmaker[Session]:
        return self.work_factory or self.factory


def config_path(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    env = os.environ.get("INTAKE_CONFIG")
    return Path(env) if env else None


def database_url(config: Config) -> str:
    # The environment wins so a password in the URL need not live in the file.
    return os.environ.get("INTAKE_DATABASE_URL") or config.database_url


def open_runtime(path: Path | None = None, migrate: bool = True) -> Runtime:
    config = load_config(config_path(path))
    url = database_url(config)
    engine = make_engine(url)
    migrated = upgrade(engine) if migrate else (None, None)
    work = session_factory(make_engine(url, durable=False))
    rt = Runtime(config, engine, session_factory(engine), migrated, work)
    # Every change made through this runtime writes the notifications it causes
    # in its own transaction (the CLI's declare/update/resolve included).
    from core.outbox import install_runtime

    install_runtime(rt)
    return rt
