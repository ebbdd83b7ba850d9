"""Robustness on mail nobody here wrote: every corpus message gives a Report or a ParseError,
fast; random and mutated bytes give nothing else either."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.report import ParseError, Report
from ingest.email_parse import parse_email
from tests.conftest import CORPORA
from tests.conftest import require_shared as corpus

DATA = Path(__file__).parent / "data" / "email"
SECONDS_PER_MESSAGE = 1.0


def files_under(folder: Path) -> Iterator[Path]:
    return (path for path in sorted(folder.rglob("*")) if path.is_file())


def set_of_emails(folder: Path) -> Iterator[Path]:
    for path in files_under(folder):
        if path.suffix == ".eml" or "mailbox" in path.relative_to(folder).parts:
            yield path


CORPUS_SETS = {
    "library-fuzzers": lambda: files_under(corpus(CORPORA / "library-fuzzers" / "corp-email")),
    "flanker": lambda: files_under(corpus(CORPORA / "flanker/tests/fixtures/messages")),
    "mail-parser": lambda: files_under(corpus(CORPORA / "mail-parser/tests/mails")),
    "set-of-emails": lambda: set_of_emails(corpus(CORPORA / "set-of-emails")),
    "talon": lambda: files_under(corpus(CORPORA / "talon/tests/fixtures")),
    "email-reply-parser": lambda: files_under(corpus(CORPORA / "email-reply-parser/test/emails")),
}


def outcome(raw: bytes) -> Report | ParseError:
    try:
        return parse_email(raw)
    except ParseError as error:
        return error


@pytest.mark.parametrize("name", sorted(CORPUS_SETS))
def test_corpus_messages_parse_or_raise_parse_error_quickly(name: str) -> None:
    paths = list(CORPUS_SETS[name]())
    assert paths, f"{name}: no files found"
    slow: list[str] = []
    crashed: list[str] = []
    reports = 0
    for path in paths:
        raw = path.read_bytes()
        started = time.process_time()  # CPU: a runaway guard that load cannot trip
        try:
            result = outcome(raw)
        except Exception as error:
            crashed.append(f"{path.name}: {error!r}")
            continue
        elapsed = time.process_time() - started
        if elapsed >= SECONDS_PER_MESSAGE:
            slow.append(f"{path.name}: {elapsed:.2f}s")
        if isinstance(result, Report):
            reports += 1
            assert result.source == "email"
            assert result.sent_at is None or result.sent_at.tzinfo is not None, path.name
            assert all(address == address.lower() for address in result.recipients), path.name
    assert crashed == []
    assert slow == []
    assert reports >= len(paths) // 2, f"{name}: only {reports}/{len(paths)} parsed"


def test_set_of_emails_mailbox_files_are_included() -> None:
    paths = list(CORPUS_SETS["set-of-emails"]())
    assert any("mailbox" in path.parts for path in paths)
    assert sum(path.suffix == ".eml" for path in paths) > 800


# --- properties -----------------------------------------------------------------------------


def seeds() -> list[bytes]:
    """Our fixtures plus a spread of corpus messages (bounces, MIME torture, replies)."""
    found = [path.read_bytes() for path in sorted(DATA.glob("*.eml"))]
    picks = [
        "flanker/tests/fixtures/messages/torture.eml",
        "flanker/tests/fixtures/messages/missing-boundaries.eml",
        "flanker/tests/fixtures/messages/enclosed-broken.eml",
        "flanker/tests/fixtures/messages/bounce/office365.eml",
        "mail-parser/tests/mails/mail_malformed_1",
        "mail-parser/tests/mails/mail_test_3",
        "set-of-emails/maildir/bsd/lhost-postfix-01.eml",
        "set-of-emails/maildir/bsd/arf-01.eml",
        "set-of-emails/maildir/bsd/rfc3834-06.eml",
        "talon/tests/fixtures/standard_replies/sparrow.eml",
    ]
    for pick in picks:
        path = CORPORA / pick
        if path.exists():
            found.append(path.read_bytes()[:20_000])
    return found


SEEDS = seeds()


@st.composite
def mutated_mail(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        operation = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        if operation == "flip":
            data[position] = draw(st.integers(0, 255))
        elif operation == "truncate":
            del data[position:]
        elif operation == "insert":
            data[position:position] = draw(
                st.sampled_from(
                    [b"\n", b"\r\n\r\n", b"=?utf-8?b?", b"--", b"\x00", b"<div><blockquote>", b"="]
                )
                | st.binary(max_size=40)
            )
        else:
            del data[position : position + draw(st.integers(1, 200))]
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_give_report_or_parse_error(raw: bytes) -> None:
    assert isinstance(outcome(raw), Report | ParseError)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_mail())
def test_mutated_mail_gives_report_or_parse_error(raw: bytes) -> None:
    assert isinstance(outcome(raw), Report | ParseError)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60), max_size=30)
)
def test_random_header_and_body_text(lines: list[str]) -> None:
    raw = ("From: a@example.com\nSubject: " + "\n".join(lines)).encode("utf-8")
    assert isinstance(outcome(raw), Report | ParseError)


def test_missing_corpora_fail_under_ci_and_skip_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-corpus"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        corpus(missing)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        corpus(missing)
    assert corpus(tmp_path) == tmp_path
