"""Webhook (signed JSON POST to a local receiver) and file channels."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from core import lifecycle
from core.models_notify import DEAD, SENT
from notify.channel_webhook import DELIVERY, SIGNATURE, TIMESTAMP, verify
from notify.delivery import Delivery
from tests.helpers import tx
from tests.notify_helpers import notify_runtime, outbox

SECRET = "hook-secret-123"


class Receiver:
    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.rejected = 0
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(SECRET, self.headers[TIMESTAMP], body, self.headers[SIGNATURE])
                if ok:
                    received.accepted.append(
                        {"body": json.loads(body), "id": self.headers[DELIVERY]}
                    )
                else:
                    received.rejected += 1
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_webhook_is_signed_and_verified(
    db_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    config = f"""
[notify]
channel = "send"
[[audience]]
name = "chatops"
webhooks = [{{ url = "{receiver.url}", secret_env = "HOOK_SECRET" }}]
"""
    rt = notify_runtime(db_url, config)
    with tx(rt) as session:
        ref = lifecycle.declare(session, "cli:ana", title="Queue <stuck>").ref
    assert Delivery(rt).deliver_due().sent == 1
    assert receiver.rejected == 0 and len(receiver.accepted) == 1
    body = receiver.accepted[0]["body"]
    assert body["text"].startswith(f"[{ref}] Incident declared: Queue <stuck>")
    assert body["incident"]["ref"] == ref and body["kind"] == "declared"
    assert receiver.accepted[0]["id"] == str(outbox(rt)[0].id)

    monkeypatch.setenv("HOOK_SECRET", "a-wrong-secret")  # the receiver refuses: 401 is permanent
    with tx(rt) as session:
        lifecycle.resolve(session, ref, "cli:ana")
    stats = Delivery(rt).deliver_due()
    assert stats.dead == 1 and receiver.rejected == 1
    assert [r.state for r in outbox(rt)] == [SENT, DEAD]


def test_file_channel_is_the_default(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    config = f"""
[notify]
outbox_dir = "{folder}"
[[audience]]
name = "leads"
emails = ["lead@ourco.example"]
telegram = [-1005]
"""
    rt = notify_runtime(db_url, config)
    assert rt.config.notify.channel == "file"
    with tx(rt) as session:
        ref = lifecycle.declare(session, "cli:ana", title="Printer on fire").ref
    assert Delivery(rt).deliver_due().sent == 2
    files = sorted(p.name for p in folder.iterdir())
    assert [name.rsplit(".", 1)[1] for name in files] == ["eml", "txt"]
    eml = message_from_bytes((folder / files[0]).read_bytes(), policy=default)
    assert eml["To"] == "lead@ourco.example" and f"[{ref}]" in eml["Subject"]
    assert eml["X-Intake-Notification"]
    assert "Printer on fire" in (folder / files[1]).read_text()


def test_delivery_component_runs_until_stopped(tmp_path: Path) -> None:
    import asyncio

    folder = tmp_path / "outbox"
    url = f"sqlite:///{tmp_path}/db.sqlite"
    config = f'[notify]\noutbox_dir = "{folder}"\n[[audience]]\nname = "a"\nemails = ["a@ourco.example"]\n'
    rt = notify_runtime(url, config)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Delivery(rt, idle_seconds=0.05).run(stop))
        await asyncio.sleep(0.1)
        with tx(rt) as session:
            lifecycle.declare(session, "cli:ana", title="While running")
        for _ in range(100):
            if folder.exists() and any(folder.iterdir()):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert [r.state for r in outbox(rt)] == [SENT]
    assert len(list(folder.glob("*.eml"))) == 1
