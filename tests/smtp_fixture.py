"""Pytest plugin: aiosmtpd SMTP sink (issue 7).

Fixtures:

- ``smtp_server``: a plain SMTP server on 127.0.0.1 collecting every message
  (``server.messages``: envelope sender, recipients, raw bytes).
- ``smtp_tls_server``: STARTTLS required, AUTH (``intake`` / ``s3cret``) only after
  TLS, with a self-signed certificate for 127.0.0.1 (``server.cert`` is its PEM).
- ``smtp_implicit_server``: the same over implicit TLS (SMTPS).
- ``smtp_cert``: (cert, key) paths of the self-signed certificate (session).

``server.refuse(n, code)`` answers the next n DATA commands with ``code`` (451: try
later; 554: permanent); ``server.stop()`` / ``server.start()`` take it down and bring
it back on the same port (connection refused meanwhile).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "intake", "s3cret"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes


class Sink:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.refusals: list[int] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refusals:
                code = self.refusals.pop(0)
                return f"{code} {'4.3.0 try again later' if code < 500 else '5.7.1 refused'}"
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 OK"


def _authenticator(sink: Sink) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        if isinstance(auth_data, LoginPassword):
            ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
            if ok:
                sink.logins.append(USER)
            return AuthResult(success=ok)
        return AuthResult(success=False)

    return check


class SmtpServer:
    def __init__(self, mode: str = "plain", cert: tuple[Path, Path] | None = None) -> None:
        self.mode = mode
        self.cert = cert
        self.sink = Sink()
        self.port = 0
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[Received]:
        return self.sink.messages

    def _context(self) -> ssl.SSLContext:
        assert self.cert is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        return context

    def start(self) -> None:
        if not self.port:  # aiosmtpd's readiness check cannot use port 0
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
        kwargs: dict[str, Any] = {}
        if self.mode == "starttls":
            kwargs = {
                "tls_context": self._context(),
                "require_starttls": True,
                "authenticator": _authenticator(self.sink),
                "auth_require_tls": True,
            }
        elif self.mode == "implicit":
            kwargs = {"ssl_context": self._context(), "authenticator": _authenticator(self.sink)}
            kwargs["auth_require_tls"] = False  # the whole connection is TLS already
        controller = Controller(
            self.sink, hostname="127.0.0.1", port=self.port, server_hostname="127.0.0.1", **kwargs
        )
        controller.start()
        self.controller = controller

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def refuse(self, times: int, code: int = 451) -> None:
        with self.sink.lock:
            self.sink.refusals.extend([code] * times)


def _serve(mode: str, cert: tuple[Path, Path] | None = None) -> Iterator[SmtpServer]:
    server = SmtpServer(mode, cert)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("smtp-cert")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from _serve("plain")


@pytest.fixture
def smtp_tls_server(smtp_cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    yield from _serve("starttls", smtp_cert)


@pytest.fixture
def smtp_implicit_server(smtp_cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    yield from _serve("implicit", smtp_cert)
