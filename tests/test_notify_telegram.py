"""The Telegram channel through the loopback Bot API server: HTML mode, escaping, 429 honoured."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import telegram

from core import lifecycle
from core.models import now
from core.models_notify import PENDING, SENT
from notify.channel_telegram import TelegramChannel
from notify.delivery import Delivery
from notify.telegram_send import LIMITER
from tests.helpers import tx
from tests.notify_helpers import notify_runtime, outbox

CONFIG = """
[telegram]
token_env = "UNUSED_HERE"  # the test hands the channel its own Bot for the loopback server
[notify]
channel = "send"
[[audience]]
name = "war-room"
telegram = [-100777]
"""


@pytest.fixture
def channel(botapi: Any) -> Any:
    sender = TelegramChannel(telegram.Bot(botapi.token, base_url=botapi.base_url))
    yield sender
    sender.close()


def test_update_goes_to_the_chat_in_html_with_user_text_escaped(
    db_url: str, botapi: Any, channel: TelegramChannel
) -> None:
    rt = notify_runtime(db_url, CONFIG)
    with tx(rt) as session:
        ref = lifecycle.declare(session, "cli:ana", title="DB <b>locks</b> & timeouts").ref
        lifecycle.post_update(session, ref, "Killed the <script>long</script> query", "cli:ana")
    botapi.fail_next("sendMessage", retry_after=1)  # Telegram's flood control: wait and resend
    stats = Delivery(rt, telegram=channel).deliver_due()
    assert stats.sent == 2, stats.errors
    sent = botapi.sent
    assert len(botapi.calls_of("sendMessage")) == 3, "the 429 was answered by sending again"
    assert [m["chat_id"] for m in sent] == [-100777, -100777]
    assert all(m["parse_mode"] == "HTML" for m in sent)
    assert "DB &lt;b&gt;locks&lt;/b&gt; &amp; timeouts" in sent[0]["text"]
    assert "&lt;script&gt;long&lt;/script&gt;" in sent[1]["text"]
    assert f">{ref}</a>" in sent[0]["text"]
    assert [r.state for r in outbox(rt)] == [SENT, SENT]


def test_a_group_at_its_rate_limit_gets_the_rest_later_and_no_worker_outwaits_its_lease(
    db_url: str, botapi: Any, channel: TelegramChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 21 notifications to one group inside a minute: Telegram takes 20. Waiting out the
    # minute would outlast the worker's lease, and another worker would send the same rows.
    rt = notify_runtime(db_url, CONFIG)
    with tx(rt) as session:
        ref = lifecycle.declare(session, "cli:ana", title="Payments failing").ref
        for n in range(20):
            lifecycle.post_update(session, ref, f"update {n}: still failing", "cli:ana")
    stats = Delivery(rt, telegram=channel).deliver_due()
    assert (stats.sent, stats.retried, stats.dead) == (20, 0, 0), stats.errors
    assert len(botapi.sent) == 20
    waiting = outbox(rt, state=PENDING)
    assert len(waiting) == 1 and waiting[0].attempts == 0 and waiting[0].last_error is None
    due_in = waiting[0].next_attempt_at - now()
    assert timedelta(seconds=30) < due_in <= timedelta(seconds=60)  # when the window has room

    later = time.monotonic() + 61  # a minute on: the group has room again
    monkeypatch.setattr(LIMITER, "clock", lambda: later)
    clock = lambda: now() + timedelta(seconds=61)  # noqa: E731
    stats = Delivery(rt, telegram=channel, clock=clock).deliver_due()
    assert stats.sent == 1 and len(botapi.sent) == 21
    assert "update 19" in botapi.sent[-1]["text"]
    assert [r.state for r in outbox(rt)] == [SENT] * 21
