"""No text we put in a header can add one: random subjects and names, every message re-parsed."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from email.utils import formataddr

from hypothesis import given, settings
from hypothesis import strategies as st

from notify.channel_smtp import Envelope, build_email
from notify.render import Rendered, one_line

TRICKS = st.sampled_from(
    [
        "\r\nBcc: victim@evil.example",
        "\nCc: a@b.example\n",
        "=?utf-8?q?x=0D=0ABcc:_v@evil.example?=",
        "=?utf-8?b?DQpCY2M6IHZAZXZpbC5leGFtcGxl?=",
        "\u2028X-Injected: 1",
        "\x00\x1b[31m",
        "ü" * 80,
        " =?",
        "?= ",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=40), TRICKS), max_size=6).map("".join)
EXPECTED = {
    "from",
    "to",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-intake-notification",
    "x-intake-incident",
    "mime-version",
    "content-type",
}


@settings(max_examples=300, deadline=None)
@given(subject=TEXT, name=TEXT, text=TEXT)
def test_headers_are_exactly_ours(subject: str, name: str, text: str) -> None:
    sender = formataddr((one_line(name, 60), "desk@ourco.example"))
    envelope = Envelope(
        7,
        "declared",
        "lead@ourco.example",
        "<m.7@ourco.example>",
        "<root@ourco.example>",
        incident_ref="INC-3",
    )
    data = build_email(
        sender, "incidents@ourco.example", envelope, Rendered(subject, text, f"<p>{text}</p>")
    )
    message = message_from_bytes(data, policy=default)
    assert {key.lower() for key in message} == EXPECTED
    assert message["To"] == "lead@ourco.example"
    assert message["Bcc"] is None and message["Cc"] is None and message["X-Injected"] is None
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    assert message.get_body(("plain",)).get_content() == text  # the body is carried unchanged
