"""The storage and incident commands as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.models import RawMessage
from tests.conftest import EXAMPLES, ROOT, require_shared
from tests.helpers import mail, open_db

INTAKE = [sys.executable, "-m", "core.cli"]


def intake(db_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url}
    result = subprocess.run([*INTAKE, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def write_mbox(path: Path, messages: list[bytes]) -> None:
    with path.open("wb") as handle:
        for body in messages:
            handle.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2025\n")
            for line in body.splitlines(keepends=True):
                handle.write(b">" + line if line.startswith(b"From ") else line)
            handle.write(b"\n")


def corpus(n: int) -> list[bytes]:
    subjects = ["Portal down", "Lunch?", "Invoice question", "Payments failing", "Typo on page"]
    bodies = [
        "The portal is down for all customers since 9:10, urgent.",
        "Who is in for lunch today?",
        "From our side the invoice looks off, no rush.",
        "Card payments failing at checkout, customers calling.",
        "Small typo on the pricing page, low priority.",
    ]
    return [
        mail(f"{subjects[i % 5]} #{i}", bodies[i % 5], message_id=make_msgid(f"m{i}", "ex.example"))
        for i in range(n)
    ]


def test_import_folder_mbox_and_maildir_twice_adds_nothing(db_url: str, tmp_path: Path) -> None:
    require_shared(EXAMPLES)
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    messages = corpus(6)
    (maildir / "new" / "1700000000.1.host").write_bytes(messages[0])
    (maildir / "cur" / "1700000001.2.host:2,S").write_bytes(messages[1])
    write_mbox(tmp_path / "archive.mbox", messages[2:6])
    examples = [str(p) for p in sorted(EXAMPLES.iterdir()) if p.name != "labels.json"]
    first = intake(db_url, "import", *examples, str(maildir), str(tmp_path / "archive.mbox"))
    assert "stored 16 new of 16 inputs" in first.stdout
    second = intake(db_url, "import", *examples, str(maildir), str(tmp_path / "archive.mbox"))
    assert "stored 0 new of 16 inputs (16 already stored" in second.stdout
    listed = intake(db_url, "incidents", "--json").stdout.splitlines()
    assert len(listed) == 5 + 3  # the guide's five, two portal mails and one payments mail
    reports = [json.loads(line) for line in intake(db_url, "reports", "--json").stdout.splitlines()]
    assert len(reports) == 16
    assert {r["decision"] for r in reports} == {"incident", "not_incident"}


def test_import_reports_unreadable_files_and_keeps_going(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.eml").write_bytes(corpus(1)[0])
    result = intake(db_url, "import", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "a.json" in result.stderr and "not JSON" in result.stderr
    assert "stored 1 new of 1 inputs" in result.stdout


def test_show_and_lifecycle_commands(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "m.eml").write_bytes(corpus(4)[3])  # payments failing
    intake(db_url, "import", str(tmp_path))
    shown = intake(db_url, "show", "INC-1").stdout
    assert "INC-1  Payments failing #3" in shown
    assert "declared  by rule:triage" in shown
    assert "impact      yes" in shown and "· " in shown
    intake(db_url, "severity", "INC-1", "sev1", "--as", "alice")
    intake(db_url, "update", "INC-1", "Stripe engaged", "--as", "alice")
    assert "INC-1 is now resolved" in intake(db_url, "resolve", "INC-1", "--as", "bob").stdout
    refused = intake(db_url, "resolve", "INC-1", check=False)
    assert refused.returncode == 1 and "cannot resolve INC-1: it is resolved" in refused.stderr
    decline = intake(db_url, "decline", "INC-1", check=False)
    assert decline.returncode == 2 and "--reason" in decline.stderr
    declared = intake(db_url, "declare", "--title", "Office flood", "--severity", "SEV2").stdout
    assert "declared INC-2: Office flood" in declared
    live = intake(db_url, "incidents", "--status", "live").stdout
    assert "INC-2" in live and "INC-1" not in live


def test_retriage_records_what_changed(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "m.eml").write_bytes(
        mail(
            "Kassenautomat spinnt",
            "Der Kassenautomat spinnt seit heute früh, Kunden stehen Schlange",
        )
    )
    intake(db_url, "import", str(tmp_path))
    config = tmp_path / "intake.toml"
    config.write_text(
        "[triage.vocabulary.outage]\nde = ['spinnt']\n[triage.vocabulary.complaints]\nde = ['stehen schlange']\n"
    )
    result = intake(db_url, "--config", str(config), "retriage", "--since", "1d")
    assert "report 1: decision not_incident -> incident" in result.stdout
    assert "1 changed" in result.stdout
    again = intake(db_url, "--config", str(config), "retriage", "--since", "1d")
    assert "0 changed" in again.stdout


def test_reprocess_quarantined(db_url: str, tmp_path: Path) -> None:
    rt = open_db(db_url)
    from core.store import store_raw
    from tests.helpers import tx

    with tx(rt) as session:
        store_raw(session, "email", "empty", b"")
    result = intake(db_url, "process")
    assert "quarantined 1" in result.stdout and "ParseError" in result.stderr
    result = intake(db_url, "reprocess", "--quarantined")
    assert "queued 1 message(s) again" in result.stdout
    assert intake(db_url, "reprocess", check=False).returncode == 2


def test_sigkill_during_import_loses_and_doubles_nothing(db_url: str, tmp_path: Path) -> None:
    """Kill `intake import` at random points 20 times over 2,000 messages, then finish it."""
    messages = corpus(2000)
    mbox = tmp_path / "big.mbox"
    write_mbox(mbox, messages)
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url}
    rng = random.Random(7)
    intake(db_url, "db", "upgrade")
    for _ in range(20):
        proc = subprocess.Popen(
            [*INTAKE, "import", str(mbox)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.4, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    intake(db_url, "import", str(mbox))
    rt = open_db(db_url)
    with rt.factory() as session:
        stored = session.scalar(select(func.count()).select_from(RawMessage))
        keys = session.scalar(select(func.count(func.distinct(RawMessage.natural_key))))
        pending = session.scalar(
            select(func.count()).select_from(RawMessage).where(RawMessage.status != "processed")
        )
    assert stored == 2000 and keys == 2000
    assert pending == 0


@pytest.mark.parametrize("bad", ["[triage]\nthreshold = 0\n", "[database]\nurl = 'mysql://x'\n"])
def test_bad_config_stops_commands_with_a_clear_error(
    db_url: str, tmp_path: Path, bad: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(bad)
    result = intake(db_url, "--config", str(config), "incidents", check=False)
    assert result.returncode == 2
    assert str(config) in result.stderr
