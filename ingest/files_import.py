"""Walk files, folders, Maildirs and mbox files and yield each input with its natural key.

Nothing is loaded whole: an mbox is read line by line and split at its
"From " separator lines, so a file of 100,000 messages costs one message of
memory at a time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.report import ParseError
from ingest.files import MAX_FILE, classify

INPUT_SUFFIXES = (".eml", ".json", ".msg", ".txt")


@dataclass
class Item:
    source: str
    natural_key: str
    body: bytes
    origin: str  # where it came from, for messages and meta
    content_key: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<?([^>\r\n]+)>?", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def message_id_of(body: bytes) -> str | None:
    """The Message-ID from the header block alone, without parsing the mail."""
    end = _HEADER_END.search(body, 0, 256 * 1024)
    match = _MESSAGE_ID.search(body, 0, end.start() if end else 256 * 1024)
    return match.group(1).strip().decode("ascii", "replace") if match else None


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def item_for(body: bytes, origin: str) -> Item:
    """Classify one input's bytes and give it its natural key."""
    source, payload = classify(body, origin)
    if payload is not None:
        if source == "telegram" and isinstance(payload.get("update_id"), int):
            return Item(source, f"update:{payload['update_id']}", body, origin)
        return Item(source, f"sha256:{digest(body)}", body, origin)
    key = f"sha256:{digest(body)}"
    message_id = message_id_of(body)
    content = f"{message_id}|{digest(body)[:32]}" if message_id else None
    return Item("email", key, body, origin, content_key=content)


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _looks_like_mbox(path: Path) -> bool:
    if path.suffix.lower() == ".mbox":
        return True
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_mbox(path: Path) -> Iterator[tuple[bytes, str]]:
    """Messages of an mbox file, one at a time, with ">From " lines unescaped."""
    lines: list[bytes] = []
    index = 0
    previous_blank = True
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b"From ") and previous_blank:
                if lines:
                    yield _mbox_message(lines), f"{path}#{index}"
                    index += 1
                lines = []
            else:
                if line.startswith(b">From ") or line.startswith(b">>From "):
                    line = line[1:]
                lines.append(line)
            previous_blank = line in (b"\n", b"\r\n")
        if lines:
            yield _mbox_message(lines), f"{path}#{index}"


def _mbox_message(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the blank line that separates messages
    return b"".join(lines)


def _read(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE:
        raise ParseError(f"file is {size} bytes, over the {MAX_FILE} byte limit")
    return path.read_bytes()


def walk(paths: list[Path]) -> Iterator[tuple[Path, bytes | None, str, str | None]]:
    """(path, body, origin, error) for every input under `paths`, in a stable order."""
    for path in paths:
        if path.is_dir():
            if _is_maildir(path):
                for sub in ("new", "cur"):
                    for file in sorted((path / sub).iterdir()):
                        if file.is_file():
                            yield from _one_file(file)
                continue
            for file in sorted(path.iterdir()):
                if file.is_dir() or file.suffix.lower() in (*INPUT_SUFFIXES, ".mbox"):
                    yield from walk([file])
            continue
        yield from _one_file(path)


def _one_file(path: Path) -> Iterator[tuple[Path, bytes | None, str, str | None]]:
    try:
        if _looks_like_mbox(path):
            for body, origin in iter_mbox(path):
                yield path, body, origin, None
            return
        yield path, _read(path), str(path), None
    except (OSError, ParseError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        yield path, None, str(path), f"cannot read: {reason}"
