"""Commands in the chat: each with good and bad arguments; answers in HTML, never a crash."""

from __future__ import annotations

from core.models import TimelineEvent
from tests.botapi_fixture import BotApiServer
from tests.telegram_helpers import (
    GROUP,
    command,
    count,
    incidents,
    make_bot,
    message,
    reports,
    runtime,
    steps,
)

MAYA = "@maya_ops (telegram)"


def answers(server: BotApiServer) -> list[str]:
    return [str(sent["text"]) for sent in server.sent]


def test_incident_declares_whatever_the_threshold_and_escapes_html(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi)
    bot = make_bot(rt, botapi)
    steps(bot, botapi, [command("/incident <b>kitchen</b> tap & drain leaking")])
    (incident,) = incidents(rt)
    assert incident.status == "live"
    assert incident.title == "<b>kitchen</b> tap & drain leaking"
    declared = incident.events[0]
    assert declared.kind == "declared" and declared.reason == "declared by @maya_ops"
    assert declared.actor == MAYA
    (report,) = reports(rt)
    assert report.incident_id == incident.id and report.decision == "incident"
    assert report.reason == "declared by @maya_ops"
    assert any(c.field == "decision" and c.actor == MAYA for c in report.changes)
    (answer,) = answers(botapi)
    assert f"INC-{incident.id}" in answer
    assert "&lt;b&gt;kitchen&lt;/b&gt; tap &amp; drain" in answer  # shown as text, not markup
    assert botapi.sent[0]["parse_mode"] == "HTML"
    assert botapi.sent[0]["reply_parameters"]["message_id"] > 0


def test_status_lists_open_incidents_one_line_each(db_url: str, botapi: BotApiServer) -> None:
    rt = runtime(db_url, botapi)
    bot = make_bot(rt, botapi)
    steps(
        bot,
        botapi,
        [command("/status")],
        [command("/incident checkout down"), command("/incident search slow")],
        [command("/resolve INC-1 fixed"), command("/status")],
    )
    texts = answers(botapi)
    assert texts[0] == "No open incidents."
    assert texts[-1] == "<b>INC-2</b> SEV3 live: search slow"


WRONG = [
    ("/incident", "Usage: /incident TEXT"),
    ("/update", "Usage: /update INC-n TEXT"),
    ("/update INC-1", "Usage: /update INC-n TEXT"),
    ("/update nonsense words", "is not an incident reference"),
    ("/update INC-99 all good", "INC-99 does not exist"),
    ("/resolve", "Usage: /resolve INC-n [note]"),
    ("/resolve INC-99", "INC-99 does not exist"),
    ("/severity INC-1", "Usage: /severity INC-n SEV1|SEV2|SEV3|SEV4"),
    ("/severity INC-1 SEV9", "severity 'SEV9' is not one of"),
    ("/severity INC-1 SEV2 now", "Usage: /severity"),
    ("/frobnicate@intake_test_bot", "Unknown command /frobnicate"),
]


def test_wrong_arguments_get_a_short_answer(db_url: str, botapi: BotApiServer) -> None:
    rt = runtime(db_url, botapi)
    bot = make_bot(rt, botapi)
    steps(bot, botapi, [command("/incident checkout down")], *[[command(t)] for t, _ in WRONG])
    replies = answers(botapi)[1:]
    assert len(replies) == len(WRONG)
    for (text, expected), reply in zip(WRONG, replies, strict=True):
        assert expected in reply, text
        assert reply.startswith(("⚠️", "Unknown command")), text
    (incident,) = incidents(rt)
    assert incident.status == "live"  # nothing changed after the declaration
    assert {e.kind for e in incident.events} == {"declared", "report_attached", "override"}


def test_update_resolve_and_severity_act_with_the_person_as_actor(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi)
    bot = make_bot(rt, botapi)
    steps(
        bot,
        botapi,
        [command("/incident checkout down")],
        [
            command("/severity inc-1 sev2"),
            command("/update INC-1 Rolled back the deploy, watching <errors>"),
            command("/resolve INC-1 error rate back to normal"),
            command("/resolve INC-1"),
        ],
    )
    (incident,) = incidents(rt)
    assert (incident.status, incident.severity) == ("resolved", "SEV2")
    kinds = [(e.kind, e.actor, e.reason) for e in incident.events]
    assert ("update_posted", MAYA, "Rolled back the deploy, watching <errors>") in kinds
    assert ("status_changed", MAYA, "error rate back to normal") in kinds
    texts = answers(botapi)
    assert texts[1] == "<b>INC-1</b> is now SEV2."
    assert texts[2] == "Update posted to <b>INC-1</b>."
    assert texts[3].startswith("✅ <b>INC-1</b> resolved by @maya_ops")
    assert "cannot resolve INC-1: it is resolved" in texts[4]


def test_help_and_a_redelivered_command_is_not_run_twice(db_url: str, botapi: BotApiServer) -> None:
    rt = runtime(db_url, botapi)
    bot = make_bot(rt, botapi)
    declare = {**command("/incident checkout down"), "update_id": 5000}
    steps(bot, botapi, [command("/help"), declare])
    assert answers(botapi)[0].startswith("<b>Incident bot</b>")
    bot2 = make_bot(rt, botapi)  # a restarted bot given the same update again
    steps(bot2, botapi, [declare])
    assert len(incidents(rt)) == 1
    assert count(rt, TimelineEvent, TimelineEvent.kind == "declared") == 1


def test_someone_elses_command_in_an_all_chat_is_an_ordinary_message(
    db_url: str, botapi: BotApiServer
) -> None:
    rt = runtime(db_url, botapi)
    bot = make_bot(rt, botapi)
    steps(bot, botapi, [command("/deploy staging"), message("thanks", GROUP)])
    assert [r.text for r in reports(rt)] == ["/deploy staging", "thanks"]
    assert answers(botapi) == []
