"""`intake triage` as a user runs it: JSON lines, readable text, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

INTAKE = [sys.executable, "-m", "core.cli"]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*INTAKE, *args], capture_output=True, text=True, cwd=cwd)


def test_bundled_examples_are_explained_readably() -> None:
    result = run("triage", "examples/")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "examples/01-portal-down-forwarded.eml" in out
    assert "decision: incident" in out
    for question in ("impact", "urgent", "coordinate", "communicate", "review"):
        assert f"  {question}" in out
    assert "set aside: auto_reply" in out


def test_bundled_examples_decisions() -> None:
    result = run("triage", "--json", "examples/")
    rows = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["01-portal-down-forwarded.eml"]["decision"] == "incident"
    assert rows["02-db-maintenance-de.eml"]["decision"] == "not_incident"
    assert rows["02-db-maintenance-de.eml"]["planned"] is True
    assert rows["03-out-of-office.eml"]["set_aside"] == "auto_reply"
    assert rows["04-payments-metric-alert.sentry.json"]["decision"] == "incident"
    assert rows["05-checkout-reply-confirms.telegram.json"]["decision"] == "incident"
    assert rows["06-lunch-chat.telegram.json"]["decision"] == "not_incident"


def test_unreadable_and_malformed_inputs_get_an_error_line_and_exit_1(tmp_path: Path) -> None:
    good = ROOT / "examples" / "06-lunch-chat.telegram.json"
    broken = tmp_path / "broken.json"
    broken.write_text('{"update_id": 1, "message": ')
    wrong = tmp_path / "shape.json"
    wrong.write_text('{"hello": "world"}')
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.eml"
    result = run("triage", "--json", str(broken), str(good), str(wrong), str(empty), str(missing))
    assert result.returncode == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in rows] == [
        "broken.json",
        "06-lunch-chat.telegram.json",
        "shape.json",
        "empty.eml",
        "missing.eml",
    ]
    assert "not JSON" in rows[0]["error"]
    assert rows[1]["decision"] == "not_incident"
    assert "neither a Sentry webhook body" in rows[2]["error"]
    assert "empty" in rows[3]["error"].lower()
    assert "cannot read" in rows[4]["error"]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("triage").returncode == 2
    assert run("triage", "--bogus", "x").returncode == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[triage]\nthreshold = 0\n")
    result = run("triage", "--config", str(bad), "examples/")
    assert result.returncode == 2
    assert "threshold" in result.stderr and str(bad) in result.stderr


def test_installation_ping_is_reported_as_nothing_to_triage(tmp_path: Path) -> None:
    ping = tmp_path / "install.json"
    ping.write_text(
        json.dumps(
            {
                "action": "created",
                "installation": {"uuid": "a"},
                "data": {"installation": {"uuid": "a", "status": "installed"}},
                "actor": {"type": "user", "id": 1, "name": "x"},
            }
        )
    )
    result = run("triage", "--json", str(ping))
    row = json.loads(result.stdout)
    assert result.returncode == 0
    assert row["decision"] == "not_incident"
    assert "installation" in row["ignored"]
