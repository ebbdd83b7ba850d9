"""Every benchmark in one run, and one table: figure, anchor from the same run, ratio, target.

Run from the repository root (`make bench` runs it; needs what the benches need: Dovecot,
PostgreSQL, wrk, prometheus-alertmanager from Debian):

    .venv/bin/python bench/all.py [--quick] [--only triage,pipeline,...]

Each bench runs as its own process (`bench/NAME.py ... --json FILE`), one after the
other, so they do not compete for the two cores; its own table and progress go to
var/bench/<time>/NAME.log. bench/alerts.py prints a table of its own format, which is
read here. Each figure is the median of several runs inside its bench (at least 3). The
sizes are the benches' own defaults scaled so that the whole run stays near 25 minutes
on an idle 2-core machine: bench/pipeline.py's peak RSS is taken over a 30,000-message
mbox and its SQLite growth at 100,000 reports (run it alone for issue 3's 100,000 and
200,000); the rows name their sizes. `--quick` takes a few minutes with small sizes,
for checking that everything runs (its figures are noisier; sizes named in targets, such
as 10,000 incidents, are kept).

Exit status 1 when any target is missed or a bench failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.results import Figure, read_json, verdict  # noqa: E402


@dataclass(frozen=True)
class Bench:
    name: str
    full: str  # arguments of the default run
    quick: str  # arguments of --quick
    json: bool = True  # takes --json FILE; otherwise its table is read from stdout


BENCHES = [
    Bench("triage", "--n 2000 --repeat 5", "--n 500 --repeat 3"),
    Bench("email_limits", "--runs 3", "--runs 3"),
    Bench(
        "pipeline",
        "--n 5000 --big 30000 --runs 3 --batch 1000 --stored-large 100000",
        "--n 1000 --skip-big --runs 3 --batch 300 --stored-small 2000 --stored-large 6000",
    ),
    Bench("imap", "--n 3000 --runs 3 --latency 50", "--n 500 --runs 3 --latency 15"),
    Bench(
        "alerts",
        "--runs 3 --seconds 10 --lag-runs 2",
        "--runs 3 --seconds 3 --lag-seconds 3 --lag-runs 1",
        json=False,
    ),
    Bench("alerts_scale", "--runs 3 --seconds 10", "--runs 3 --seconds 2"),
    Bench("telegram", "--n 3000 --latency-n 300 --runs 3", "--n 500 --latency-n 50 --runs 3"),
    Bench("notify", "--runs 3", "--runs 3"),
    Bench(
        "dashboard",
        "--incidents 10000 --requests 200 --runs 5",
        "--incidents 10000 --requests 50 --runs 3",
    ),
    Bench(
        "pg_growth",
        "--levels 10000,100000,1000000 --runs 5",
        "--levels 10000,100000 --runs 3 --template 2000",
    ),
]


# --- bench/alerts.py's own table ---------------------------------------------------------

ALERTS_RATIO_TARGET = 0.25  # issue 5, as its table states
ALERTS_P99_TARGET_MS = 50.0
LAG_P99_TARGET_S = 1.0
# "name   figure (min..max)   target": two spaces or more between the columns.
_ROW = re.compile(r"^(?P<name>\s*\S.*?)\s{2,}(?P<value>[\d,.]+)(?: \((?P<spread>[^)]*)\))?")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def alerts_figures(table: str) -> list[Figure]:
    """Figures from bench/alerts.py's table (its rows as of issue 5; see its main)."""
    rows: dict[str, tuple[float, str]] = {}
    parent = ""
    for line in table.splitlines():
        match = _ROW.match(line)
        if not match:
            continue
        name = match["name"]
        if not name.startswith(" "):
            parent = name
            key = name
        else:
            key = f"{parent} / {name.strip()}"
        rows[key] = (_number(match["value"]), match["spread"] or "")

    def find(*words: str) -> tuple[str, float, str]:
        for key, (value, spread) in rows.items():
            if all(w in key for w in words):
                return key, value, spread
        raise ValueError(f"no row with {' '.join(words)!r} in bench/alerts.py's table")

    ours_key, ours, ours_spread = find("Sentry intake", "alerts/s")
    if " / " in ours_key:
        raise ValueError("the Sentry intake row is a sub-row")
    am_key, anchor, _ = find("Alertmanager", "alerts/s")
    _, p99, p99_spread = find(ours_key, "p99 latency")
    lag_key, lag_p99, lag_spread = find("processing lag", "p99")
    _, ratio, ratio_spread = find("ratio intake / Alertmanager")  # the median of the runs'
    return [
        Figure(
            name=ours_key.strip().removesuffix(", alerts/s"),
            ours=ours,
            unit="alerts/s",
            anchor=anchor,
            anchor_name=am_key.strip().removesuffix(", alerts/s"),
            ratio=ratio,
            target=f">= {ALERTS_RATIO_TARGET:.2f}",
            passed=ratio >= ALERTS_RATIO_TARGET,
            note=f"median of its runs ({ours_spread}); ratio per run ({ratio_spread})",
        ),
        Figure(
            name="signed Sentry intake, p99 latency under wrk",
            ours=p99,
            unit="ms",
            target=f"<= {ALERTS_P99_TARGET_MS:.0f} ms",
            passed=p99 <= ALERTS_P99_TARGET_MS,
            note=f"({p99_spread})",
            lower_is_better=True,
        ),
        Figure(
            name=lag_key.split(" / ")[0].replace(", p50 s", "") + ", p99",
            ours=lag_p99,
            unit="s",
            target=f"<= {LAG_P99_TARGET_S:.0f} s",
            passed=lag_p99 <= LAG_P99_TARGET_S,
            note=f"({lag_spread})",
            lower_is_better=True,
        ),
    ]


# --- running the benches --------------------------------------------------------------------


@dataclass
class Outcome:
    bench: str
    figures: list[Figure]
    seconds: float
    problem: str = ""  # why there are no figures


def run_bench(bench: Bench, quick: bool, folder: Path) -> Outcome:
    args = (bench.quick if quick else bench.full).split()
    out = folder / f"{bench.name}.json"
    if bench.json:
        args += ["--json", str(out)]
    log_path = folder / f"{bench.name}.log"
    command = [sys.executable, str(ROOT / "bench" / f"{bench.name}.py"), *args]
    began = time.perf_counter()
    with log_path.open("w") as log_file:
        log_file.write(f"$ {' '.join(command)}\n")
        log_file.flush()
        done = subprocess.run(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log_file, text=True, check=False
        )
        log_file.write(done.stdout)
    seconds = time.perf_counter() - began
    try:
        if bench.json:
            if not out.exists():
                raise ValueError(f"exited {done.returncode} without figures")
            return Outcome(bench.name, read_json(out)[1], seconds)
        if done.returncode != 0 and "alerts/s" not in done.stdout:
            raise ValueError(f"exited {done.returncode}")
        return Outcome(bench.name, alerts_figures(done.stdout), seconds)
    except ValueError as exc:
        return Outcome(bench.name, [], seconds, f"{exc} (see {log_path})")


# --- the table ------------------------------------------------------------------------------


def _value(value: float, unit: str) -> str:
    if value >= 100:
        text = f"{value:,.0f}"
    elif value >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if value < 1 else f"{value:.2f}"
    return f"{text} {unit}"


def table_rows(outcomes: list[Outcome]) -> tuple[list[tuple[str, ...]], list[str]]:
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    number = 0
    for outcome in outcomes:
        rows.append((f"{outcome.bench} ({outcome.seconds / 60:.1f} min)", "", "", "", "", ""))
        if outcome.problem:
            rows.append(("  (no figures)", "", "", "", "", "FAIL"))
            notes.append(f"{outcome.bench}: {outcome.problem}")
            continue
        for figure in outcome.figures:
            number += 1
            notes.append(f"[{number}] {figure.note or '-'}")
            anchor = (
                f"{_value(figure.anchor, figure.unit)} ({figure.anchor_name})"
                if figure.anchor is not None
                else "-"
            )
            rows.append(
                (
                    f"  {figure.name} [{number}]",
                    _value(figure.ours, figure.unit),
                    anchor,
                    f"{figure.ratio:.2f}" if figure.ratio is not None else "-",
                    figure.target or "-",
                    verdict(figure),
                )
            )
    return rows, notes


def print_table(outcomes: list[Outcome]) -> None:
    head = ("measure", "this project", "anchor (measured in the same run)", "ratio", "target", "")
    rows, notes = table_rows(outcomes)
    body = [r for r in rows if r[1] or r[5]]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    widths[2] = min(widths[2], 60)

    def line(row: tuple[str, ...]) -> str:
        cells = [
            row[0].ljust(widths[0]),
            row[1].rjust(widths[1]),
            row[2].ljust(widths[2]),
            row[3].rjust(widths[3]),
            row[4].ljust(widths[4]),
            row[5],
        ]
        return " | ".join(cells).rstrip()

    print(line(head))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line(row) if row[1] or row[5] else row[0])
    print("\nnotes")
    for note in notes:
        print(f"  {note}")


def code_version() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--only", help="comma-separated bench names (default: all)")
    args = parser.parse_args(argv)
    chosen = BENCHES
    if args.only:
        names = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = names - {b.name for b in BENCHES}
        if unknown:
            parser.error(f"unknown bench {sorted(unknown)[0]!r}")
        chosen = [b for b in BENCHES if b.name in names]
    folder = ROOT / "var" / "bench" / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    outcomes = []
    for bench in chosen:
        print(f"[{time.strftime('%H:%M:%S')}] bench/{bench.name}.py", file=sys.stderr, flush=True)
        outcomes.append(run_bench(bench, args.quick, folder))
    took = (time.perf_counter() - began) / 60
    print(
        f"intake benchmarks{' (--quick)' if args.quick else ''}, code {code_version()}, "
        f"{len(os.sched_getaffinity(0))} CPUs, load average {os.getloadavg()[0]:.1f} at the "
        f"end; {took:.1f} min; each bench's own table: {folder.relative_to(ROOT)}/NAME.log\n"
    )
    print_table(outcomes)
    figures = [f for o in outcomes for f in o.figures]
    failed = [f for f in figures if f.passed is False] + [o for o in outcomes if o.problem]
    print(f"\nall targets met: {'yes' if not failed else f'NO ({len(failed)} missed)'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
