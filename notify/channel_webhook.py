"""Webhooks: a JSON POST signed with HMAC-SHA256 over the timestamp and the body.

Headers: `X-Intake-Timestamp` (Unix seconds), `X-Intake-Signature`
(`sha256=<hex of HMAC(secret, "<timestamp>.<body>")>`) and `X-Intake-Delivery`
(the outbox row id, the same on every retry, for the receiver to drop
duplicates). The body always has a Slack-compatible `text` field.
A receiver checks with `verify`, which rejects stale timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from notify.channel_smtp import PermanentError

TIMESTAMP, SIGNATURE, DELIVERY = "X-Intake-Timestamp", "X-Intake-Signature", "X-Intake-Delivery"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    if age > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookChannel:
    def __init__(self, transport: httpx.BaseTransport | None = None, timeout: float = 15.0) -> None:
        self.client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def send(self, url: str, secret: str, body: str, row_id: int) -> None:
        data = body.encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP: timestamp,
            SIGNATURE: sign(secret, timestamp, data),
            DELIVERY: str(row_id),
            "User-Agent": "intake-notify",
        }
        response = self.client.post(url, content=data, headers=headers)
        if response.is_success:
            return
        detail = f"{url} answered {response.status_code}: {response.text[:200]!r}"
        if 400 <= response.status_code < 500 and response.status_code not in (408, 425, 429):
            raise PermanentError(detail)
        raise RuntimeError(detail)

    def close(self) -> None:
        self.client.close()
