"""Telegram Update objects -> reports: examples, message kinds, corpus files, malformed input."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.report import Attachment, ParseError, Report
from ingest.telegram import FIELD_KEYS, parse_update
from tests.conftest import SHARED
from tests.json_fuzz import ODD, WRONG, json_like

DATA = Path(__file__).parent / "data" / "telegram"
EXAMPLES = SHARED / "examples"
CORPUS = SHARED / "corpora" / "telegram_types" / "res"


def shared(path: Path) -> Path:
    """../shared lives beside the checkout; under CI=true it must be there."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing (CI needs ../shared beside the checkout)")
        pytest.skip(f"{path} not present on this machine")
    return path


def test_missing_shared_folder_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        shared(tmp_path / "absent")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        shared(tmp_path / "absent")


def parse(path: Path) -> Report:
    report = parse_update(path.read_bytes())
    assert isinstance(report, Report)
    assert report.source == "telegram"
    assert set(report.fields) == set(FIELD_KEYS)
    return report


def own(name: str) -> Report:
    return parse(DATA / name)


# --- the guide's examples ------------------------------------------------------------------

EXAMPLE_FILES = {  # file: (reporter, address, chat title, mentions, hashtags)
    "002-delivery-riders-shortage.telegram.json": (
        "Maya Okafor (@maya_ops)",
        "@maya_ops",
        "Ops · London Dispatch",
        ["@sam_dispatch"],
        [],
    ),
    "005-support-wrong-customer-data.telegram.json": (
        "Nadia Petrova (@nadia_support)",
        "@nadia_support",
        "Support Team Leads",
        ["@aisha_sec"],
        [],
    ),
    "008-dropped-glass-office.telegram.json": (
        "Ella Morris (@ella_m)",
        "@ella_m",
        "Tidewell London Office",
        [],
        [],
    ),
    "010-sprint-planned-work.telegram.json": (
        "Chris Doyle (@cdoyle)",
        "@cdoyle",
        "Eng · Platform",
        [],
        ["#sprint42"],
    ),
}


def test_every_telegram_example_is_covered() -> None:
    assert {p.name for p in shared(EXAMPLES).glob("*.telegram.json")} == set(EXAMPLE_FILES)


@pytest.mark.parametrize("name", sorted(EXAMPLE_FILES))
def test_examples(name: str) -> None:
    reporter, address, chat_title, mentions, hashtags = EXAMPLE_FILES[name]
    raw = json.loads(shared(EXAMPLES / name).read_bytes())
    report = parse(EXAMPLES / name)
    message = raw["message"]
    chat_id, message_id = message["chat"]["id"], message["message_id"]
    assert (report.reporter, report.reporter_address) == (reporter, address)
    assert report.text == message["text"]
    assert report.text.startswith(report.title.rstrip("…"))
    assert len(report.title) <= 100
    assert report.message_id == f"{chat_id}:{message_id}"
    assert report.fingerprint == f"telegram:{chat_id}:{message_id}"
    assert report.sent_at == datetime.fromtimestamp(message["date"], UTC)
    fields = report.fields
    assert (fields["mentions"], fields["hashtags"], fields["chat_title"]) == (
        mentions,
        hashtags,
        chat_title,
    )
    assert (fields["update_id"], fields["chat_id"], fields["message_id"]) == (
        raw["update_id"],
        chat_id,
        message_id,
    )
    assert (fields["chat_type"], fields["from_is_bot"], fields["edited"]) == (
        "supergroup",
        False,
        False,
    )


def test_emoji_before_a_mention_shifts_code_points_but_not_utf16_offsets() -> None:
    """The 😬 in example 005 is one code point but two UTF-16 units."""
    raw = json.loads(
        shared(EXAMPLES / "005-support-wrong-customer-data.telegram.json").read_bytes()
    )
    entity = raw["message"]["entities"][0]
    naive = raw["message"]["text"][entity["offset"] : entity["offset"] + entity["length"]]
    assert naive != "@aisha_sec"  # reading offsets as code points would get this wrong
    assert parse_update(raw).fields["mentions"] == ["@aisha_sec"]  # type: ignore[union-attr]


# --- message kinds (project-written updates) -----------------------------------------------


def test_command_with_botname_and_emoji_before_every_entity() -> None:
    report = own("command_with_botname.json")
    fields = report.fields
    assert fields["commands"] == ["/incident"]
    assert fields["command_args"].startswith("🔥🔥 Payments API returning 502")
    assert fields["mentions"] == ["@dev_oncall", "@Priya_R"]
    assert fields["hashtags"] == ["#payments", "#sev2"]
    assert report.title.startswith("🔥🔥 Payments API")  # the command is not the title
    assert report.text.startswith("/incident@tidewell_intake_bot ")
    assert (report.reporter, report.reporter_address) == ("Tom Becker (@TomBecker)", "@tombecker")
    assert report.title == fields["command_args"]


def test_command_without_botname_in_a_private_chat() -> None:
    report = own("command_private.json")
    fields = report.fields
    assert fields["commands"] == ["/incident"]  # "/Incident" as typed
    assert fields["command_args"].startswith("checkout is down for everyone 😱\nsince 14:05")
    assert report.title == "checkout is down for everyone 😱"
    assert fields["urls"] == ["https://status.tidewell.io"]
    assert (fields["chat_type"], fields["chat_title"]) == ("private", None)
    assert report.message_id == "5811220934:77"


def test_edited_message_is_dated_by_its_edit() -> None:
    report = own("edited_message.json")
    assert report.fields["edited"] is True
    assert report.sent_at == datetime.fromtimestamp(1743690245, UTC)
    assert report.title == "Correction: it's the EU region only 🇪🇺, US traffic is fine"


def test_reply_joins_the_replied_message() -> None:
    report = own("reply_to_bot.json")
    fields = report.fields
    assert report.in_reply_to == "-1002233445566:4412"
    assert report.references == ["-1002233445566:4412"]
    assert report.fingerprint == "telegram:-1002233445566:4412"
    assert report.message_id == "-1002233445566:4415"
    assert fields["reply_to_message_id"] == 4412
    assert fields["reply_to_text"].startswith("Is this affecting customers?")
    assert fields["reply_to_from"] == "Tidewell Intake (@tidewell_intake_bot)"
    assert fields["reply_to_is_bot"] is True


def test_caption_on_a_photo() -> None:
    report = own("photo_caption.json")
    fields = report.fields
    assert report.text.startswith("Checkout page after deploy 😬😬 blank for Safari users")
    assert fields["mentions"] == ["@web_oncall"]  # from caption_entities, after two emoji
    assert fields["hashtags"] == ["#checkout"]
    assert (fields["has_media"], fields["media_type"]) == (True, "photo")
    assert report.attachments == [Attachment("photo.jpg", "image/jpeg", 161734)]


def test_forwarded_message_is_reported_by_its_author() -> None:
    report = own("forwarded_origin.json")
    fields = report.fields
    assert report.reporter == "Jan de Vries (@jdevries_fabrikam)"
    assert report.reporter_address == "@jdevries_fabrikam"
    assert report.forwarded_by == "Priya Raman (@priya_r)"
    assert (fields["forwarded"], fields["forward_from"]) == (True, report.reporter)
    assert fields["forward_date"] == "2025-04-03T14:34:10+00:00"
    assert (fields["from_id"], fields["from_username"]) == (5811220934, "priya_r")


def test_forward_from_a_hidden_user_keeps_only_the_name() -> None:
    report = own("forwarded_hidden_user.json")
    assert (report.reporter, report.reporter_address) == ("Marta (Contoso Finance)", "")
    assert report.forwarded_by == "Tom Becker (@TomBecker)"


def test_channel_post_is_by_the_channel_signed_by_its_author() -> None:
    report = own("channel_post.json")
    assert (report.reporter, report.reporter_address) == ("Chris Doyle", "@tidewell_status")
    assert (report.fields["from_id"], report.fields["chat_type"]) == (None, "channel")


def test_text_mention_and_links() -> None:
    fields = own("text_mention_and_links.json").fields
    assert fields["mentions"] == ["tg:7002318845"]  # Léa has no username
    assert fields["urls"] == [
        "https://wiki.tidewell.io/scanners",
        "https://wiki.tidewell.io/runbooks/scanners",
    ]


@pytest.mark.parametrize("name", ["callback_query.json", "sticker_only.json"])
def test_updates_without_text_give_none(name: str) -> None:
    assert parse_update((DATA / name).read_bytes()) is None


# --- the telegram_types corpus: every file read, ignored or refused ----------------------------

CORPUS_FILES: dict[str, str | None] = {  # file: title, None (nothing to triage) or "ParseError"
    "edited_message.json": "hi there (edited)",
    "forwarded_message.json": "message text",
    "inline_query.json": "ParseError",  # a {"test": "ok"} stub, not an Update
    "message.json": "Hi, world!",
    "message_with_audio.json": None,
    "message_with_document.json": "doc description",
    "message_with_game.json": None,
    "message_with_invoice.json": "ParseError",  # a bare Message without update_id
    "message_with_location.json": None,
    "message_with_photo.json": "photo description",
    "message_with_sticker.json": None,
    "message_with_successful_payment.json": None,
    "message_with_video.json": "description",
    "message_with_voice.json": None,
    "pre_checkout_query.json": None,
    "reply_message.json": "Reply to quoted message",
    "shipping_query.json": None,
}


def test_every_corpus_file_is_covered() -> None:
    assert {p.name for p in shared(CORPUS).glob("*.json")} == set(CORPUS_FILES)


@pytest.mark.parametrize("name", sorted(CORPUS_FILES))
def test_corpus_file(name: str) -> None:
    body = shared(CORPUS / name).read_bytes()
    expected = CORPUS_FILES[name]
    if expected == "ParseError":
        with pytest.raises(ParseError, match="no 'update_id'"):
            parse_update(body)
    elif expected is None:
        assert parse_update(body) is None
    else:
        assert parse(CORPUS / name).title == expected


def test_corpus_edited_forwarded_reply() -> None:
    assert parse(shared(CORPUS / "edited_message.json")).fields["edited"] is True
    forwarded = parse(CORPUS / "forwarded_message.json")
    assert forwarded.fields["forwarded"] is True
    assert forwarded.fields["forward_date"] == "2017-10-25T06:16:16+00:00"
    reply = parse(CORPUS / "reply_message.json")
    assert reply.fields["reply_to_text"] == "Quoted message"
    assert reply.in_reply_to == "12345678:12345"
    document = parse(CORPUS / "message_with_document.json")
    assert document.attachments[0].name == "test.docx"


# --- malformed input -------------------------------------------------------------------------

MALFORMED = [
    (b"", "empty body"),
    (b"{", "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b"hello", "not JSON: Expecting value at line 1 column 1"),
    (b"[" * 100_000, "not JSON"),
    (b"[1, 2]", "Telegram update is a JSON list, not an object"),
    (b'"update"', "Telegram update is a JSON string, not an object"),
    (b'{"message": {}}', "Telegram update has no 'update_id'"),
    (b'{"update_id": "7"}', "Telegram update_id is a string, not an integer"),
    (b'{"update_id": true}', "Telegram update_id is a boolean, not an integer"),
    (
        b'{"update_id": 1, "message": "hi"}',
        "Telegram update's 'message' is a string, not an object",
    ),
    (b'{"update_id": 1, "edited_message": null}', "Telegram update's 'edited_message' is a null"),
    (b'{"update_id": 1, "message": {"chat": {"id": 1}}}', "Telegram message has no integer"),
    (
        b'{"update_id": 1, "message": {"message_id": 1, "chat": 5}}',
        "Telegram message has no 'chat'",
    ),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED)
def test_malformed_updates_raise_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_update(body)
    assert str(caught.value).startswith(message)


def minimal(text: str, entities: list[Any]) -> dict[str, Any]:
    message = {"message_id": 1, "chat": {"id": 9, "type": "group"}, "date": 0, "text": text}
    return {"update_id": 1, "message": message | {"entities": entities}}


def test_entities_out_of_range_or_splitting_an_emoji_do_not_break_parsing() -> None:
    entities = [
        {"type": "mention", "offset": 500, "length": 4},
        {"type": "mention", "offset": -3, "length": 4},
        {"type": "hashtag", "offset": 1, "length": 2},  # starts inside the 🔥 surrogate pair
        {"type": "mention", "offset": "3", "length": 2},
        "not an entity",
        {"type": "mention", "offset": 3, "length": 2},
    ]
    fields = parse_update(minimal("🔥 @x", entities)).fields  # type: ignore[union-attr]
    assert (fields["mentions"], fields["hashtags"]) == (["@x"], [])


def test_lone_surrogate_in_text() -> None:
    body = b'{"update_id": 1, "message": {"message_id": 1, "chat": {"id": 9}, "text": "\\ud83d @x",'
    body += b' "entities": [{"type": "mention", "offset": 2, "length": 2}]}}'
    assert parse_update(body).fields["mentions"] == ["@x"]  # type: ignore[union-attr]


def test_blank_text_gives_none() -> None:
    assert parse_update(minimal(" \n\t", [])) is None


def test_long_first_line_is_cut_for_the_title() -> None:
    report = parse_update(minimal("x" * 300 + "\nsecond", []))
    assert report is not None and len(report.title) == 100 and report.title.endswith("…")


# --- whatever JSON arrives: a Report, None or ParseError, nothing else ------------------------

SEEDS = sorted(DATA.glob("*.json"))

JSON = json_like(SEEDS)


def check(body: Any) -> None:
    try:
        report = parse_update(body)
    except ParseError as e:
        assert str(e)
        return
    if report is not None:
        assert report.source == "telegram" and isinstance(report.title, str) and report.title
        assert set(report.fields) == set(FIELD_KEYS)
        assert report.sent_at is None or report.sent_at.tzinfo is not None
        json.dumps(report.fields, allow_nan=False)  # storable as it is


def positions(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) pair in a payload, depth first."""
    for key in list(node) if isinstance(node, dict) else range(len(node)):
        yield node, key
        if isinstance(node[key], dict | list):
            yield from positions(node[key])


def retype_everywhere(payload: Any) -> int:
    """Put each wrong-typed value, then nothing, at every position in turn (restoring it)."""
    count = 0
    for node, key in list(positions(payload)):
        original = node[key]
        for wrong in WRONG:
            node[key] = wrong
            check(payload)
        if isinstance(node, dict):
            del node[key]
            check(payload)
        node[key] = original
        count += 1
    return count


@pytest.mark.parametrize("seed", SEEDS, ids=[seed.name for seed in SEEDS])
def test_wrong_type_in_every_position(seed: Path) -> None:
    assert retype_everywhere(json.loads(seed.read_bytes())) > 5


@pytest.mark.parametrize("name", sorted(EXAMPLE_FILES))
def test_wrong_type_in_every_position_of_examples(name: str) -> None:
    assert retype_everywhere(json.loads(shared(EXAMPLES / name).read_bytes())) > 5


@pytest.mark.parametrize("name", sorted(CORPUS_FILES))
def test_wrong_type_in_every_position_of_corpus_files(name: str) -> None:
    assert retype_everywhere(json.loads(shared(CORPUS / name).read_bytes())) > 0


def mutate(data: st.DataObject, payload: Any) -> Any:
    """Replace or delete the value at a random position, a few times over."""
    for _ in range(data.draw(st.integers(1, 4))):
        spots = list(positions(payload))
        if not spots:
            break
        node, key = spots[data.draw(st.integers(0, len(spots) - 1))]
        if isinstance(node, dict) and data.draw(st.booleans()):
            del node[key]
        else:
            node[key] = data.draw(ODD | JSON)
    return payload


@settings(max_examples=300, deadline=None)
@given(JSON, st.sampled_from(["message", "edited_message", "channel_post", "callback_query"]))
def test_any_json(value: Any, key: str) -> None:
    check(value if isinstance(value, dict) else json.dumps(value))
    check({"update_id": 1, key: value})
    if isinstance(value, dict):  # a real-looking message with random parts
        check({"update_id": 1, key: {"message_id": 2, "chat": {"id": 3}, "text": "hi"} | value})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_real_updates(seed: Path, data: st.DataObject) -> None:
    payload = mutate(data, json.loads(seed.read_bytes()))
    check(payload)
    check(json.dumps(payload).encode())
