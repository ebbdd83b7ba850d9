"""/healthz, /readyz (database reachable, schema current) and /metrics (Prometheus text from the database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from core.config import Config
from core.db import make_engine, session_factory
from core.migrate import head_revision
from core.pipeline import run_pending
from core.runtime import Runtime
from core.store import store_raw
from ingest.raw import parse_raw
from tests.conftest import DATA
from tests.helpers import mail, tx
from tests.web_helpers import app_for, client, runtime, seed, web_config

pytestmark = pytest.mark.anyio


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, keyed by name and labels."""
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_healthz_and_readyz(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path)
    async with client(app_for(rt)) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        ready = await c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["schema"] == head_revision()


async def test_readyz_fails_when_migrations_are_behind(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path)
    with rt.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    async with client(app_for(rt)) as c:
        ready = await c.get("/readyz")
    assert ready.status_code == 503
    assert "intake db upgrade" in ready.json()["error"] and ready.json()["schema"] == "0001"


async def test_readyz_fails_when_the_database_is_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing"
    engine = make_engine(url, connect_args={"connect_timeout": 2})
    from dataclasses import replace

    web = replace(web_config(), generated_secret_file=tmp_path / "secret")
    rt = Runtime(Config(database_url=url, web=web), engine, session_factory(engine), (None, None))
    async with client(app_for(rt)) as c:
        assert (await c.get("/healthz")).status_code == 200  # the process is alive
        ready = await c.get("/readyz")
    assert ready.status_code == 503 and ready.json()["database"].startswith("unreachable")


async def test_metrics_parse_and_follow_the_inputs(db_url: str, tmp_path: Path) -> None:
    rt = runtime(db_url, tmp_path)
    app = app_for(rt)
    async with client(app) as c:
        empty = await c.get("/metrics")
        assert empty.headers["content-type"].startswith("text/plain")
        before = samples(empty.text)
        assert before[("intake_queue_depth", (("queue", "pending_raw"),))] == 0
        assert before[("intake_processing_latency_seconds_count", ())] == 0

        seed(rt)  # realistic mail, Sentry, Telegram, one broken input; processed
        with tx(rt) as session:
            store_raw(session, "email", "late-1", mail("Portal down", "Customers cannot log in"))
        after = samples((await c.get("/metrics")).text)
        mails = len(list((DATA / "realistic-a").glob("*.eml"))) + 2  # + scripts + late
        hooks = len(list((DATA / "realistic-b").glob("*.sentry.json"))) + 1  # + broken
        assert after[("intake_inputs_total", (("source", "email"),))] == mails
        assert after[("intake_inputs_total", (("source", "sentry"),))] == hooks
        assert after[("intake_inputs_total", (("source", "telegram"),))] == 1
        assert after[("intake_quarantined", (("status", "quarantined"),))] == 1
        assert after[("intake_queue_depth", (("queue", "pending_raw"),))] == 1
        decisions = sum(v for (name, _), v in after.items() if name == "intake_decisions_total")
        assert decisions >= 30
        assert after[("intake_incidents", (("status", "live"),))] >= 1
        processed = after[("intake_processing_latency_seconds_count", ())]
        assert processed >= 30
        assert after[("intake_processing_latency_seconds_bucket", (("le", "+Inf"),))] == processed

        run_pending(rt.factory, parse_raw, rt.config)
        later = samples((await c.get("/metrics")).text)
        assert later[("intake_queue_depth", (("queue", "pending_raw"),))] == 0
        assert later[("intake_processing_latency_seconds_count", ())] == processed + 1
        assert (
            later[("intake_decisions_total", (("decision", "incident"),))]
            >= after[("intake_decisions_total", (("decision", "incident"),))]
        )
