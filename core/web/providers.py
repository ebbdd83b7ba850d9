"""Which areas contribute routes to the web app, in order (one line each)."""

from __future__ import annotations

from importlib import import_module

from core.web.app import RouteProvider


def all_providers() -> list[RouteProvider]:
    # Imported here so that building the app is the only thing that loads every area.
    providers: list[RouteProvider] = []
    providers.append(import_module("core.web.webhooks").alert_routes)  # alert intake
    providers.append(import_module("core.web.health").health_routes)  # /healthz /readyz /metrics
    providers.append(import_module("core.web.api").api_routes)  # REST API under /api/v1
    providers.append(import_module("core.web.dashboard").dashboard_routes)  # pages, login
    providers.append(import_module("ingest.telegram_webhook").telegram_routes)  # bot webhook
    return providers
