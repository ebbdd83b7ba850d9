"""The acknowledgement reply (issue 4 item 5): once per sender per incident, threaded, tagged."""

from __future__ import annotations

from email import message_from_bytes
from email.parser import BytesHeaderParser
from email.policy import compat32, default
from typing import Any

from core.outbox import ack_target
from core.pipeline import run_pending
from core.store import store_raw
from ingest.raw import parse_raw
from notify.delivery import Delivery
from tests.helpers import mail, tx
from tests.notify_helpers import notify_runtime, outbox, smtp_toml

URGENT = (
    "Hi, the customer portal is down for all of our users since 9:00, we lose orders. "
    "Please escalate, this is critical and everybody is affected."
)


def headers(raw: bytes) -> Any:
    return BytesHeaderParser(policy=compat32).parsebytes(raw, headersonly=True)


def test_ack_once_per_sender_threaded_and_tagged(db_url: str, smtp_server: Any) -> None:
    config = smtp_toml(smtp_server.port) + "[notify]\nack_reply = true\n"
    rt = notify_runtime(db_url, config)
    first = mail("URGENT: portal down", URGENT, message_id="<first@customer.example>")
    with tx(rt) as session:
        store_raw(session, "email", "t:1", first, {})
    run_pending(rt.work, parse_raw, rt.config)
    rows = outbox(rt, kind="ack")
    assert len(rows) == 1 and rows[0].recipient == "ana@customer.example"
    ref = rows[0].context["ref"]
    follow_up = mail(
        f"Re: [{ref}] portal down", "Still down here.", in_reply_to="<first@customer.example>"
    )
    other = mail(f"[{ref}] also broken for us", URGENT, sender="Bo <bo@partner.example>")
    with tx(rt) as session:
        store_raw(session, "email", "t:2", follow_up, {})
        store_raw(session, "email", "t:3", other, {})
    run_pending(rt.work, parse_raw, rt.config)
    assert sorted(r.recipient for r in outbox(rt, kind="ack")) == [
        "ana@customer.example",
        "bo@partner.example",
    ], "Ana's second mail gets no second acknowledgement"
    assert Delivery(rt).deliver_due().sent == 2
    by_rcpt = {
        m.recipients[0]: message_from_bytes(m.data, policy=default) for m in smtp_server.messages
    }
    ack = by_rcpt["ana@customer.example"]
    assert ack["In-Reply-To"] == "<first@customer.example>"
    assert ack["References"] == "<first@customer.example>"
    assert ack["Subject"] == f"Re: URGENT: portal down [{ref}]"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Intake-Notification"]


def test_no_ack_to_automatic_lists_or_ourselves() -> None:
    own = {"incidents@ourco.example"}
    person = mail("Help", "text")
    assert ack_target(headers(person), own) is not None
    for extra in (
        b"Auto-Submitted: auto-replied\n",
        b"Precedence: bulk\n",
        b"Precedence: list\n",
        b"List-Id: <ops.lists.example>\n",
        b"List-Unsubscribe: <mailto:u@lists.example>\n",
        b"X-Intake-Notification: 7; declared\n",
        b"Return-Path: <>\n",
    ):
        assert ack_target(headers(extra + person), own) is None, extra
    ours = mail("Loop?", "text", sender="Desk <incidents@ourco.example>")
    assert ack_target(headers(ours), own) is None
    daemon = mail("x", "y", sender="MAILER-DAEMON@mx.example")
    assert ack_target(headers(daemon), own) is None
