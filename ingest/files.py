"""Read an input file, tell which source it is from, and parse it into a report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.report import ParseError, Report, Source
from ingest.email_parse import parse_email
from ingest.sentry import parse_sentry
from ingest.telegram import parse_update

MAX_FILE = 50 * 1024 * 1024  # larger files are refused, not read into memory


@dataclass
class Loaded:
    source: Source
    report: Report | None  # None: a valid input that carries nothing to triage
    ignored: str = ""  # why nothing was triaged


def detect_json(payload: dict[str, Any]) -> Source:
    if "update_id" in payload:
        return "telegram"
    if "action" in payload and "data" in payload:
        return "sentry"
    if "project" in payload and ("culprit" in payload or "level" in payload or "event" in payload):
        return "sentry"  # the legacy WebHooks plugin shape
    raise ParseError(
        "JSON is neither a Sentry webhook body (with 'action' and 'data') "
        "nor a Telegram Update (with 'update_id')"
    )


def classify(raw: bytes, name: str = "") -> tuple[Source, dict[str, Any] | None]:
    """Which source an input file is from; JSON inputs come back parsed."""
    head = raw.lstrip()[:1]
    if not (name.lower().endswith(".json") or head in (b"{", b"[")):
        return "email", None
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ParseError(f"JSON is a {type(payload).__name__}, not an object")
    return detect_json(payload), payload


def load_bytes(raw: bytes, name: str = "") -> Loaded:
    source, payload = classify(raw, name)
    if payload is not None:
        if source == "telegram":
            report = parse_update(payload)
            why = "" if report else "a Telegram update without message text"
            return Loaded("telegram", report, why)
        report = parse_sentry(payload)
        why = "" if report else "a Sentry installation ping, nothing to triage"
        return Loaded("sentry", report, why)
    return Loaded("email", parse_email(raw))


def load_path(path: Path) -> Loaded:
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise ParseError(f"file is {size} bytes, over the {MAX_FILE} byte limit")
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ParseError("is a directory") from None
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror or exc}") from None
    return load_bytes(raw, path.name)
