"""Incident commands run from the CLI notify audiences like the web app and the pipeline do."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.cli import main
from core.models_notify import OutboxMessage
from tests.helpers import open_db

CONFIG = """
[notify]
channel = "file"
outbox_dir = "{outbox}"

[[audience]]
name = "leads"
emails = ["leads@example.com"]
events = ["declared", "update_posted", "resolved"]
"""


def test_declare_update_resolve_from_the_cli_write_outbox_rows(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "intake.toml"
    config.write_text(CONFIG.format(outbox=tmp_path / "outbox"))
    monkeypatch.setenv("INTAKE_DATABASE_URL", db_url)
    runner = CliRunner()

    def intake(*args: str) -> None:
        result = runner.invoke(main, ["--config", str(config), *args])
        assert result.exit_code == 0, result.output

    intake("declare", "--title", "Checkout returns 500 for every card payment")
    intake("update", "INC-1", "Payments team is rolling back the 14:02 deploy")
    intake("resolve", "INC-1", "--reason", "rollback done")

    rt = open_db(db_url)
    with rt.factory() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    rt.engine.dispose()
    assert [(r.kind, r.recipient) for r in rows] == [
        ("declared", "leads@example.com"),
        ("update_posted", "leads@example.com"),
        ("resolved", "leads@example.com"),
    ]
