"""The Telegram channel through the loopback Bot API server: HTML mode, escaping, 429 honoured."""

from __future__ import annotations

from typing import Any

import pytest
import telegram

from core import lifecycle
from core.models_notify import SENT
from notify.channel_telegram import TelegramChannel
from notify.delivery import Delivery
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
