"""Builds the one Starlette app that every HTTP route lives in.

Each area contributes its routes through a provider listed in
`core.web.providers` (webhooks, Telegram webhook mode, dashboard, API,
health): a provider takes the runtime and returns Starlette routes, so areas
grow without touching each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from core.runtime import Runtime
from core.web.webhook_endpoint import WebhookEndpoint

RouteProvider = Callable[[Runtime], Sequence[BaseRoute]]


class IntakeApp(Starlette):
    """Starlette, with exact-path webhook POSTs sent straight to their endpoint.

    Those skip the middleware stack and the router (see core.web.webhook_endpoint);
    everything else, webhook paths with parameters included, goes through Starlette.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(routes=routes)
        self.shortcuts: dict[str, WebhookEndpoint] = {}
        for route in routes:
            endpoint = getattr(route, "endpoint", None)
            if not isinstance(route, Route) or not isinstance(endpoint, WebhookEndpoint):
                continue
            if not route.param_convertors:  # earlier routes win, as in routing
                self.shortcuts.setdefault(route.path, endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.shortcuts.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(rt: Runtime, providers: Sequence[RouteProvider] | None = None) -> IntakeApp:
    """The app with every area's routes (or just `providers`, for a focused test)."""
    if providers is None:
        from core.web.providers import all_providers

        providers = all_providers()
    routes: list[BaseRoute] = []
    for provider in providers:  # earlier providers win on the same path
        routes.extend(provider(rt))
    app = IntakeApp(routes)
    app.state.runtime = rt
    return app
