"""Example counts for the fuzz tests: modest by default (the suite stays fast), fifty times
more with HYPOTHESIS_PROFILE=long, e.g. `HYPOTHESIS_PROFILE=long pytest tests/test_fuzz_*.py`."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples * 50 if LONG else examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
