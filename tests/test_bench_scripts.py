"""Every bench script starts: its imports resolve as `make bench` runs it (`python bench/X.py`).

Run as a script, a bench has bench/ first on sys.path, where bench/telegram.py
would stand in for python-telegram-bot; a script that forgets to take bench/
off the path fails at import, minutes into `make bench`. `--help` imports
everything and stops.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = {"results.py", "corpus.py"}  # imported by the benches, not run
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name not in LIBRARIES)


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_starts(script: str) -> None:
    done = subprocess.run(
        [sys.executable, f"bench/{script}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
