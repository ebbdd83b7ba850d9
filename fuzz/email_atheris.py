"""Coverage-guided fuzzing of the email parser with atheris (libFuzzer for Python).

`parse_email` must return a storable Report or raise ParseError; anything else (another
exception, a NUL or lone surrogate in the report, more than the per-input timeout) is a
crash that libFuzzer saves as var/fuzz/crash-<sha1>. Run it with `make fuzz`
(FUZZ_MINUTES=5 by default), which seeds a temporary corpus from ../shared/corpora:

    python fuzz/seed_corpus.py DIR                   # copy the corpus mails into DIR
    python fuzz/email_atheris.py DIR -max_total_time=300 [other libFuzzer flags]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["ingest", "email"]):
    from core.report import ParseError
    from ingest.email_parse import parse_email


def test_one_input(data: bytes) -> None:
    try:
        report = parse_email(data)
    except ParseError as exc:
        if not str(exc):
            raise AssertionError("ParseError without a message") from exc
        return
    strings = [report.title, report.text, report.note, report.quoted, report.reporter]
    strings += [*report.warnings, *report.headers.values(), *report.recipients]
    strings += [attachment.name for attachment in report.attachments]
    for value in strings:
        if "\x00" in value:
            raise AssertionError(f"NUL in a report string: {value[:80]!r}")
        value.encode("utf-8")  # raises on a lone surrogate, as the database driver would
    json.dumps(report.fields, allow_nan=False)
    if not report.title.strip():
        raise AssertionError("blank title")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
