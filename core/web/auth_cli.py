"""`intake web hash-password`: the argon2 hash to put in `[web] users` (never the password)."""

from __future__ import annotations

import sys

import click

from core.web.auth import hash_password


@click.group("web")
def web_group() -> None:
    """The dashboard's logins."""


@web_group.command("hash-password")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from stdin.")
def hash_password_command(from_stdin: bool) -> None:
    """Print an argon2 hash of a password for [web] users (password_hash, _env or _file)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.UsageError("the password must have at least 8 characters")
    click.echo(hash_password(password))
