"""Hypothesis strategies for 'whatever JSON arrives' tests of the webhook parsers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

# Values of every wrong type, to put where a payload expects something else.
WRONG: list[Any] = [None, True, 0, -1, 2**70, 1e308, float("nan"), "", "x", [], {}, [[]], [None]]
ODD = st.sampled_from(WRONG).map(copy.deepcopy)  # fresh lists and dicts for every draw


def keys_of(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(keys_of(value) for value in node.values()))
    return set().union(*(keys_of(value) for value in node)) if isinstance(node, list) else set()


def json_like(seeds: list[Path]) -> st.SearchStrategy[Any]:
    """Random JSON whose object keys are mostly the seeds' real key names, so it looks
    like the payloads it imitates."""
    names = sorted(set().union(*(keys_of(json.loads(seed.read_bytes())) for seed in seeds)))
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(names) | st.text(max_size=8), inner, max_size=5)
        ),
        max_leaves=8,
    )
