"""`intake run`: start the service with whatever is configured (embedded defaults otherwise)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from functools import partial

import click
import uvloop

from core import run
from core.cli_common import runtime
from core.config_errors import ConfigError
from core.config_secrets import SecretError
from core.runtime import Runtime
from core.service import Component
from core.web.auth import WebStartRefused, check_bind
from core.web.server import WebServer
from core.worker import PipelineWorker
from ingest import imap_components, telegram_bot
from notify import delivery, scheduler
from notify.render import RenderError


def _web(rt: Runtime) -> list[Component]:
    web = rt.config.web
    check_bind(web, web.host)  # anything reachable from outside needs auth: refuse first
    return [WebServer(rt, web.host, web.port)]


def _pipeline(rt: Runtime, threads: int = 1) -> list[Component]:
    return [PipelineWorker.from_runtime(rt, threads=threads)] if threads else []


# Which components each role hosts; areas add theirs here as they land.
BUILDERS: dict[str, list[run.Builder]] = {
    "web": [_web],
    "worker": [_pipeline, delivery.components],
    "poller": [telegram_bot.components, imap_components.components],
    "scheduler": [scheduler.components],
}


# What a component may raise while it is being built from the config.
START_ERRORS = (
    ConfigError,
    SecretError,
    RenderError,
    WebStartRefused,
)


def _roles(only: str | None) -> tuple[str, ...]:
    if not only:
        return run.ROLES
    roles = tuple(r.strip() for r in only.split(",") if r.strip())
    unknown = [r for r in roles if r not in run.ROLES]
    if unknown or not roles:
        raise click.BadParameter(
            f"unknown role {unknown[0] if unknown else only!r}: use {', '.join(run.ROLES)}",
            param_hint="--only",
        )
    return roles


@click.command("run")
@click.option(
    "--only",
    metavar="ROLES",
    help="Run only these roles (comma-separated: web, worker, poller, scheduler), for scale-out.",
)
@click.option("--host", help="Address the web app listens on (overrides [web] host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Web app port (overrides [web] port).")
@click.option(
    "--pipeline-threads",
    default=1,
    show_default=True,
    type=click.IntRange(0, 16),
    help="Threads running triage and grouping in the worker role (PostgreSQL gains from more).",
)
@click.pass_context
def run_command(
    ctx: click.Context,
    only: str | None,
    host: str | None,
    port: int | None,
    pipeline_threads: int,
) -> None:
    """Run the service: web app, pipeline and delivery workers, pollers, scheduler."""
    roles = _roles(only)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "upgraded" is said once below
    rt = runtime(ctx)
    if host is not None or port is not None:
        web = dataclasses.replace(
            rt.config.web,
            host=host or rt.config.web.host,
            port=rt.config.web.port if port is None else port,
        )
        rt.config = dataclasses.replace(rt.config, web=web)
    worker: list[run.Builder] = [partial(_pipeline, threads=pipeline_threads), delivery.components]
    builders = {**BUILDERS, "worker": worker}
    click.echo(f"database: {_safe_url(rt)} (schema {rt.migrated[1]})", err=True)
    try:
        hosted = run.build(rt, roles, builders)
    except START_ERRORS as exc:  # a secret not set, a broken template: say which, no traceback
        rt.engine.dispose()
        raise click.ClickException(f"cannot start: {exc}") from exc
    for component in hosted.components:
        click.echo(f"starting {component.name}", err=True)
    try:
        # uvloop: the event loop's share of each web request is a third of asyncio's.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run.run_host(hosted))
    finally:
        rt.engine.dispose()
    click.echo("stopped", err=True)


def _safe_url(rt: Runtime) -> str:
    # Never print a password that may be part of the URL.
    return rt.engine.url.render_as_string(hide_password=True)
