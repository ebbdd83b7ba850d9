"""Builds the one Starlette app that every HTTP route lives in.

Each area contributes its routes through a provider in `ROUTE_PROVIDERS`
(webhooks, Telegram webhook mode, dashboard, API, health): a provider takes
the runtime and returns Starlette routes, so areas grow without touching
each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from core.runtime import Runtime

RouteProvider = Callable[[Runtime], Sequence[BaseRoute]]

# Filled in order; earlier providers win on the same path.
ROUTE_PROVIDERS: list[RouteProvider] = []


def create_app(rt: Runtime, providers: Sequence[RouteProvider] | None = None) -> Starlette:
    routes: list[BaseRoute] = []
    for provider in ROUTE_PROVIDERS if providers is None else providers:
        routes.extend(provider(rt))
    app = Starlette(routes=routes)
    app.state.runtime = rt
    return app
