"""Random config files into the loader: a Config or a ConfigError naming file, key and
reason, never another exception (a traceback at start-up tells an operator nothing).

Seeds are the TOML examples in README.md, read at test time; each draw damages one with
values of every TOML type at random keys, and with keys and sections the loader knows.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from datetime import UTC
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.config import Config, load_config, parse_config
from core.config_errors import ConfigError
from tests.conftest import ROOT
from tests.fuzz_settings import fuzz_settings

_TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)


def readme_documents() -> list[dict[str, Any]]:
    documents = []
    for block in _TOML_BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")):
        try:
            documents.append(tomllib.loads(block))
        except tomllib.TOMLDecodeError:
            continue  # a fragment shown for one key, not a whole file
    return documents


def key_names(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(key_names(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(key_names(value) for value in node))
    return set()


DOCUMENTS = readme_documents()
NAMES = sorted(key_names(DOCUMENTS)) or ["database"]

SCALARS = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, -(2**63)])
    | st.floats()
    | st.sampled_from([math.inf, -math.inf, math.nan, 0.5, 1e300])
    | st.text(max_size=20)
    | st.sampled_from(["", " ", "\x00", "..", "/", "/dev/null", "X" * 5000, "127.0.0.1:0"])
    | st.sampled_from(["postgresql://", "sqlite://", "smtp://:0", "0.0.0.0", "[::]", "-1"])
    | st.datetimes(timezones=st.sampled_from([None, UTC]))
    | st.dates()
    | st.times()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=6,
)


def positions(node: Any) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        keys = list(current) if isinstance(current, dict) else range(len(current))
        for key in keys:
            found.append((current, key))
            if isinstance(current[key], dict | list):
                stack.append(current[key])
    return found


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(DOCUMENTS))) if DOCUMENTS else {}
    for _ in range(draw(st.integers(1, 5))):
        spots = [(node, key) for node, key in positions(document) if isinstance(node, dict)]
        action = draw(st.sampled_from(["replace", "delete", "add", "section"]))
        if action == "section" or not spots:
            document[draw(st.sampled_from(NAMES))] = draw(VALUES)
            continue
        node, key = spots[draw(st.integers(0, len(spots) - 1))]
        if action == "replace":
            node[key] = draw(VALUES)
        elif action == "delete":
            del node[key]
        else:
            node[draw(st.sampled_from(NAMES))] = draw(VALUES)
    return document


def loads_or_config_error(data: dict[str, Any], path: Path) -> Config | None:
    try:
        return parse_config(data, path)
    except ConfigError as exc:
        assert str(path) in str(exc) or "environment" in str(exc), exc
        return None


def test_readme_examples_are_seeds() -> None:
    assert DOCUMENTS, "README.md lost its TOML examples; the config fuzz has no seeds"


@fuzz_settings(200)
@given(documents())
def test_damaged_readme_config(document: dict[str, Any]) -> None:
    loads_or_config_error(document, Path("/etc/intake/intake.toml"))


@fuzz_settings(100)
@given(st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), VALUES, max_size=6))
def test_random_documents(document: dict[str, Any]) -> None:
    loads_or_config_error(document, Path("/etc/intake/intake.toml"))


@fuzz_settings(60)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_file_contents(tmp_path_factory: Any, content: bytes) -> None:
    path = tmp_path_factory.mktemp("config") / "intake.toml"
    path.write_bytes(content)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc), exc
