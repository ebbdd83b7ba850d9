"""The embedded default: each message is written to a folder instead of being sent.

Email becomes an `.eml` file exactly as it would go over SMTP, Telegram a
`.txt` of its HTML text, a webhook its `.json` body. Files are written to a
temporary name and renamed, so a reader never sees half a message; the name
carries the outbox row id, so a retry replaces rather than doubles.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]+")


class FileChannel:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, row_id: int, kind: str, recipient: str, suffix: str, data: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{row_id:08d}-{kind}-{_UNSAFE.sub('_', recipient)[:80]}{suffix}"
        path = self.folder / name
        temporary = self.folder / f".{name}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return path
