"""`make bench`'s one table (bench/all.py): bench/alerts.py's table read right, failures shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.all import Outcome, alerts_figures, print_table
from bench.results import Figure, read_json, write_json

# bench/alerts.py's table as its main() prints it (two spaces or more between columns).
ALERTS_TABLE = """
alert intake, commit abc1234, 2 CPUs, wrk -t2 -c50 -d10s, median of 3 runs (min..max)

signed Sentry intake (durable, SQLite), alerts/s                  2,300 (2,100..2,400)
  p50 latency, ms                                                   19.0 (18.0..20.0)
  p99 latency, ms                                                   61.3 (55.0..70.2)  <= 50
  non-2xx or socket errors                                                   0 (0..0)  0
Alertmanager POST /api/v2/alerts (1 alert), alerts/s           11,500 (11,000..12,000)  anchor
  p99 latency, ms                                                    9.0 (8.0..10.0)
ratio intake / Alertmanager, per run                                0.20 (0.18..0.21)  >= 0.25
context: the same with triage in the process (web,worker), alerts/s  1,700 (1,600..1,800)
  p99 latency, ms                                                   80.0 (75.0..90.0)
context: no-op Starlette (reads the body, answers 202), alerts/s   8,000 (7,900..8,100)
  ratio no-op / Alertmanager (the framework's ceiling here)                      0.70
processing lag at 500/s for 10 s, p50 s                           0.020 (0.020..0.030)
  p99 s                                                           0.300 (0.200..0.400)  <= 1
  alerts acknowledged per lag run                                   5,000 (5,000..5,000)
"""


def test_alerts_table_gives_intake_against_alertmanager_latency_and_lag() -> None:
    rate, p99, lag = alerts_figures(ALERTS_TABLE)
    assert (rate.ours, rate.anchor) == (2300, 11500)
    assert rate.ratio == pytest.approx(0.2)  # the median of the runs' ratios, as printed
    assert rate.passed is False  # 0.20 < 0.25
    assert p99.ours == 61.3 and p99.passed is False  # the intake's p99, not Alertmanager's 9.0
    assert lag.ours == 0.3 and lag.passed is True


def test_a_changed_alerts_table_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(ValueError, match="processing lag"):
        alerts_figures(ALERTS_TABLE.split("processing lag")[0])


def test_table_shows_each_verdict_and_a_bench_without_figures_as_fail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    figure = Figure("import per message", 5.5, "ms/msg", 5.0, "at 10,000", 1.1, "<= 1.30", True)
    write_json(tmp_path / "g.json", "pg_growth", [figure])
    assert json.loads((tmp_path / "g.json").read_text())["bench"] == "pg_growth"
    _, read = read_json(tmp_path / "g.json")
    print_table([Outcome("pg_growth", read, 60), Outcome("imap", [], 5, "exited 1")])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "import per message" in line)
    assert "5.50 ms/msg" in row and "5.00 ms/msg" in row and "1.10" in row and "PASS" in row
    assert "(no figures)" in out and "FAIL" in out and "imap: exited 1" in out
