"""The built-in vocabulary (concept -> language -> phrases), kept as data in vocabulary.toml."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

_FILE = Path(__file__).with_name("vocabulary.toml")
VOCABULARY: dict[str, dict[str, list[str]]] = tomllib.loads(_FILE.read_text(encoding="utf-8"))


def builtin_entries() -> Iterator[tuple[str, str]]:
    for concept, languages in VOCABULARY.items():
        for phrases in languages.values():
            for phrase in phrases:
                yield concept, phrase
