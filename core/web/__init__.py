"""The web app: webhooks, REST API, dashboard, health and metrics (one Starlette app)."""
