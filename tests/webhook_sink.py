"""A webhook receiver on 127.0.0.1 for tests: checks each POST's signature and records it.

`WebhookSink(secret).start()` serves in a thread of the test process; `.url` is
what an audience's `webhooks = [{ url = ... }]` points at. Every delivery is
kept as `Delivery(id, body, valid)`: `id` is the `X-Intake-Delivery` header (the
outbox row id, the same on every retry), `valid` whether the signature checked
with `notify.channel_webhook.verify`. `.refuse(n, status)` answers the next n
POSTs with `status` (nothing recorded), for retry tests.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from notify.channel_webhook import DELIVERY, SIGNATURE, TIMESTAMP, verify


@dataclass(frozen=True)
class Delivery:
    id: str
    body: bytes
    valid: bool


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that hung up (killed mid-request) is normal here


class WebhookSink:
    def __init__(self, secret: str, path: str = "/hooks/intake") -> None:
        self.secret = secret
        self.path = path
        self.deliveries: list[Delivery] = []
        self._refusals: list[int] = []
        self._lock = threading.Lock()
        self._http = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}{self.path}"

    def start(self) -> WebhookSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def refuse(self, times: int, status: int = 503) -> None:
        with self._lock:
            self._refusals.extend([status] * times)

    def counts(self) -> Counter[str]:
        """How many times each delivery id arrived (signed correctly)."""
        with self._lock:
            return Counter(d.id for d in self.deliveries if d.valid)

    def _record(self, headers: Any, body: bytes) -> int:
        with self._lock:
            if self._refusals:
                return self._refusals.pop(0)
            valid = verify(
                self.secret,
                headers.get(TIMESTAMP, ""),
                body,
                headers.get(SIGNATURE, ""),
            )
            self.deliveries.append(Delivery(headers.get(DELIVERY, ""), body, valid))
        return 200 if valid else 401

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = sink._record(self.headers, body) if self.path == sink.path else 404
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
