"""Pytest plugin: a loopback Telegram Bot API server speaking the methods the bot uses (issue 6).

A real HTTP server on 127.0.0.1 (a thread in the test process) answering
`/bot<TOKEN>/<method>` with JSON, urlencoded or multipart bodies, in Telegram's
shapes: `{"ok": true, "result": ...}` or `{"ok": false, "error_code": ...,
"description": ..., "parameters": {"retry_after": n}}`. python-telegram-bot
talks to it through `base_url=server.base_url`.

Fixture `botapi` gives a `BotApiServer`:

- `.base_url`, `.token`, `.bot_user` (what getMe answers)
- `.push_update(dict) -> int`: queue an Update (an `update_id` is given if missing)
- `.sent`: every sendMessage call's parameters (decoded), in order; `.calls`: every call
  as (method, params); `.edits`, `.answers`: editMessageText/-ReplyMarkup and
  answerCallbackQuery calls
- `.fail_next(method, retry_after=None, status=429)`: the next call of `method` fails
  (429 with `parameters.retry_after`, or a 5xx when `status` is 500..599)
- `.offsets`: the `offset` of every getUpdates call; `.confirmed`: the highest
  update_id a getUpdates offset has confirmed
- `.wait_for(predicate, timeout)`: poll until predicate() is true

getUpdates follows Telegram: updates below `offset` are confirmed and dropped for
good; the rest are returned (up to `limit`), waiting up to `timeout` seconds for one.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

TOKEN = "123456:TEST-loopback-token"
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Intake",
    "username": "intake_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


def _decode(value: Any) -> Any:
    """Form fields carry JSON for objects and numbers; plain text stays text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid long poll (the bot stopping) is normal


class BotApiServer:
    def __init__(self, token: str = TOKEN, bot_user: dict[str, Any] | None = None) -> None:
        self.token = token
        self.bot_user = dict(bot_user or BOT_USER)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.offsets: list[int | None] = []
        self.confirmed = 0
        self.webhook: dict[str, Any] | None = None
        self._updates: list[dict[str, Any]] = []
        self._failures: dict[str, list[tuple[int, int | None]]] = {}
        self._last_update = 0
        self._next_message = itertools.count(1000)
        self._cond = threading.Condition()
        self._http = _QuietServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> BotApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._http.shutdown()
        self._http.server_close()

    # --- what tests do ---------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        with self._cond:
            if "update_id" not in update:  # numbered after every update seen so far
                update = {"update_id": self._last_update + 1, **update}
            self._last_update = max(self._last_update, int(update["update_id"]))
            self._updates.append(update)
            self._cond.notify_all()
            return int(update["update_id"])

    def pending_updates(self) -> int:
        with self._cond:
            return len(self._updates)

    def fail_next(self, method: str, retry_after: int | None = None, status: int = 429) -> None:
        with self._cond:
            self._failures.setdefault(method, []).append((status, retry_after))

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        with self._cond:
            return [params for name, params in self.calls if name == method]

    @staticmethod
    def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
            time.sleep(0.01)

    # --- the Bot API ---------------------------------------------------------------

    def _call(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._cond:
            self.calls.append((method, params))
            failures = self._failures.get(method)
            if failures:
                status, retry_after = failures.pop(0)
                if status == 429:
                    return 429, {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {retry_after}",
                        "parameters": {"retry_after": retry_after or 1},
                    }
                return status, {"ok": False, "error_code": status, "description": "Bad Gateway"}
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        result = handler(params)
        if isinstance(result, tuple):
            return result
        return 200, {"ok": True, "result": result}

    def _error(self, description: str, code: int = 400) -> tuple[int, dict[str, Any]]:
        return code, {"ok": False, "error_code": code, "description": description}

    def _m_getme(self, params: dict[str, Any]) -> Any:
        return self.bot_user

    def _m_getupdates(self, params: dict[str, Any]) -> Any:
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self.webhook:
                return self._error("Conflict: can't use getUpdates while webhook is active", 409)
            self.offsets.append(offset)
            if offset is not None:
                offset = int(offset)
                self.confirmed = max(self.confirmed, offset - 1)
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)
            return [dict(u) for u in self._updates[:limit]]

    def _message(self, params: dict[str, Any], message_id: int | None = None) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        message: dict[str, Any] = {
            "message_id": message_id or next(self._next_message),
            "from": {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": {
                "id": chat_id,
                "type": "supergroup" if str(chat_id).startswith("-") else "private",
            },
            "date": int(time.time()),
            "text": params.get("text", ""),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        text = params.get("text")
        if not params.get("chat_id") or not isinstance(text, str) or not text.strip():
            return self._error("Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error("Bad Request: message is too long")
        message = self._message(params)
        with self._cond:
            self.sent.append({**params, "message_id": message["message_id"]})
        return message

    def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        if len(str(params.get("text", ""))) > 4096:
            return self._error("Bad Request: MESSAGE_TOO_LONG")
        with self._cond:
            self.edits.append(params)
        return self._message(params, int(params["message_id"]))

    def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self.edits.append(params)
        return self._message(params, int(params["message_id"]))

    def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self.answers.append(params)
        return True

    def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    def _m_setmycommands(self, params: dict[str, Any]) -> Any:
        return True

    def _m_getwebhookinfo(self, params: dict[str, Any]) -> Any:
        url = (self.webhook or {}).get("url", "")
        return {"url": url, "has_custom_certificate": False, "pending_update_count": 0}

    # --- HTTP ----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _params(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                kind = self.headers.get("Content-Type", "")
                if kind.startswith("application/json"):
                    data = json.loads(body or b"{}")
                    return dict(data)
                if kind.startswith("multipart/form-data"):
                    head = f"Content-Type: {kind}\r\n\r\n".encode()
                    message = BytesParser(policy=HTTP).parsebytes(head + body)
                    fields = {}
                    for part in message.iter_parts():
                        name = part.get_param("name", header="content-disposition")
                        payload = part.get_payload(decode=True) or b""
                        fields[str(name)] = _decode(payload.decode())
                    return fields
                query = body.decode() if body else self.path.partition("?")[2]
                return {k: _decode(v) for k, v in parse_qsl(query)}

            def _serve(self) -> None:
                path = self.path.partition("?")[0]
                prefix = f"/bot{server.token}/"
                if not path.startswith(prefix):
                    status, reply = (
                        401,
                        {"ok": False, "error_code": 401, "description": "Unauthorized"},
                    )
                    self._params()
                else:
                    status, reply = server._call(path[len(prefix) :], self._params())
                data = json.dumps(reply).encode()
                self.send_response(status, HTTPStatus(status).phrase)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _serve
            do_GET = _serve

        return Handler


@pytest.fixture
def botapi() -> Iterator[BotApiServer]:
    from notify.telegram_send import LIMITER

    LIMITER.reset()  # a fresh Telegram: no messages sent to any chat yet
    server = BotApiServer().start()
    try:
        yield server
    finally:
        server.stop()
