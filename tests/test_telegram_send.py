"""The shared sender: 4,096-character splitting that keeps tags whole, RetryAfter, 20/min a group."""

from __future__ import annotations

import asyncio
import html
import re

import pytest
import telegram
from hypothesis import given, settings
from hypothesis import strategies as st

from notify import telegram_send
from notify.chat_rate_limit import ChatBusy, ChatRateLimiter
from notify.telegram_send import escape, send_html, split_html
from tests.botapi_fixture import BotApiServer

_TAG = re.compile(r"<(/?)([a-z-]+)[^>]*>")


def visible(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


def balanced(part: str) -> bool:
    stack: list[str] = []
    for closing, name in _TAG.findall(part):
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


words = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30)
pieces = st.one_of(
    words.map(escape),
    st.sampled_from(["\n", "\n\n", " ", "😬", "&amp;", "&lt;"]),
    st.tuples(st.sampled_from(["b", "i", "code", "u"]), words).map(
        lambda t: f"<{t[0]}>{escape(t[1])}</{t[0]}>"
    ),
    words.map(lambda w: f'<a href="https://example.com/?q=1&amp;r=2">{escape(w)}</a>'),
    st.lists(words, min_size=1, max_size=3).map(
        lambda ws: "<b>" + "\n".join(f"<i>{escape(w)}</i>" for w in ws) + "</b>"
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(pieces, min_size=1, max_size=200), st.integers(min_value=64, max_value=600))
def test_split_parts_fit_keep_tags_whole_and_lose_no_text(chunks: list[str], limit: int) -> None:
    text = "".join(chunks)
    parts = split_html(text, limit)
    for part in parts:
        assert units(part) <= limit
        assert balanced(part), part
        assert "<" not in _TAG.sub("", part)  # no tag cut in half
        assert re.search(r"&[#\w]*$", _TAG.sub("", part).rstrip()) is None or part.endswith(";")
    squash = lambda s: re.sub(r"\s+", "", s)  # noqa: E731  (whitespace at a cut may go)
    assert squash("".join(visible(p) for p in parts)) == squash(visible(text))


def test_long_report_splits_at_paragraphs_and_reopens_tags() -> None:
    paragraph = "<b>" + escape("Customers cannot pay <checkout> & refunds fail. ") * 20 + "</b>"
    text = "\n\n".join([paragraph] * 8)  # ~8 x 1,000 characters
    parts = split_html(text)
    assert len(parts) >= 2
    assert all(len(p) <= 4096 and p.startswith("<b>") and p.endswith("</b>") for p in parts)
    assert sum(p.count("<b>") for p in parts) == 8  # cut between paragraphs, none broken
    assert split_html("short <i>one</i>") == ["short <i>one</i>"]


def test_a_single_long_line_inside_a_tag_is_cut_at_spaces_with_the_tag_reopened() -> None:
    text = "<pre>" + " ".join(["word"] * 3000) + "</pre>"
    parts = split_html(text)
    assert len(parts) == 4
    for part in parts:
        assert part.startswith("<pre>") and part.endswith("</pre>") and len(part) <= 4096
        assert "wor</pre>" not in part


def test_escape_keeps_user_text_as_text() -> None:
    assert escape('<b>hi</b> & "x"') == '&lt;b&gt;hi&lt;/b&gt; &amp; "x"'


def run_send(
    server: BotApiServer, chat_id: int, text: str, **kwargs: object
) -> list[telegram.Message]:
    async def scenario() -> list[telegram.Message]:
        async with telegram.Bot(server.token, base_url=server.base_url) as bot:
            return await send_html(bot, chat_id, text, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(scenario())


def test_retry_after_is_honoured(botapi: BotApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(telegram_send.asyncio, "sleep", sleep)
    botapi.fail_next("sendMessage", retry_after=7)
    botapi.fail_next("sendMessage", retry_after=3)
    sent = run_send(botapi, -100123, "<b>checkout down</b>", reply_to=42)
    assert waits == [7.0, 3.0]
    assert len(botapi.calls_of("sendMessage")) == 3  # two refused, then sent once
    assert len(botapi.sent) == 1 and sent[0].message_id == botapi.sent[0]["message_id"]
    assert botapi.sent[0]["reply_parameters"]["message_id"] == 42


def test_a_long_message_goes_out_in_parts_buttons_on_the_last(botapi: BotApiServer) -> None:
    markup = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("ok", callback_data="t:1:d")]]
    )
    text = "\n".join(f"<i>line {n}</i> " + escape("<x> & y " * 30) for n in range(60))
    run_send(botapi, -100123, text, reply_to=9, reply_markup=markup)
    assert len(botapi.sent) >= 3
    assert all(len(s["text"]) <= 4096 for s in botapi.sent)
    assert "reply_parameters" in botapi.sent[0] and "reply_parameters" not in botapi.sent[1]
    assert "reply_markup" in botapi.sent[-1] and "reply_markup" not in botapi.sent[0]


def test_no_more_than_20_messages_a_minute_to_one_group() -> None:
    now = [1000.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = ChatRateLimiter(clock=lambda: now[0], sleep=sleep)

    async def scenario() -> list[float]:
        times = []
        for _ in range(45):
            await limiter.acquire(-100123)
            times.append(now[0])
            now[0] += 0.5
        for _ in range(5):
            await limiter.acquire(555)  # a private chat: not held back
        return times

    times = asyncio.run(scenario())
    for index in range(len(times) - 20):
        assert times[index + 20] - times[index] >= 60  # any 21 sends span a full minute
    assert times[19] - times[0] < 60  # but the first 20 go at once
    assert len(slept) == 2


def test_a_message_past_the_callers_deadline_is_refused_whole_and_takes_no_place() -> None:
    now = [1000.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = ChatRateLimiter(per_minute=5, clock=lambda: now[0], sleep=sleep)

    async def scenario() -> float:
        await limiter.acquire(-100123, count=3)  # a three-part message takes three places
        now[0] += 10
        with pytest.raises(ChatBusy) as busy:  # three more do not fit before t+60
            await limiter.acquire(-100123, count=3, not_after=now[0] + 30)
        await limiter.acquire(-100123, count=2, not_after=now[0])  # the two left are still free
        return busy.value.wait

    assert asyncio.run(scenario()) == 50.0  # the first message's places free at t+60
