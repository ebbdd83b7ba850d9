"""`intake serve`: the web app (alert webhooks) and the pipeline worker in one process."""

from __future__ import annotations

import asyncio
import logging

import click
import uvloop

from core import run
from core.cli_common import runtime
from core.config_alerts import SecretError
from core.service import Component
from core.web.server import WebServer
from core.worker import PipelineWorker


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--pipeline-threads",
    default=1,
    show_default=True,
    type=click.IntRange(0, 16),
    help="Threads running triage and grouping after each response (0: another process does).",
)
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, pipeline_threads: int) -> None:
    """Receive alerts over HTTP and triage and group them as they arrive."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    rt = runtime(ctx)
    try:
        web = WebServer(rt, host, port)
    except SecretError as exc:
        raise click.UsageError(f"config: {exc}") from exc
    components: list[Component] = [web]
    if pipeline_threads:
        components.append(PipelineWorker.from_runtime(rt, threads=pipeline_threads))
    click.echo(f"listening on http://{host}:{port}", err=True)
    try:
        # uvloop: the event loop's share of each request is a third of asyncio's.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run.run_host(run.Host(components)))
    finally:
        rt.engine.dispose()
    click.echo("stopped", err=True)
