"""Mutated real mail into the email parser: a Report that can be stored, or ParseError.

The seeds are the corpora's mails (../shared/corpora, read at test time) and the shared
examples; each draw damages one of them a few times over, with random bytes and with the
pieces that break MIME parsers (boundaries, encoded words, transfer encodings, NULs).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.report import ParseError, Report
from ingest.email_parse import parse_email
from tests.conftest import CORPORA, EXAMPLES, ROOT, require_shared
from tests.fuzz_settings import fuzz_settings

# The mail folders of the corpora (tests/test_email_corpora.py parses each one as it is).
MAIL_FOLDERS = [
    "library-fuzzers/corp-email",
    "flanker/tests/fixtures/messages",
    "mail-parser/tests/mails",
    "set-of-emails",
    "talon/tests/fixtures",
]
NOT_MAIL = {".md", ".txt", ".py", ".json", ".toml", ".go", ".yml", ".yaml", ".html"}
MAX_SEED = 300_000  # bigger seeds make each draw slow without finding more

SNIPPETS = [
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff\xfe\xc3",
    b"--",
    b'Content-Type: multipart/mixed; boundary="zz"\r\n',
    b"\r\n--zz\r\n",
    b"\r\n--zz--\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: text/html; charset=utf-7\r\n",
    b'Content-Type: text/plain; charset="x-unknown"\r\n',
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%ZZ.txt\r\n",
    b"=?utf-8?b?4oKs?=",
    b"=?iso-2022-jp?q?=1B$B?=",
    b"=?",
    b"?=",
    b"=\r\n",
    b"=ZZ",
    b'From: "a\\" <<@>>, @,\r\n',
    b"Date: Mon, 99 Foo 99999 99:99:99 +9999\r\n",
    b"References: <" + b"a" * 600 + b">\r\n",
    b"X-Sentry-Project: \r\n",
    b"\r\n> -----Original Message-----\r\n> From: x\r\n",
    b"<html><body><blockquote><div>" * 3,
    b"begin 644 x\r\nM\r\nend\r\n",
]


def seeds() -> list[Path]:
    found = sorted(EXAMPLES.glob("*.eml"))
    for folder in MAIL_FOLDERS:
        for path in sorted((CORPORA / folder).rglob("*")):
            if (
                path.is_file()
                and path.suffix.lower() not in NOT_MAIL
                and not path.name.isupper()  # LICENSE, NOTICE
                and path.stat().st_size <= MAX_SEED
            ):
                found.append(path)
    return found


SEEDS = seeds() if CORPORA.exists() else []


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with one to five damages: flipped, inserted, deleted, repeated or cut bytes."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(out)))
        action = draw(st.sampled_from(["flip", "insert", "snippet", "delete", "repeat", "cut"]))
        if action == "flip" and out:
            out[min(at, len(out) - 1)] = draw(st.integers(0, 255))
        elif action == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif action == "snippet":
            out[at:at] = draw(st.sampled_from(SNIPPETS)) * draw(st.integers(1, 3))
        elif action == "delete":
            del out[at : at + draw(st.integers(1, 200))]
        elif action == "repeat":
            out[at:at] = out[at : at + draw(st.integers(1, 200))] * draw(st.integers(1, 20))
        elif action == "cut":
            del out[at:]
    return bytes(out)


def strings_of(report: Report) -> list[str]:
    values = [report.title, report.text, report.note, report.quoted, report.reporter]
    values += [report.reporter_address, report.forwarded_by, report.message_id]
    values += [report.in_reply_to, report.fingerprint, report.set_aside_evidence]
    values += [*report.references, *report.recipients, *report.warnings]
    values += [*report.headers, *report.headers.values()]
    values += [attachment.name for attachment in report.attachments]
    return values


def assert_storable(report: Report) -> None:
    """What the pipeline writes must go into PostgreSQL: UTF-8 without NUL, JSON fields."""
    assert report.source == "email"
    assert report.title.strip()
    assert report.fingerprint.startswith(("email:", "sentry:issue:"))
    for key in ("forwarded", "html_only", "sentry_email", "has_attachments", "in_reply"):
        assert isinstance(report.fields[key], bool), key
    assert isinstance(report.fields["mailer"], str)
    assert isinstance(report.fields["sender_domain"], str)
    assert report.sent_at is None or report.sent_at.tzinfo is not None
    json.dumps(report.fields, allow_nan=False)
    for value in strings_of(report):
        assert "\x00" not in value, value
        value.encode("utf-8")  # a lone surrogate raises here, and in the database driver
    assert all(attachment.size >= 0 for attachment in report.attachments)


def check(raw: bytes) -> None:
    try:
        report = parse_email(raw)
    except ParseError as exc:
        assert str(exc)
        return
    assert_storable(report)


@fuzz_settings(150)
@given(st.data())
def test_damaged_real_mail_parses_or_is_refused(data: st.DataObject) -> None:
    require_shared(CORPORA)
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    check(data.draw(damaged(seed.read_bytes())))


@fuzz_settings(150)
@given(st.binary(max_size=2000))
def test_random_bytes_parse_or_are_refused(raw: bytes) -> None:
    check(raw)


@fuzz_settings(100)
@given(st.lists(st.sampled_from(SNIPPETS) | st.binary(max_size=20), max_size=30))
def test_mime_fragments_parse_or_are_refused(pieces: list[bytes]) -> None:
    check(b"From: a@example.com\r\nSubject: x\r\n" + b"".join(pieces))


def test_nul_in_subject_and_body_is_replaced_so_postgresql_can_store_it() -> None:
    """Regression: a NUL in a header or body reached StoredReport and failed the insert on
    PostgreSQL (found by test_mime_fragments_parse_or_are_refused)."""
    report = parse_email(
        b"From: Ana <ana@customer.example>\r\nSubject: Portal\x00 down\r\n\r\nLogin\x00 fails\r\n"
    )
    assert report.title == "Portal\ufffd down"
    assert report.text == "Login\ufffd fails"
    assert_storable(report)


def test_atheris_target_seeds_from_the_corpora_and_runs(tmp_path: Path) -> None:
    """`make fuzz` in small: seed the corpus, then a few hundred coverage-guided runs."""
    require_shared(CORPORA)
    if importlib.util.find_spec("atheris") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("atheris is missing: pip install -e '.[dev]'")
        pytest.skip("atheris not installed")
    target = [sys.executable, str(ROOT / "fuzz" / "email_atheris.py")]
    seeder = [sys.executable, str(ROOT / "fuzz" / "seed_corpus.py"), str(tmp_path / "all")]
    seeded = subprocess.run(seeder, capture_output=True)
    assert seeded.returncode == 0, seeded.stderr
    assert len(list((tmp_path / "all").iterdir())) > 500
    small = tmp_path / "small"
    small.mkdir()
    for path in sorted((tmp_path / "all").iterdir())[:10]:
        (small / path.name).write_bytes(path.read_bytes())
    flags = ["-runs=150", "-max_len=20000", "-timeout=10", f"-artifact_prefix={tmp_path}/"]
    done = subprocess.run([*target, str(small), *flags], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 150 runs" in done.stderr


def test_superscript_digit_in_a_forwarded_date() -> None:
    """Regression found by `make fuzz`: "²" passed str.isdigit() and crashed int() while
    reading the date of an inline forward (a ValueError, not a ParseError)."""
    raw = (
        "From: Nyanko <nyanko@example.jp>\r\nSubject: Fwd: bounce\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nForward the message.\r\n\r\n"
        "Begin forwarded message:\r\n\r\n> From: Mail Delivery <mailer@example.jp>\r\n"
        "> Date: 2009\u00b2 April 28 23:45\r\n> Subject: Undelivered\r\n>\r\n> Lost mail.\r\n"
    ).encode()
    report = parse_email(raw)
    assert report.title == "Undelivered"
    assert_storable(report)
