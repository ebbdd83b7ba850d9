"""XOAUTH2: Dovecot validates the access token at a local introspection endpoint (RFC 7662)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from core.config_email import Secret
from ingest.imap_session import MailboxError, connect, disconnect
from tests.dovecot_fixture import mailbox_for, running_dovecot
from tests.helpers import mail

TOKENS: dict[str, str] = {}  # access token -> the user it was issued to


class Introspection(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        token = (form.get("token") or [""])[0]
        user = TOKENS.get(token)
        body = {"active": "true", "username": user} if user else {"active": "false"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def introspection_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Introspection)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/introspect"
    server.shutdown()


def test_xoauth2_logs_in_with_a_valid_token_and_not_with_another(
    introspection_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_dovecot(introspection_url=introspection_url) as server:
        user = server.add_user()
        TOKENS["ya29.good-token"] = user.name
        user.append(mail("via oauth", "read with an access token"))
        monkeypatch.setenv("IMAP_TOKEN", "ya29.good-token")
        box = mailbox_for(
            user,
            tmp_path,
            tls="implicit",
            port=server.tls_port,
            ca_file=server.ca_file,
            oauth2=True,
            secret=Secret(env="IMAP_TOKEN"),
        )
        client = connect(box)
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
        disconnect(client)

        monkeypatch.setenv("IMAP_TOKEN", "ya29.revoked")
        with pytest.raises(MailboxError, match=f"refused for user '{user.name}'"):
            connect(box)
