"""Shared test helpers: where the shared examples and corpora are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.postgres_fixture",
    "tests.dovecot_fixture",
    "tests.smtp_fixture",
    "tests.botapi_fixture",
]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXAMPLES = SHARED / "examples"
CORPORA = SHARED / "corpora"
DATA = ROOT / "tests" / "data"


def require_shared(path: Path) -> Path:
    """The shared folder is outside the project; in CI it must be there."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing (CI needs ../shared beside the checkout)")
        pytest.skip(f"{path} not present on this machine")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that touches the database runs on both SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/intake.db"
    url: str = request.getfixturevalue("postgres_db_url")
    return url
