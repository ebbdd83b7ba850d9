"""Where a password, token or key lives: an environment variable or a file, read when needed.

Config keeps only the place (`*_env` or `*_file`), never the value, so a
secret is never printed with the config or logged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


class SecretError(Exception):
    """A configured secret cannot be read now (unset variable, unreadable or empty file)."""


@dataclass(frozen=True)
class Secret:
    env: str | None = None
    file: Path | None = None
    where: str = ""  # the config key that named it, for error messages

    def _fail(self, reason: str) -> SecretError:
        return SecretError(f"{self.where}: {reason}" if self.where else reason)

    def read(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise self._fail(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise self._fail(f"cannot read {self.file}: {exc.strerror or exc}") from exc
        if not value:
            raise self._fail(f"{self.file} is empty")
        return value

    def read_named(self) -> dict[str, str]:
        """Several secrets in one: "name=value" items, one a line or comma-separated.

        A bare value is named by its position (key1, key2...), so the name a
        stored message carries never reveals the secret.
        """
        named: dict[str, str] = {}
        items = [i.strip() for i in re.split(r"[\n,]", self.read()) if i.strip()]
        for index, item in enumerate(items, 1):
            name, sep, value = item.partition("=")
            if not sep:
                name, value = f"key{index}", item
            if not value.strip():
                raise self._fail(f"item {name.strip()!r} has no value")
            named[name.strip()] = value.strip()
        return named
