"""Mail bombs: each is refused (ParseError, so quarantined) or parsed with a warning, inside
2 s of CPU and 256 MB of address space, and the pipeline keeps flowing after it.

The parse runs in a child process under hard limits (RLIMIT_AS, RLIMIT_CPU): a bomb that
runs away is killed by the kernel and the test fails; no wall-clock timing is asserted.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.models import PARKED, PROCESSED, QUARANTINED, RawMessage, StoredReport
from core.pipeline import run_pending
from core.store import store_raw
from ingest.email_limits import MAX_NESTING, MAX_PARSE_LINES
from ingest.raw import parse_raw
from tests.conftest import ROOT
from tests.helpers import mail, open_db, tx

MEMORY_LIMIT = 256 * 1024 * 1024
CPU_SECONDS = 2
MB = 1_000_000

HEAD = b"From: Ana Ruiz <ana@customer.example>\r\nTo: incidents@ourco.example\r\n"


def many_headers(count: int = 100_000, newline: bytes = b"\r\n") -> bytes:
    fields = b"".join(b"X-Filler-%d: value%s" % (i, newline) for i in range(count))
    return (HEAD + b"Subject: header bomb\r\n").replace(b"\r\n", newline) + fields + newline + b"hi"


def long_header_line() -> bytes:
    return HEAD + b"Subject: " + b"A" * (5 * MB) + b"\r\n\r\nbody\r\n"


def many_parts(count: int = 10_000) -> bytes:
    parts = b"".join(
        b"--P\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count)
    )
    return (
        HEAD + b"Subject: parts bomb\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="P"\r\n\r\n' + parts + b"--P--\r\n"
    )


def deep_nesting(depth: int = 1000, filler_lines: int = 0) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i)
        for i in range(depth)
    )
    closing = b"".join(b"--n%d--\r\n" % i for i in reversed(range(depth)))
    inner = b"Content-Type: text/plain\r\n\r\n" + b"x\r\n" * filler_lines + b"deep\r\n"
    return HEAD + b"Subject: nesting bomb\r\nMIME-Version: 1.0\r\n" + opening + inner + closing


def deep_forwards(depth: int = 1000) -> bytes:
    """message/rfc822 inside message/rfc822: nesting without any boundary to scan for."""
    level = HEAD + b"Subject: level %d\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
    return b"".join(level % i for i in range(depth)) + HEAD + b"Subject: core\r\n\r\ndeep\r\n"


def big_attachment(size: int = 50 * MB) -> bytes:
    line = b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"
    head = (
        HEAD + b"Subject: logs attached\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nThe export fails, logs attached.\r\n"
        b'--B\r\nContent-Type: application/octet-stream; name="dump.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    tail = b"--B--\r\n"
    body = line * ((size - len(head) - len(tail)) // len(line))
    return head + body + tail


def big_text(size: int = 50 * MB) -> bytes:
    head = HEAD + b"Subject: pasted log\r\n\r\nThe job crashed, full log below.\r\n"
    line = b"2025-10-14 09:30:00 ERROR worker-3 job failed\r\n"
    return head + line * ((size - len(head)) // len(line))


BOMBS: dict[str, Callable[[], bytes]] = {
    "100,000 headers": many_headers,
    "100,000 headers, CR line ends": lambda: many_headers(newline=b"\r"),
    "100,000 headers after blank lines": lambda: b"\r\n\r\n" + many_headers(),
    "5 MB header line": long_header_line,
    "10,000 MIME parts": many_parts,
    "nesting depth 1,000": deep_nesting,
    "forwards nested 1,000 deep": deep_forwards,
    "50 MB attachment": big_attachment,
    "50 MB text body": big_text,
    # The worst the caps still let through to the parser: every line checked at full depth.
    "nesting at the cap, lines at the cap": lambda: deep_nesting(MAX_NESTING, MAX_PARSE_LINES),
}
# What a user sees: refused (ParseError, the message quarantined) with words saying why,
# or parsed with the subject as title and a warning saying what was left out.
EXPECTED = {
    "100,000 headers": ("ParseError", "header lines"),
    "100,000 headers, CR line ends": ("ParseError", "header lines"),
    "100,000 headers after blank lines": ("ParseError", "header lines"),
    "5 MB header line": ("ParseError", "header block"),
    "10,000 MIME parts": ("parts bomb", "more than 5,000 MIME parts"),
    "nesting depth 1,000": ("nesting bomb", "nesting deeper than"),
    "forwards nested 1,000 deep": ("level 0", "nesting too deep"),
    "50 MB attachment": ("logs attached", "only the first 10,000,000"),
    "50 MB text body": ("pasted log", "only the first"),
    "nesting at the cap, lines at the cap": ("nesting bomb", "only the first"),
}
# Also run through the real pipeline on both databases; the 50 MB one goes through
# `intake import` below.
PIPELINE_BOMBS = ["100,000 headers", "10,000 MIME parts", "nesting depth 1,000"]

# Runs in the child: imports first, then the limits, then read and parse. ITIMER_PROF
# counts the process's CPU time and its SIGPROF ends the child after 2 s of it; RLIMIT_CPU
# (whole seconds) is the backstop; RLIMIT_AS bounds memory, the bomb's own bytes included.
CHILD = f"""
import json, math, resource, signal, sys, time
from core.report import ParseError
from ingest.email_parse import parse_email
used = resource.getrusage(resource.RUSAGE_SELF)
cpu = math.ceil(used.ru_utime + used.ru_stime) + {CPU_SECONDS} + 1
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
signal.setitimer(signal.ITIMER_PROF, {CPU_SECONDS})
start = time.process_time()
try:
    data = open(sys.argv[1], "rb").read()
    report = parse_email(data)
    result = {{"outcome": "parsed", "title": report.title, "warnings": report.warnings}}
except ParseError as exc:
    result = {{"outcome": "ParseError", "error": str(exc)}}
except MemoryError:
    result = {{"outcome": "MemoryError"}}
result["cpu"] = time.process_time() - start
print(json.dumps(result))
"""


def parse_in_child(path: Path) -> tuple[dict[str, Any], float]:
    """The child's result and the CPU seconds it used in all (imports included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert done.returncode == 0, (
        f"the parse did not finish (exit {done.returncode}; -27 is SIGPROF: over "
        f"{CPU_SECONDS} s of CPU) after {cpu:.2f} s of CPU: {done.stderr[-2000:]}"
    )
    return json.loads(done.stdout.splitlines()[-1]), cpu


@pytest.mark.parametrize("name", list(BOMBS))
def test_bomb_is_refused_or_parsed_with_a_warning_within_limits(name: str, tmp_path: Path) -> None:
    path = tmp_path / "bomb.eml"
    path.write_bytes(BOMBS[name]())
    result, cpu = parse_in_child(path)
    assert result["outcome"] != "MemoryError", f"{name}: hit the 256 MB limit"
    title_or_error, words = EXPECTED[name]
    if title_or_error == "ParseError":
        assert result["outcome"] == "ParseError", (result, cpu)
        assert words in result["error"] and "refused" in result["error"], result
    else:
        assert result["outcome"] == "parsed", (result, cpu)
        assert result["title"] == title_or_error
        assert any(words in warning for warning in result["warnings"]), result["warnings"]


@pytest.mark.parametrize("name", PIPELINE_BOMBS)
def test_pipeline_quarantines_or_processes_a_bomb_and_keeps_flowing(name: str, db_url: str) -> None:
    rt = open_db(db_url)
    with tx(rt) as session:
        bomb = store_raw(session, "email", "bomb@test", BOMBS[name]()).id
        after = store_raw(
            session, "email", "after@test", mail("Portal down", "Nobody can log in.")
        ).id
    run_pending(rt.factory, parse_raw, rt.config)
    with tx(rt) as session:
        bomb_row = session.get(RawMessage, bomb)
        after_row = session.get(RawMessage, after)
        assert bomb_row is not None and after_row is not None
        assert bomb_row.status in (PROCESSED, QUARANTINED, PARKED), bomb_row.last_error
        if bomb_row.status != PROCESSED:
            assert "ParseError" in (bomb_row.last_error or "")
        else:
            warnings = session.scalars(
                select(StoredReport.warnings).where(StoredReport.raw_id == bomb)
            ).one()
            assert warnings
        assert len(bomb_row.body) == len(BOMBS[name]())  # stored whole; only parsing is capped
        assert after_row.status == PROCESSED
        titles = session.scalars(select(StoredReport.title).where(StoredReport.raw_id == after))
        assert list(titles) == ["Portal down"]


def test_intake_import_of_a_50_mb_eml_then_the_next_mail(db_url: str, tmp_path: Path) -> None:
    """The 50 MB bomb through the real pipeline as a user meets it: `intake import`."""
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "1-big.eml").write_bytes(big_attachment())
    (folder / "2-after.eml").write_bytes(mail("Portal down", "Nobody can log in."))
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url}
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "import", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "stored 2 new of 2" in done.stdout
    rt = open_db(db_url)
    with tx(rt) as session:
        statuses = session.scalars(select(RawMessage.status)).all()
        assert statuses == [PROCESSED, PROCESSED]
        reports = {r.title: r for r in session.scalars(select(StoredReport))}
        assert set(reports) == {"logs attached", "Portal down"}
        assert any("only the first" in warning for warning in reports["logs attached"].warnings)
