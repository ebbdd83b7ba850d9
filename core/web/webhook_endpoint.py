"""A webhook route as a bare ASGI app: bounded body in, JSON answer out.

Webhooks are the hot path (thousands of signed alerts a second from one
process), and a Starlette request/response round costs more than the rest of
the route together: the middleware stack, the Request and Response objects,
matching every dashboard route. An endpoint here reads the ASGI messages
itself; `core.web.app` sends exact-path POSTs straight to it, and the same
endpoint also sits in the Starlette router (for paths with parameters and
for tests that drive the app in-process).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send

from core.web.http_common import MAX_BODY, Refused

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookRequest:
    headers: Mapping[str, str]  # names in lower case; the first of repeated headers wins
    body: bytes
    path_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, value: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Answer:
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status, body, headers or {})


Handler = Callable[[WebhookRequest], Awaitable[Answer]]
# How a route words a refusal (the events API answers in PagerDuty's shape).
Refusal = Callable[[Refused], Answer]


def plain_refusal(refused: Refused) -> Answer:
    return Answer.json({"error": refused.reason}, refused.status, refused.headers)


class WebhookEndpoint:
    """One webhook route: POST only, body up to `limit` bytes, errors answered in JSON."""

    def __init__(
        self, handler: Handler, refusal: Refusal = plain_refusal, limit: int = MAX_BODY
    ) -> None:
        self.handler = handler
        self.refusal = refusal
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        try:
            if scope["method"] != "POST":
                raise Refused(405, "use POST", {"allow": "POST"})
            body = await read_body(headers, receive, self.limit)
            answer = await self.handler(WebhookRequest(headers, body, scope.get("path_params", {})))
        except Refused as refused:
            answer = self.refusal(refused)
        except Exception:  # nothing was stored (or the store failed): the sender retries
            log.exception("webhook %s failed", scope["path"])
            answer = Answer.json({"error": "internal error"}, 500)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer.body)).encode()),
                    *((k.lower().encode(), v.encode()) for k, v in answer.headers.items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})


async def read_body(headers: Mapping[str, str], receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The whole body, or 413 as soon as it is known to exceed `limit` (never read in full)."""
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, f"Content-Length {declared!r} is not a number")
        if int(declared) > limit:
            raise Refused(413, f"body of {declared} bytes is over the {limit} byte limit")
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: one message holds it all
        if len(body) > limit:
            raise Refused(413, f"body is over the {limit} byte limit")
        return body
    chunks, size = [body], len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refused(400, "the client went away before the body ended")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body is over the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
