"""The `intake` command line."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from core.cli_common import config_option
from core.config import Config, ConfigError, load_config
from core.report import ParseError
from core.runtime import config_path as resolve_config_path
from core.triage.engine import triage
from core.triage.explain import explain, verdict_json
from ingest.files import load_path

INPUT_SUFFIXES = (".eml", ".json", ".msg", ".txt")


# Where each command lives, loaded only when it runs (or for --help): `intake
# triage` should not pay for importing the web app, the bot and the scheduler.
# "module:attribute", or just "module" for a module's COMMANDS list.
LAZY_COMMANDS = {
    "run": "core.cli_run:run_command",
    "init": "core.cli_init:init_command",
    "db": "core.cli_store:db_group",
    "import": "core.cli_store:import_command",
    "process": "core.cli_store:process_command",
    "reprocess": "core.cli_store:reprocess_command",
    "retriage": "core.cli_store:retriage_command",
    "reports": "core.cli_store:reports_command",
    "mailbox": "core.cli_mailbox:mailbox_group",
    "web": "core.web.auth_cli:web_group",
    "telegram": "core.cli_telegram:telegram_group",
    **dict.fromkeys(
        "incidents show declare accept decline merge resolve close severity types update "
        "override".split(),
        "core.cli_incidents",
    ),
    **dict.fromkeys(("outbox", "digest", "notify"), "core.cli_notify"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(_load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


def _load(name: str) -> click.Command:
    module_name, _, attribute = LAZY_COMMANDS[name].partition(":")
    module = importlib.import_module(module_name)
    if attribute:
        command: click.Command = getattr(module, attribute)
        return command
    return next(c for c in module.COMMANDS if c.name == name)


@click.group(cls=LazyGroup)
@click.version_option(package_name="intake")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML config file (default: $INTAKE_CONFIG, else embedded defaults).",
)
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Incident intake and triage."""
    config_option(ctx, config_path)


def _config(path: Path | None) -> Config:
    try:
        return load_config(resolve_config_path(path))
    except ConfigError as exc:
        raise click.UsageError(f"config: {exc}") from exc


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Folders stand for the input files in them, in name order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in INPUT_SUFFIXES))
        else:
            out.append(path)
    return out


@main.command("triage")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, one per line.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML config with [triage] settings.",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def triage_command(
    ctx: click.Context, as_json: bool, config_path: Path | None, paths: tuple[Path, ...]
) -> None:
    """Triage .eml files, Sentry webhook bodies and Telegram updates offline."""
    config = _config(config_path or ctx.obj.get("config_path"))
    failed = False
    for path in _expand(paths):
        try:
            loaded = load_path(path)
        except ParseError as exc:
            failed = True
            if as_json:
                click.echo(json.dumps({"path": str(path), "error": str(exc)}, ensure_ascii=False))
            else:
                click.echo(f"{path}\n  error: {exc}\n", err=False)
            continue
        verdict = triage(loaded.report, config.triage) if loaded.report else None
        if as_json:
            row = verdict_json(str(path), loaded.source, loaded.report, verdict, loaded.ignored)
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(explain(str(path), loaded.source, loaded.report, verdict, loaded.ignored))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
