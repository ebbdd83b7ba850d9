"""The web app as a component of `intake run`: uvicorn on the event loop we share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from core.runtime import Runtime
from core.web.app import create_app
from core.web.coalescing import GatheringHttpToolsProtocol


class _Server(uvicorn.Server):
    # `intake run` owns SIGTERM/SIGINT for every component; uvicorn must not take them.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def uvicorn_config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    """How `intake run` serves the app (tests serve it the same way)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        http=GatheringHttpToolsProtocol,  # a response's head and body in one write
    )


class WebServer:
    name = "web"

    def __init__(self, rt: Runtime, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server = _Server(uvicorn_config(create_app(rt), host, port))

    async def run(self, stop: asyncio.Event) -> None:
        serving = asyncio.create_task(self.server.serve())
        waiting = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if serving in done:  # the server ended by itself, e.g. the port is taken
            waiting.cancel()
            serving.result()
            if not self.server.started:
                raise OSError(f"cannot serve on {self.host}:{self.port}")
            return
        self.server.should_exit = True  # finish in-flight requests, then return
        await serving
