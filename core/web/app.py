"""Builds the one Starlette app that every HTTP route lives in.

Each area contributes its routes through a provider listed in
`core.web.providers` (webhooks, Telegram webhook mode, dashboard, API,
health): a provider takes the runtime and returns Starlette routes, so areas
grow without touching each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from core.runtime import Runtime

RouteProvider = Callable[[Runtime], Sequence[BaseRoute]]


def create_app(rt: Runtime, providers: Sequence[RouteProvider] | None = None) -> Starlette:
    """The app with every area's routes (or just `providers`, for a focused test)."""
    if providers is None:
        from core.web.providers import all_providers

        providers = all_providers()
    routes: list[BaseRoute] = []
    for provider in providers:  # earlier providers win on the same path
        routes.extend(provider(rt))
    app = Starlette(routes=routes)
    app.state.runtime = rt
    return app
