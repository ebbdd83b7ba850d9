"""What the bomb pre-scan costs on real mail, and what a bomb costs with it.

Run from the repository root:

    .venv/bin/python bench/email_limits.py [--runs 5]

Prints one table, CPU seconds (time.process_time), the median of `--runs` runs:

1. the pre-scan alone (`ingest.email_limits.check_limits`) over every mail of
   ../shared/corpora's mail folders, next to the anchor: the bare stdlib parse
   (`email.message_from_bytes(raw, policy=compat32)`) of the same mails;
2. `parse_email` (scan included) over the same mails, next to the same anchor;
3. each bomb of tests/test_bombs.py through `parse_email`, next to the bare stdlib parse
   of the same bytes where that finishes (it is skipped for the 50 MB mails, which need
   more than 256 MB in the bare parser, and for nesting 1,000, where it recurses out).
"""

from __future__ import annotations

import argparse
import contextlib
import email
import statistics
import sys
import time
from collections.abc import Callable
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import Figure, write_json  # noqa: E402
from core.report import ParseError  # noqa: E402
from ingest.email_limits import check_limits  # noqa: E402
from ingest.email_parse import parse_email  # noqa: E402
from tests.test_bombs import BOMBS  # noqa: E402
from tests.test_fuzz_email import MAIL_FOLDERS, NOT_MAIL  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
BARE_TOO_BIG = {"50 MB attachment", "50 MB text body", "nesting depth 1,000"}
BOMB_CPU_TARGET = 2.0  # seconds: issue 9, each bomb rejected or quarantined within 2 s of CPU


def corpus_mails() -> list[bytes]:
    mails = []
    for folder in MAIL_FOLDERS:
        for path in sorted((CORPORA / folder).rglob("*")):
            if path.is_file() and path.suffix.lower() not in NOT_MAIL and not path.name.isupper():
                mails.append(path.read_bytes())
    return mails


def cpu(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return statistics.median(times)


def quietly(parse: Callable[[bytes], object], raw: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse(raw)


def bare(raw: bytes) -> None:
    with contextlib.suppress(RecursionError):  # message/rfc822 nested 1,000 deep
        email.message_from_bytes(raw, policy=compat32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    runs = args.runs
    mails = corpus_mails()
    if not mails:
        raise SystemExit(f"no mails under {CORPORA}")
    rows: list[tuple[str, float, str, float | None]] = []
    anchor = cpu(lambda: [bare(m) for m in mails], runs)
    scan = cpu(lambda: [quietly(check_limits, m) for m in mails], runs)
    full = cpu(lambda: [quietly(parse_email, m) for m in mails], runs)
    rows.append((f"pre-scan, {len(mails)} corpus mails", scan, "bare stdlib parse", anchor))
    rows.append((f"parse_email, {len(mails)} corpus mails", full, "bare stdlib parse", anchor))
    for name, build in BOMBS.items():
        raw = build()
        ours = cpu(lambda raw=raw: quietly(parse_email, raw), runs)
        base = None if name in BARE_TOO_BIG else cpu(lambda raw=raw: bare(raw), runs)
        rows.append((f"bomb: {name}", ours, "bare stdlib parse", base))
    print(f"{'measure':<48} {'ours s':>8}  {'anchor':<18} {'anchor s':>9} {'ratio':>7}")
    for name, ours, anchor_name, base in rows:
        base_text = f"{base:9.3f}" if base is not None else f"{'-':>9}"
        ratio = f"{ours / base:7.2f}" if base else f"{'-':>7}"
        print(f"{name:<48} {ours:8.3f}  {anchor_name:<18} {base_text} {ratio}")
    if args.json:
        write_json(args.json, "email_limits", figures(rows, runs))


def figures(rows: list[tuple[str, float, str, float | None]], runs: int) -> list[Figure]:
    """CPU seconds; the bombs have issue 9's 2 s target, the corpus rows are for information."""
    found = []
    for name, ours, anchor_name, base in rows:
        bomb = name.startswith("bomb: ")
        found.append(
            Figure(
                name=name,
                ours=ours,
                unit="CPU s",
                anchor=base,
                anchor_name=anchor_name if base is not None else "(bare parse cannot finish)",
                ratio=ours / base if base else None,
                target=f"<= {BOMB_CPU_TARGET:.0f} s CPU" if bomb else "",
                passed=ours <= BOMB_CPU_TARGET if bomb else None,
                note=f"median of {runs}",
                lower_is_better=True,
            )
        )
    return found


if __name__ == "__main__":
    main()
