"""Triage throughput: how many reports, emails, Sentry bodies and Telegram updates per second.

Run from the repository root:

    .venv/bin/python bench/triage.py [--n 5000] [--repeat 5] [--seed 1]

It generates a varied corpus in memory (bench/corpus.py; at least `--n` inputs per
source, never the shared examples) and prints, in one run:

1. triage alone: every report of all three sources parsed once, then `triage(report)`;
2. bare parse: `email.message_from_bytes(raw, policy=email.policy.default)` over the
   email corpus, the anchor for (3);
3. email parse + triage: `triage(parse_email(raw))` over the same corpus, and its
   ratio to (2);
4. Sentry parse + triage: `parse_sentry(body)`, then triage when a report comes back;
5. Telegram parse + triage: `parse_update(body)`, likewise.

Everything runs in this one process and thread, so each rate is what one core does;
passes are timed in CPU seconds of this process, so a busy neighbour slows the rates
less than it would wall-clock rates.
Each measure has a warm-up pass (see `main`) and then `--repeat` timed passes; the
table shows the median and the min..max of those passes, because shared machines are
noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import gc
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on the path; the project's packages live at
# the root, and bench/ holds nothing that should shadow them.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.corpus import Corpus, build_corpus, example_bytes  # noqa: E402
from bench.results import Figure, write_json  # noqa: E402
from core.report import ParseError, Report  # noqa: E402
from core.triage.engine import triage  # noqa: E402
from ingest.email_parse import parse_email  # noqa: E402
from ingest.sentry import parse_sentry  # noqa: E402
from ingest.telegram import parse_update  # noqa: E402

TRIAGE_TARGET = 5_000.0  # reports/s, one core
EMAIL_RATIO_TARGET = 0.60  # parse + triage against bare stdlib parsing, same corpus
SOURCE_TARGET = 5_000.0  # Sentry and Telegram inputs/s, parse + triage
DECISIONS = ("incident", "not_incident", "needs_review")
BARE_WARM_UP = 500  # emails; the generator mixes every shape well within this many
_POLICY = email.policy.default


@dataclass
class Measure:
    """One line of the table: a timed pass over `count` items, repeated."""

    name: str
    unit: str
    count: int
    run: Callable[[], object]
    target: str = ""
    seconds: list[float] | None = None

    @property
    def rates(self) -> list[float]:
        return [self.count / s for s in self.seconds or []]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def _triage_all(reports: Sequence[Report]) -> Callable[[], object]:
    def run() -> None:
        for report in reports:
            triage(report)

    return run


def _bare_parse(emails: Sequence[bytes]) -> Callable[[], object]:
    def run() -> None:
        for raw in emails:
            email.message_from_bytes(raw, policy=_POLICY)

    return run


def _email_pipeline(emails: Sequence[bytes]) -> Callable[[], object]:
    def run() -> None:
        for raw in emails:
            # A parse error is counted in the decision mix; the timed loop must not stop on it.
            with contextlib.suppress(ParseError):
                triage(parse_email(raw))

    return run


def _json_pipeline(
    bodies: Sequence[bytes], parse: Callable[[bytes], Report | None]
) -> Callable[[], object]:
    def run() -> None:
        for body in bodies:
            try:
                report = parse(body)
            except ParseError:
                continue
            if report is not None:
                triage(report)

    return run


def _parse_sentry(body: bytes) -> Report | None:
    return parse_sentry(body)


@dataclass
class Parsed:
    """Each source's reports, parsed once (untimed), and what did not become one."""

    reports: dict[str, list[Report]]
    no_report: Counter[str]
    errors: Counter[str]


def parse_all(corpus: Corpus) -> Parsed:
    reports: dict[str, list[Report]] = {"email": [], "sentry": [], "telegram": []}
    no_report: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    sources: list[tuple[str, Sequence[bytes], Callable[[bytes], Report | None]]] = [
        ("email", corpus.emails, parse_email),
        ("sentry", corpus.sentry, _parse_sentry),
        ("telegram", corpus.telegram, parse_update),
    ]
    for source, items, parse in sources:
        for item in items:
            try:
                report = parse(item)
            except ParseError:
                errors[source] += 1
                continue
            if report is None:
                no_report[source] += 1
            else:
                reports[source].append(report)
    return Parsed(reports, no_report, errors)


def time_interleaved(measures: Sequence[Measure], repeat: int) -> None:
    """`repeat` rounds of one timed pass of each measure, in turn.

    Interleaving spreads a noisy neighbour over all measures alike instead of letting it
    spoil one of them; that matters most for the email ratio, whose two sides are then
    timed seconds apart rather than minutes apart. Warm-up passes happen before this.
    """
    for measure in measures:
        measure.seconds = []
    for _ in range(repeat):
        for measure in measures:
            gc.collect()  # start each pass with no garbage left over from the previous one
            # CPU time of this process: on a shared machine, wall time also counts
            # the moments another process held the core.
            start = time.process_time()
            measure.run()
            elapsed = time.process_time() - start
            assert measure.seconds is not None
            measure.seconds.append(elapsed)


def _size(n: float) -> str:
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n:.0f} B"


def _mix(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counter.most_common())


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def print_corpus(corpus: Corpus, seconds: float) -> None:
    print(f"corpus (generated in {seconds:.1f} s, in memory)")
    print(f"  {'source':<9} {'items':>6} {'total':>9}   size min / median / max")
    for name, items in (
        ("email", corpus.emails),
        ("sentry", corpus.sentry),
        ("telegram", corpus.telegram),
    ):
        sizes = sorted(len(item) for item in items)
        print(
            f"  {name:<9} {len(items):>6} {_size(sum(sizes)):>9}   "
            f"{_size(sizes[0])} / {_size(statistics.median(sizes))} / {_size(sizes[-1])}"
        )
    print(f"  email shapes:    {_mix(corpus.email_shapes)}")
    print(f"  email languages: {_mix(corpus.email_langs)}")
    print(f"  email features:  {_mix(corpus.email_features)}")
    print(f"  sentry kinds:    {_mix(corpus.sentry_kinds)}")
    print(f"  telegram kinds:  {_mix(corpus.telegram_kinds)}")
    print(f"  sentry templates: {corpus.sentry_templates}")


def print_decisions(parsed: Parsed, decisions: dict[str, Counter[str]]) -> None:
    print("decision mix (each parsed report triaged once)")
    head = "".join(f"{d:>14}" for d in DECISIONS)
    print(f"  {'source':<9} {'reports':>8}{head}{'no report':>11}{'parse errors':>14}")
    for source, reports in parsed.reports.items():
        cells = "".join(f"{decisions[source][d]:>14}" for d in DECISIONS)
        print(
            f"  {source:<9} {len(reports):>8}{cells}"
            f"{parsed.no_report[source]:>11}{parsed.errors[source]:>14}"
        )


def print_results(measures: Sequence[Measure], repeat: int) -> bool:
    """The table; returns whether every target was met."""
    triage_m, bare, mail, sentry, telegram = measures
    ratio = mail.median / bare.median
    verdicts: dict[str, tuple[str, bool | None]] = {
        triage_m.name: ("", triage_m.median >= TRIAGE_TARGET),
        bare.name: ("", None),
        mail.name: (f"{ratio:.0%}", ratio >= EMAIL_RATIO_TARGET),
        sentry.name: ("", sentry.median >= SOURCE_TARGET),
        telegram.name: ("", telegram.median >= SOURCE_TARGET),
    }
    print(f"results (median of {repeat} timed passes after the warm-up; one process, one thread)")
    print(
        f"  {'measure':<36} {'rate (median)':>18}  {'min..max':<17} "
        f"{'target':<22} {'ratio':>6}  result"
    )
    passed = True
    for m in measures:
        rates = m.rates
        ratio_cell, ok = verdicts[m.name]
        result = "anchor" if ok is None else "PASS" if ok else "FAIL"
        passed = passed and ok is not False
        print(
            f"  {m.name + f' ({m.count:,})':<36} {_rate(m.median) + ' ' + m.unit:>18}  "
            f"{_rate(min(rates)) + '..' + _rate(max(rates)):<17} {m.target:<22} "
            f"{ratio_cell:>6}  {result}"
        )
    return passed


def figures(measures: Sequence[Measure], repeat: int) -> list[Figure]:
    """The table's measures for bench/all.py (rates: median of the timed passes)."""
    triage_m, bare, mail, sentry, telegram = measures

    def spread(m: Measure) -> str:
        low, high = _rate(min(m.rates)), _rate(max(m.rates))
        return f"{m.count:,} inputs, median of {repeat} CPU-timed passes ({low}..{high})"

    def alone(m: Measure, target: float) -> Figure:
        return Figure(
            name=m.name,
            ours=m.median,
            unit=m.unit,
            target=f">= {target:,.0f}/s",
            passed=m.median >= target,
            note=spread(m),
        )

    ratio = mail.median / bare.median
    return [
        alone(triage_m, TRIAGE_TARGET),
        Figure(
            name=mail.name,
            ours=mail.median,
            unit=mail.unit,
            anchor=bare.median,
            anchor_name=bare.name,
            ratio=ratio,
            target=f">= {EMAIL_RATIO_TARGET:.2f}",
            passed=ratio >= EMAIL_RATIO_TARGET,
            note=spread(mail),
        ),
        alone(sentry, SOURCE_TARGET),
        alone(telegram, SOURCE_TARGET),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="inputs per source (default 5000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeat < 1:
        parser.error("--n and --repeat must be at least 1")

    began = time.perf_counter()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"intake triage benchmark: seed {args.seed}, {args.n:,} inputs per source, "
        f"{args.repeat} repetitions"
    )
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{cpus} CPUs available, 1 used\n"
    )

    start = time.perf_counter()
    corpus = build_corpus(args.n, args.seed)
    generated = time.perf_counter() - start
    examples = example_bytes()
    copies = sum(
        1 for item in (*corpus.emails, *corpus.sentry, *corpus.telegram) if item in examples
    )
    if copies:  # the issue forbids the examples as corpus items; fail loudly if one slips in
        print(f"error: {copies} corpus items are copies of shared examples", file=sys.stderr)
        return 2
    print_corpus(corpus, generated)
    print()

    # Warm-up. Parsing every input once and triaging every report once (for the decision
    # mix) is a full warm-up pass of each parser and of triage: it fills the lexicon's
    # word cache and compiles what is compiled lazily, so measures 1 and 3-5 need no
    # second one. The stdlib parser has no per-input cache; a slice holding every shape
    # warms it, and saves a full pass that costs seconds per thousand emails.
    start = time.perf_counter()
    parsed = parse_all(corpus)
    decisions: dict[str, Counter[str]] = {
        source: Counter(triage(report).decision for report in reports)
        for source, reports in parsed.reports.items()
    }
    _bare_parse(corpus.emails[:BARE_WARM_UP])()
    warmed = time.perf_counter() - start
    print_decisions(parsed, decisions)
    print(
        f"  (this pass, with a bare-parse pass over {BARE_WARM_UP} emails, is the warm-up: "
        f"{warmed:.0f} s)"
    )
    print()

    all_reports = [r for reports in parsed.reports.values() for r in reports]
    # The corpus and the parsed reports live for the whole run; freezing them keeps the
    # collector from rescanning them during timed passes, which a service that handles
    # one message at a time would never pay for.
    gc.collect()
    gc.freeze()
    measures = [
        Measure(
            "triage alone",
            "reports/s",
            len(all_reports),
            _triage_all(all_reports),
            f">= {_rate(TRIAGE_TARGET)}/s",
        ),
        Measure(
            "bare parse (stdlib email)", "emails/s", len(corpus.emails), _bare_parse(corpus.emails)
        ),
        Measure(
            "email parse + triage",
            "emails/s",
            len(corpus.emails),
            _email_pipeline(corpus.emails),
            f">= {EMAIL_RATIO_TARGET:.0%} of bare parse",
        ),
        Measure(
            "sentry parse + triage",
            "inputs/s",
            len(corpus.sentry),
            _json_pipeline(corpus.sentry, _parse_sentry),
            f">= {_rate(SOURCE_TARGET)}/s",
        ),
        Measure(
            "telegram parse + triage",
            "inputs/s",
            len(corpus.telegram),
            _json_pipeline(corpus.telegram, parse_update),
            f">= {_rate(SOURCE_TARGET)}/s",
        ),
    ]
    time_interleaved(measures, args.repeat)
    passed = print_results(measures, args.repeat)
    if args.json:
        write_json(args.json, "triage", figures(measures, args.repeat))
    took = time.perf_counter() - began
    print(f"\nall targets met: {'yes' if passed else 'NO'}; the run took {took:.0f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
