"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from core.config import ConfigError
from core.runtime import Runtime, open_runtime

_AGO = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def runtime(ctx: click.Context) -> Runtime:
    """The database runtime, opened (and migrated) once per command."""
    root = ctx.find_root()
    root.ensure_object(dict)
    if "runtime" not in root.obj:
        try:
            rt = open_runtime(root.obj.get("config_path"))
        except ConfigError as exc:
            raise click.UsageError(f"config: {exc}") from exc
        before, after = rt.migrated
        if before != after and ctx.info_name != "upgrade":
            click.echo(f"database upgraded from {before or 'empty'} to {after}", err=True)
        root.obj["runtime"] = rt
    runtime_: Runtime = root.obj["runtime"]
    return runtime_


def config_option(ctx: click.Context, path: Path | None) -> None:
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = path


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=str))


def parse_when(text: str) -> datetime:
    """An ISO date/time (UTC if no zone) or an age such as 90m, 2h, 3d, 1w."""
    match = _AGO.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: amount})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date/time (ISO) or an age like 2h") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def actor_name(explicit: str | None) -> str:
    if explicit:
        return explicit
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
