"""Lenient readers for JSON webhook bodies (Sentry, Telegram).

A body is parsed once with json.loads; after that every value is read with
these helpers, which return None (or {}) for a missing value or one of the
wrong type instead of raising, so odd payloads degrade to missing fields.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.report import ParseError

_KINDS = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}


# What PostgreSQL refuses in text and JSON: NUL, and lone surrogates (not UTF-8). Valid JSON
# carries them as \u0000 and \ud800 escapes, and Python's JSON decoder lets through
# UTF-8-encoded surrogates in bytes.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD, so any database can store it."""
    return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text


def _unstorable_float(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _needs_cleaning(tree: Any) -> bool:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _UNSTORABLE.search(node):
                return True
        elif _unstorable_float(node):
            return True
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _clean(tree: dict[str, Any]) -> None:
    """Apply `storable` to every string of a parsed JSON tree, keys included, and turn NaN
    and infinities into None, in place.

    Iterative: a deeply nested body must not turn into a RecursionError here."""
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in list(node):
                value = node.pop(key) if _UNSTORABLE.search(key) else node[key]
                node[storable(key)] = _clean_leaf(value)
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, dict | list):
                    stack.append(value)
                else:
                    node[index] = _clean_leaf(value)


def _clean_leaf(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    return None if _unstorable_float(value) else value


def _null(name: str) -> None:
    return None


def load_object(body: bytes | str | dict[str, Any], what: str) -> dict[str, Any]:
    """The JSON object in `body` (a dict is taken as already parsed); ParseError otherwise.

    Strings come back storable (see `storable`); NaN and Infinity, which Python's decoder
    (and so the webhook routes) accept but JSON and PostgreSQL do not, read as null."""
    if isinstance(body, dict):
        if _needs_cleaning(body):
            try:
                body = copy.deepcopy(body)  # the caller's dict stays as it was
            except RecursionError:
                raise ParseError(f"{what} is nested too deeply") from None
            _clean(body)
        return body
    if not isinstance(body, bytes | bytearray | str):
        raise ParseError(f"{what} must be bytes, str or dict, not {kind(body)}")
    try:
        payload = json.loads(body, parse_constant=_null)
    except json.JSONDecodeError as e:
        if not body.strip():  # checked only on failure: stripping copies the whole body
            raise ParseError("empty body") from None
        raise ParseError(f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except (ValueError, RecursionError) as e:  # bad UTF-8, huge integers, deep nesting
        raise ParseError(f"not JSON: {e}") from None
    if not isinstance(payload, dict):
        raise ParseError(f"{what} is a JSON {kind(payload)}, not an object")
    if isinstance(body, str) or b"\\u" in body or b"\xed" in body:
        _clean(payload)
    return payload


def kind(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    return _KINDS.get(type(value), "number")  # JSON has no other types


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str | None:
    """A string with more than whitespace in it, else None (a blank title is no title)."""
    return value if isinstance(value, str) and value and not value.isspace() else None


def as_id(value: Any) -> str | None:
    """An identifier sent as a number or a string, as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1 << 64:
        return str(value)
    return as_str(value)


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_number(value: Any) -> int | float | None:
    """A finite number from a number or a numeric string; integral floats as int."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, float):
        return (int(value) if value.is_integer() else value) if math.isfinite(value) else None
    return as_int(value)


def as_count(value: Any) -> int | None:
    """A non-negative integer from a number or a numeric string (Sentry's issue `count`)."""
    number = as_number(value)
    return number if isinstance(number, int) and number >= 0 else None


def as_time(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string or a Unix timestamp."""
    try:
        if isinstance(value, str):
            moment = datetime.fromisoformat(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, UTC)
        else:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):  # out-of-range years and timestamps
        return None


def pick(obj: dict[str, Any], keys: str, convert: Callable[[Any], Any]) -> Any:
    """The first of the space-separated keys whose value converts to something."""
    for key in keys.split():
        value = convert(obj.get(key))
        if value is not None:
            return value
    return None
