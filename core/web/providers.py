"""Which areas contribute routes to the web app, in order (one line each)."""

from __future__ import annotations

from core.web.app import RouteProvider


def all_providers() -> list[RouteProvider]:
    # Imported here so that building the app is the only thing that loads every area.
    providers: list[RouteProvider] = []
    return providers
