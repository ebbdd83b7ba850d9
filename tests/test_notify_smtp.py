"""Delivery over a real SMTP server (aiosmtpd): MIME, threading, TLS, auth, retries, dead letters."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from core import lifecycle
from core.cli import main
from core.models_notify import DEAD, PENDING, SENT
from ingest.email_parse import parse_email
from notify.delivery import Delivery
from tests.helpers import Clock, tx
from tests.notify_helpers import notify_runtime, outbox, smtp_toml
from tests.smtp_fixture import PASSWORD, USER

AUDIENCE = """
[[audience]]
name = "leads"
emails = ["lead1@ourco.example", "lead2@ourco.example"]
"""


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def declare(rt: Any, title: str = "Portal down", severity: str = "SEV2") -> str:
    with tx(rt) as session:
        return lifecycle.declare(session, "cli:ana", title=title, severity=severity).ref


def test_delivery_mime_threading_and_own_header(db_url: str, smtp_server: Any) -> None:
    rt = notify_runtime(db_url, smtp_toml(smtp_server.port) + AUDIENCE)
    ref = declare(rt, title="Checkout <script>alert(1)</script> down")
    with tx(rt) as session:
        lifecycle.post_update(session, ref, "Rolled back <b>v2.3</b>", "cli:ana")
    stats = Delivery(rt).deliver_due()
    assert stats.sent == 4 and stats.dead == 0
    rows = outbox(rt)
    assert all(r.state == SENT and r.attempts == 1 for r in rows)
    got = {parsed(m.data)["Message-ID"]: (m, parsed(m.data)) for m in smtp_server.messages}
    assert set(got) == {r.message_id for r in rows}, "the Message-ID is the one stored on the row"
    root = rows[0].message_id
    for row in rows:
        received, message = got[row.message_id]
        assert received.recipients == [row.recipient]
        assert message["To"] == row.recipient
        assert message.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in message.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Reply-To"] == "incidents@ourco.example"
        assert message["X-Intake-Notification"].startswith(f"{row.id};")
        assert f"[{ref}]" in message["Subject"]
        html = message.get_body(("html",)).get_content()
        assert "<script>" not in html and "&lt;script&gt;" in html
        text = message.get_body(("plain",)).get_content()
        assert f"/incidents/{ref}" in text
        if row.message_id == root:
            assert message["In-Reply-To"] is None
        else:  # every later mail about the incident threads under the first
            assert message["In-Reply-To"] == root and message["References"] == root
        if row.kind == "update_posted":
            assert "&lt;b&gt;v2.3&lt;/b&gt;" in html and "Rolled back <b>v2.3</b>" in text
        # Email intake recognises our own notification and sets it aside.
        report = parse_email(received.data)
        assert report.set_aside == "own"
    assert Delivery(rt).deliver_due().handled == 0, "nothing is sent twice"


def test_header_injection_in_titles_never_adds_headers(db_url: str, smtp_server: Any) -> None:
    rt = notify_runtime(db_url, smtp_toml(smtp_server.port) + AUDIENCE)
    declare(
        rt, title="Disk full\r\nBcc: victim@evil.example\r\n\r\nbody =?utf-8?q?x=0D=0ACc:_a@b.c?="
    )
    Delivery(rt).deliver_due()
    assert len(smtp_server.messages) == 2
    for received in smtp_server.messages:
        message = parsed(received.data)
        assert message["Bcc"] is None and message["Cc"] is None
        assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
        assert received.recipients in (["lead1@ourco.example"], ["lead2@ourco.example"])


def test_starttls_with_auth_and_the_fixture_certificate(
    db_url: str, smtp_tls_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    cert = smtp_tls_server.cert[0]
    extra = f'username = "{USER}"\npassword_env = "TEST_SMTP_PASSWORD"\nca_file = "{cert}"'
    rt = notify_runtime(db_url, smtp_toml(smtp_tls_server.port, "starttls", extra) + AUDIENCE)
    declare(rt)
    stats = Delivery(rt).deliver_due()
    assert stats.sent == 2, stats.errors
    assert len(smtp_tls_server.messages) == 2
    assert smtp_tls_server.sink.logins == [USER], "one login: the connection is reused"


def test_implicit_tls_refuses_an_unknown_certificate_until_trusted(
    tmp_path: Path, smtp_implicit_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    url = f"sqlite:///{tmp_path}/db.sqlite"
    auth = f'username = "{USER}"\npassword_env = "TEST_SMTP_PASSWORD"'
    rt = notify_runtime(url, smtp_toml(smtp_implicit_server.port, "implicit", auth) + AUDIENCE)
    declare(rt)
    stats = Delivery(rt).deliver_due()
    assert stats.sent == 0 and stats.retried == 2
    assert "CERTIFICATE_VERIFY_FAILED" in stats.errors[0]
    assert smtp_implicit_server.messages == []

    trusted = auth + f'\nca_file = "{smtp_implicit_server.cert[0]}"'
    rt = notify_runtime(url, smtp_toml(smtp_implicit_server.port, "implicit", trusted) + AUDIENCE)
    clock = Clock()
    clock.now = outbox(rt)[0].next_attempt_at  # type: ignore[assignment]
    clock.advance(hours=1)
    assert Delivery(rt, clock=clock).deliver_due().sent == 2
    assert len(smtp_implicit_server.messages) == 2


def test_server_down_then_up_is_delivered_once_with_backoff(db_url: str, smtp_server: Any) -> None:
    rt = notify_runtime(db_url, smtp_toml(smtp_server.port) + AUDIENCE)
    declare(rt)
    clock = Clock()
    clock.now = outbox(rt)[0].created_at
    delivery = Delivery(rt, clock=clock, rng=lambda: 0.5)  # jitter factor 1.0
    smtp_server.stop()
    for attempt in (1, 2, 3):
        stats = delivery.deliver_due()
        assert stats.retried == 2 and stats.sent == 0
        rows = outbox(rt)
        assert all(r.attempts == attempt and r.state == PENDING for r in rows)
        wait = rows[0].next_attempt_at - clock.now  # type: ignore[operator]
        assert wait.total_seconds() == 30 * 2 ** (attempt - 1)
        assert delivery.deliver_due().handled == 0, "nothing is due before the backoff ends"
        clock.now = rows[0].next_attempt_at  # type: ignore[assignment]
    smtp_server.start()
    assert delivery.deliver_due().sent == 2
    assert sorted(m.recipients[0] for m in smtp_server.messages) == [
        "lead1@ourco.example",
        "lead2@ourco.example",
    ]
    clock.advance(days=1)
    assert delivery.deliver_due().handled == 0 and len(smtp_server.messages) == 2


def test_connection_dropped_after_data_duplicates_at_most_once_with_same_id(
    db_url: str, smtp_server: Any
) -> None:
    rt = notify_runtime(db_url, smtp_toml(smtp_server.port) + AUDIENCE)
    declare(rt)
    sink = smtp_server.sink
    original = sink.handle_DATA

    async def accept_then_drop(server: Any, session: Any, envelope: Any) -> str:
        await original(server, session, envelope)
        sink.handle_DATA = original  # only the first message
        server.transport.close()  # the reply is lost: the client cannot know it arrived
        return "250 OK"

    sink.handle_DATA = accept_then_drop
    clock = Clock()
    clock.now = outbox(rt)[0].created_at
    delivery = Delivery(rt, clock=clock, rng=lambda: 0.5)
    delivery.deliver_due()
    clock.advance(hours=1)
    delivery.deliver_due()
    ids = [parsed(m.data)["Message-ID"] for m in smtp_server.messages]
    assert len(ids) == 3, "one duplicate of the dropped message, the other once"
    assert len(set(ids)) == 2
    assert all(r.state == SENT for r in outbox(rt))


def test_attempt_cap_dead_letters_then_cli_lists_and_resends(
    tmp_path: Path, smtp_server: Any
) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    toml = f'[database]\nurl = "{url}"\n[notify]\nattempts = 3\n' + smtp_toml(smtp_server.port)
    toml += AUDIENCE
    config_file = tmp_path / "intake.toml"
    config_file.write_text(toml)
    rt = notify_runtime(url, toml, config_file)
    declare(rt)
    clock = Clock()
    clock.now = outbox(rt)[0].created_at
    delivery = Delivery(rt, clock=clock)
    smtp_server.refuse(6, 451)
    for _ in range(3):
        delivery.deliver_due()
        clock.advance(hours=2)
    rows = outbox(rt)
    assert [r.state for r in rows] == [DEAD, DEAD]
    assert all(r.attempts == 3 and "451" in (r.last_error or "") for r in rows)

    runner = CliRunner()
    listed = runner.invoke(main, ["--config", str(config_file), "outbox", "--dead"])
    assert listed.exit_code == 0, listed.output
    assert "lead1@ourco.example" in listed.output and "451" in listed.output
    resent = runner.invoke(main, ["--config", str(config_file), "outbox", "resend", "--dead"])
    assert resent.exit_code == 0, resent.output
    assert "2" in resent.output
    sent = runner.invoke(main, ["--config", str(config_file), "notify", "deliver", "--once"])
    assert sent.exit_code == 0, sent.output
    assert [r.state for r in outbox(rt)] == [SENT, SENT]
    assert len(smtp_server.messages) == 2


def test_permanent_refusal_is_dead_at_once(db_url: str, smtp_server: Any) -> None:
    rt = notify_runtime(db_url, smtp_toml(smtp_server.port) + AUDIENCE)
    declare(rt)
    smtp_server.refuse(1, 554)
    stats = Delivery(rt).deliver_due()
    assert stats.dead == 1 and stats.sent == 1
    dead = outbox(rt, state=DEAD)
    assert len(dead) == 1 and dead[0].attempts == 1 and "554" in (dead[0].last_error or "")


def test_two_workers_share_the_outbox_and_send_each_message_once(
    db_url: str, smtp_server: Any
) -> None:
    import threading

    many = "\n".join(
        ["[[audience]]", 'name = "all"', "emails = ["]
        + [f'  "user{i}@ourco.example",' for i in range(40)]
        + ["]"]
    )
    rt = notify_runtime(db_url, smtp_toml(smtp_server.port) + many)
    declare(rt)
    workers = [Delivery(rt, batch=5), Delivery(rt, batch=5)]
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda w=w: results.append(w.deliver_due().sent)) for w in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 40
    ids = [parsed(m.data)["Message-ID"] for m in smtp_server.messages]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert all(r.state == SENT for r in outbox(rt))
