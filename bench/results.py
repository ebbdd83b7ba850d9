"""One shape for every bench's figures, so bench/all.py can put them in one table.

A bench run with `--json FILE` writes `{"bench": NAME, "measures": [Figure, ...]}` there,
besides printing its own table as before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    name: str  # what was measured, with its conditions
    ours: float  # this project's figure
    unit: str  # of `ours` and `anchor`: "msg/s", "ms", ...
    anchor: float | None = None  # the comparison measured in the same run, if any
    anchor_name: str = ""
    ratio: float | None = None  # as the target reads it (usually ours / anchor)
    target: str = ""  # e.g. ">= 0.50", "<= 1.30"; empty: no target, shown for information
    passed: bool | None = None  # None when there is no target
    note: str = ""  # spread, sizes: what a reader needs to trust the figure
    lower_is_better: bool = False


def verdict(measure: Figure) -> str:
    if measure.passed is None:
        return "info"
    return "PASS" if measure.passed else "FAIL"


def write_json(path: Path, bench: str, measures: list[Figure]) -> None:
    path.write_text(json.dumps({"bench": bench, "measures": [asdict(m) for m in measures]}))


def read_json(path: Path) -> tuple[str, list[Figure]]:
    data: dict[str, Any] = json.loads(path.read_text())
    return str(data["bench"]), [Figure(**m) for m in data["measures"]]
