"""`intake run` refuses to start with a clear message instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import main


def run(tmp_path: Path, config: str, *args: str) -> tuple[int, str]:
    path = tmp_path / "intake.toml"
    path.write_text(config + f'\n[database]\nurl = "sqlite:///{tmp_path}/intake.db"\n')
    result = CliRunner().invoke(main, ["--config", str(path), "run", *args])
    return result.exit_code, result.output


def test_unknown_role_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run(tmp_path, "", "--only", "web,cook")
    assert code == 2
    assert "unknown role 'cook'" in output


def test_a_missing_secret_stops_the_start_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    config = (
        '[telegram]\ntoken_env = "NO_SUCH_TOKEN"\n[[telegram.chats]]\nid = -100\nmode = "all"\n'
    )
    code, output = run(tmp_path, config, "--only", "poller")
    assert code == 1
    assert "cannot start" in output and "NO_SUCH_TOKEN" in output
    assert "Traceback" not in output


def test_a_public_address_without_users_is_refused(tmp_path: Path) -> None:
    code, output = run(tmp_path, '[web]\nhost = "0.0.0.0"\n', "--only", "web")
    assert code == 1
    assert "cannot start" in output and "not loopback" in output
