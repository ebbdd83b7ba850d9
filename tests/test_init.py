"""`intake init` writes a config that loads as written and with every example switched on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import main
from core.config import load_config

# A commented-out setting or section header (prose comments do not match).
_EXAMPLE = re.compile(r"^# (\[|[A-Za-z0-9_]+ = )")


def test_init_writes_a_loadable_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "intake.toml"
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(path)])
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert config.web.host == "127.0.0.1"
    assert config.database_url == "sqlite:///var/intake.db"

    again = runner.invoke(main, ["init", str(path)])
    assert again.exit_code != 0
    assert "exists" in again.output
    assert runner.invoke(main, ["init", "--force", str(path)]).exit_code == 0


def test_every_commented_example_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "intake.toml"
    assert CliRunner().invoke(main, ["init", str(path)]).exit_code == 0
    lines = path.read_text().splitlines()
    uncommented = [line[2:] if _EXAMPLE.match(line) else line for line in lines]
    assert sum(a != b for a, b in zip(lines, uncommented, strict=True)) > 40
    for name in re.findall(r'_env = "([A-Z0-9_]+)"', "\n".join(uncommented)):
        monkeypatch.setenv(name, "x")
    path.write_text("\n".join(uncommented))
    config = load_config(path)
    assert config.email.mailboxes[0].host == "imap.example.com"
    assert [a.name for a in config.notify.audiences] == ["support"]
    assert config.triage.rules[0].name == "payments"
