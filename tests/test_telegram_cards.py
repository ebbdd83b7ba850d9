"""Triage cards: posted for needs_review reports, buttons recorded as overrides, the card edited."""

from __future__ import annotations

from typing import Any

from core.triage.verdict import QUESTIONS
from ingest.telegram_cards import CALLBACK_LIMIT, callback_data, parse_callback
from tests.botapi_fixture import BotApiServer
from tests.telegram_helpers import (
    GROUP,
    incidents,
    make_bot,
    message,
    reports,
    runtime,
    steps,
)

ON_THE_FENCE = (
    "The checkout page is down right now"  # 3 yes with impact: needs_review at threshold 4
)
PRESSER = {"id": 777001, "is_bot": False, "first_name": "Sam", "username": "sam_dispatch"}
SAM = "@sam_dispatch (telegram)"


def press(server: BotApiServer, data: str, n: int) -> dict[str, Any]:
    card = server.sent[0]
    return {
        "callback_query": {
            "id": f"cb-{n}",
            "from": PRESSER,
            "chat_instance": "-5551",
            "data": data,
            "message": {
                "message_id": card["message_id"],
                "from": {"id": 123456, "is_bot": True, "first_name": "Intake"},
                "chat": {"id": GROUP, "type": "supergroup", "title": "Ops · London Dispatch"},
                "date": 1741979200,
                "text": "card",
            },
        }
    }


def buttons(sent: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in sent["reply_markup"]["inline_keyboard"] for b in row]


def test_a_needs_review_report_gets_a_card_with_buttons(db_url: str, botapi: BotApiServer) -> None:
    rt = runtime(db_url, botapi, threshold=4)
    bot = make_bot(rt, botapi)
    steps(
        bot,
        botapi,
        [message("<script>alert(1)</script> " + ON_THE_FENCE), message("lunch menu changed today")],
    )
    first, second = reports(rt)
    assert (first.decision, second.decision) == ("needs_review", "not_incident")
    (card,) = botapi.sent  # none for the clear not_incident
    assert card["chat_id"] == GROUP and card["parse_mode"] == "HTML"
    assert card["reply_parameters"]["message_id"] == first.fields["message_id"]
    text = card["text"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    assert "incident response" in text
    for question in QUESTIONS:
        assert f"<b>{question}</b>: " in text
    assert "(" in text  # evidence is shown next to the answers
    labels = [b["text"] for b in buttons(card)]
    assert labels[:2] == ["🚨 Declare", "Not an incident"]
    assert len(labels) == 2 + len(QUESTIONS)
    for button in buttons(card):
        assert len(button["callback_data"].encode()) <= CALLBACK_LIMIT


def test_each_press_is_an_override_by_the_person_and_the_card_shows_it(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi, threshold=4)
    bot = make_bot(rt, botapi)
    steps(bot, botapi, [message(ON_THE_FENCE)])
    (report,) = reports(rt)
    assert report.golden["coordinate"]["answer"] is None
    (incident,) = incidents(rt)
    assert incident.status == "triage"  # needs_review opens one for a person
    steps(
        make_bot(rt, botapi),
        botapi,
        [press(botapi, callback_data(report.id, "q2"), 1)],  # coordinate -> yes
        [press(botapi, callback_data(report.id, "q2"), 2)],  # and back to no
        [press(botapi, callback_data(report.id, "d"), 3)],
    )
    (report,) = reports(rt)
    changes = [(c.field, c.old_value, c.new_value, c.actor) for c in report.changes]
    assert changes == [
        ("coordinate", None, "yes", SAM),
        ("coordinate", "yes", "no", SAM),
        ("decision", "needs_review", "incident", SAM),
    ]
    assert report.golden["coordinate"]["answer"] is False
    (incident,) = incidents(rt)
    assert incident.status == "live" and report.incident_id == incident.id
    assert [a["callback_query_id"] for a in botapi.answers] == ["cb-1", "cb-2", "cb-3"]
    assert botapi.answers[-1]["text"] == f"Declared by @sam_dispatch as INC-{incident.id}"
    last = botapi.edits[-1]
    assert last["message_id"] == botapi.sent[0]["message_id"]
    assert f"Declared by @sam_dispatch as INC-{incident.id}" in last["text"]
    assert "<b>coordinate</b>: no" in last["text"]
    assert "(live)" in last["text"]


def test_not_an_incident_declines_the_triage_incident(db_url: str, botapi: BotApiServer) -> None:
    rt = runtime(db_url, botapi, threshold=4)
    bot = make_bot(rt, botapi)
    steps(bot, botapi, [message(ON_THE_FENCE)])
    (report,) = reports(rt)
    steps(make_bot(rt, botapi), botapi, [press(botapi, callback_data(report.id, "n"), 1)])
    (report,) = reports(rt)
    assert report.decision == "not_incident"
    assert report.changes[-1].actor == SAM
    (incident,) = incidents(rt)
    assert incident.status == "declined" and "@sam_dispatch" in (incident.decline_reason or "")
    assert "Not an incident, said @sam_dispatch" in botapi.edits[-1]["text"]


def test_every_callback_is_answered_even_a_stale_or_foreign_one(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi, threshold=4)
    bot = make_bot(rt, botapi)
    steps(bot, botapi, [message(ON_THE_FENCE)])
    steps(
        make_bot(rt, botapi),
        botapi,
        [press(botapi, "t:99999:d", 1), press(botapi, "somebody-elses-game", 2)],
    )
    assert [a["callback_query_id"] for a in botapi.answers] == ["cb-1", "cb-2"]
    assert "report 99999 does not exist" in botapi.answers[0]["text"]
    assert botapi.edits == []


def test_cards_for_all_posts_a_card_for_each_new_incident(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi, cards_for="all")
    bot = make_bot(rt, botapi)
    outage = "Payments are failing in production since 10:00, customers cannot pay, need eng + support now"
    steps(bot, botapi, [message(outage), message("lunch menu changed today")])
    (card,) = botapi.sent
    assert "Payments are failing" in card["text"] and "INC-1" in card["text"]


def test_callback_data_round_trips_and_refuses_strangers() -> None:
    for action in ("d", "n", *(f"q{i}" for i in range(5))):
        data = callback_data(2**62, action)
        assert len(data.encode()) <= CALLBACK_LIMIT
        assert parse_callback(data) == (2**62, action)
    for bad in ("", "t:1", "t:x:d", "t:1:q9", "t:1:z", "x:1:d"):
        assert parse_callback(bad) is None


def test_a_reply_to_the_card_joins_the_cards_report_and_incident(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi, threshold=4)
    bot = make_bot(rt, botapi)
    steps(bot, botapi, [message(ON_THE_FENCE)])
    card = botapi.sent[0]
    card_message = {
        "message_id": card["message_id"],
        "from": {
            "id": 123456,
            "is_bot": True,
            "first_name": "Intake",
            "username": "intake_test_bot",
        },
        "chat": {"id": GROUP, "type": "supergroup"},
        "date": 1741979200,
        "text": "card",
    }
    steps(
        make_bot(rt, botapi),
        botapi,
        [message("yes, customers are calling about it", reply_to=card_message)],
    )
    first, reply = reports(rt)
    assert first.incident_id is not None and reply.incident_id == first.incident_id
    assert reply.in_reply_to == first.message_id
