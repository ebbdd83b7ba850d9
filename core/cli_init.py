"""`intake init`: write a commented config file to start from."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click


def example_config() -> str:
    return files("core").joinpath("init/intake.toml").read_text(encoding="utf-8")


@click.command("init")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), default="intake.toml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_command(path: Path, force: bool) -> None:
    """Write a commented config file (default intake.toml) with every section explained."""
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(example_config(), encoding="utf-8")
    click.echo(f"wrote {path}: edit it, then run `intake --config {path} run`")
