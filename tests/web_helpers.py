"""Shared by the web tests: realistic data through the real pipeline, and form helpers."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette

from core.config import Config, parse_config
from core.config_web import WebConfig, WebUser
from core.pipeline import run_pending
from core.runtime import Runtime
from core.store import store_raw
from core.web.api import api_routes
from core.web.app import create_app
from core.web.auth import hash_password
from core.web.dashboard import dashboard_routes
from core.web.health import health_routes
from core.web.server import uvicorn_config
from ingest.raw import parse_raw
from tests.conftest import DATA
from tests.helpers import open_db, tx

PASSWORD = "correct horse battery staple"
API_TOKEN = "tok-0123456789abcdef0123456789"
XSS_MARK = "window.__xss"
# A title, a text part and an HTML part that would each run a script if rendered as HTML.
XSS_SUBJECT = f'<script>{XSS_MARK}=1</script> checkout down <img src=x onerror="{XSS_MARK}=2">'
XSS_BODY = (
    f"Customers cannot pay, site is down for everyone.\n<script>{XSS_MARK}=3</script>\n"
    f'<a href="javascript:{XSS_MARK}=4">click</a> urgent, outage in production'
)
XSS_HTML = (
    f"<html><body><p>Customers cannot pay, site is down.</p><script>{XSS_MARK}=5</script>"
    f'<img src="x" onerror="{XSS_MARK}=6"><iframe src="javascript:{XSS_MARK}=7"></iframe>'
    "</body></html>"
)
TELEGRAM_UPDATE = {
    "update_id": 900001,
    "message": {
        "message_id": 4242,
        "date": 1760432400,
        "chat": {"id": -1001234567890, "type": "supergroup", "title": "Ops", "username": "opsroom"},
        "from": {"id": 77, "is_bot": False, "first_name": "Lea", "username": "lea_ops"},
        "text": "Checkout is down for all customers since 10:02, payments failing, outage!",
    },
}


def web_config(
    users: bool = False, host: str = "127.0.0.1", base_url: str = "", **extra: object
) -> WebConfig:
    return WebConfig(
        host=host,
        base_url=base_url,
        users=(WebUser("ana", password_hash=hash_password(PASSWORD)),) if users else (),
        **extra,  # type: ignore[arg-type]
    )


def runtime(db_url: str, tmp_path: Path, web: WebConfig | None = None, toml: str = "") -> Runtime:
    """A migrated database and a config: `web`, plus any other sections written as TOML."""
    web = web or web_config()
    web = replace(web, generated_secret_file=tmp_path / "web-secret")
    config = parse_config(tomllib.loads(toml)) if toml else Config()
    return open_db(db_url, replace(config, database_url=db_url, web=web))


def app_for(rt: Runtime) -> Starlette:
    return create_app(rt, [health_routes, api_routes, dashboard_routes])


def client(
    app: Starlette, base_url: str = "http://127.0.0.1", **kwargs: object
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=base_url,
        **kwargs,  # type: ignore[arg-type]
    )


def xss_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@customer.example>"
    msg["To"] = "incidents@ourco.example"
    msg["Subject"] = XSS_SUBJECT
    msg["Message-ID"] = "<xss-1@customer.example>"
    msg["Date"] = "Tue, 14 Oct 2025 09:30:00 +0000"
    msg.set_content(XSS_BODY)
    msg.add_alternative(XSS_HTML, subtype="html")
    return bytes(msg)


def seed(rt: Runtime, broken: bool = True) -> None:
    """Realistic mail (tests/data/realistic-a), Sentry webhooks, a Telegram message from a
    public chat, a mail carrying scripts, and (broken) one input that cannot be parsed."""
    with tx(rt) as session:
        for path in sorted((DATA / "realistic-a").glob("*.eml")):
            store_raw(session, "email", f"file:{path.name}", path.read_bytes())
        for path in sorted((DATA / "realistic-b").glob("*.sentry.json")):
            store_raw(session, "sentry", f"file:{path.name}", path.read_bytes())
        store_raw(session, "telegram", "update:900001", json.dumps(TELEGRAM_UPDATE).encode())
        store_raw(session, "email", "file:xss.eml", xss_mail())
        if broken:
            store_raw(session, "sentry", "file:broken.json", b'{"action": "created", "data": [')
    run_pending(rt.factory, parse_raw, rt.config)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def login(c: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    page = await c.get("/login")
    return await c.post(
        "/login",
        data={"csrf": csrf_of(page.text), "name": "ana", "password": password, "next": "/triage"},
    )


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def require_chromium() -> None:
    """Debian's chromium drives the browser tests; under CI=true it must be there."""
    import os

    import pytest

    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing (Debian package: chromium); CI must run browser tests")
        pytest.skip("chromium not installed (Debian package: chromium)")


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # not the main thread: leave signals alone
        yield


class LiveServer:
    """The web app (dashboard, API, health) under real uvicorn on 127.0.0.1, in a thread."""

    def __init__(self, rt: Runtime) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = _QuietServer(uvicorn_config(app_for(rt), "127.0.0.1", self.port))
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
