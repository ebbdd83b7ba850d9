"""The guide's own examples, triaged as labelled, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, require_shared

INTAKE = [sys.executable, "-m", "core.cli"]


def labels() -> dict[str, dict[str, object]]:
    path = require_shared(EXAMPLES / "labels.json")
    return json.loads(path.read_text())


def run_triage(*paths: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [*INTAKE, "triage", "--json", *map(str, paths)], capture_output=True, text=True, check=True
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def rows() -> dict[str, dict[str, object]]:
    names = sorted(labels())
    out = run_triage(*(EXAMPLES / n for n in names))
    return {Path(str(row["path"])).name: row for row in out}


def test_one_line_per_example_in_order(rows: dict[str, dict[str, object]]) -> None:
    assert list(rows) == sorted(labels())


@pytest.mark.parametrize(
    "name",
    sorted(json.loads((EXAMPLES / "labels.json").read_text()))
    if (EXAMPLES / "labels.json").exists()
    else [],
)
def test_example_triaged_as_labelled(name: str, rows: dict[str, dict[str, object]]) -> None:
    label = labels()[name]
    row = rows[name]
    assert row["decision"] == ("incident" if label["incident"] else "not_incident"), row["reason"]
    assert row["quadrant"] == label["quadrant"]
    assert row["types"] == label["types"]
    golden = row["golden"]
    assert isinstance(golden, dict)
    assert set(golden) == {"impact", "urgent", "coordinate", "communicate", "review"}
    for answer in golden.values():
        assert answer["answer"] in (True, False, None)
        if answer["answer"] is not None:
            assert answer["evidence"], answer


def test_contract_fields(rows: dict[str, dict[str, object]]) -> None:
    row = rows["001-checkout-error-single-customer.sentry.json"]
    assert row["source"] == "sentry"
    assert row["title"] == "TypeError: Cannot read properties of undefined (reading 'postcode')"
    assert row["planned"] is False and row["urgent"] is True
    assert row["severity"] in ("SEV1", "SEV2", "SEV3", "SEV4")
    assert row["set_aside"] is None
    assert rows["003-largest-customer-churn-threat.eml"]["source"] == "email"
    assert rows["002-delivery-riders-shortage.telegram.json"]["source"] == "telegram"
