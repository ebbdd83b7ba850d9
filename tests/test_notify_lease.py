"""The delivery lease: a crashed worker's notifications go out soon, and none goes out twice.

A delivery worker leases the rows it claims; another worker may take a row
only once its lease has run out. These tests play the faults of
`make test-faults` one at a time against real SMTP (aiosmtpd): a worker
killed right after claiming, a batch slower than its lease, and a database
outage between sending and recording it.
"""

from __future__ import annotations

from email import message_from_bytes
from pathlib import Path
from typing import Any

import telegram
from sqlalchemy import select

from core import lifecycle
from core.models_notify import SENT, OutboxMessage
from notify.channel_telegram import TelegramChannel
from notify.delivery import Delivery
from tests.botapi_fixture import BotApiServer
from tests.helpers import Clock, tx
from tests.notify_helpers import notify_runtime, outbox, smtp_toml
from tests.postgres_fixture import start_postgres
from tests.smtp_fixture import SmtpServer

RECIPIENTS = [f"lead{n}@ourco.example" for n in range(1, 9)]
AUDIENCE = f"""
[[audience]]
name = "leads"
emails = {RECIPIENTS!r}
"""
MANY = f"""
[[audience]]
name = "everyone"
emails = {[f"person{n}@ourco.example" for n in range(1, 21)]!r}
"""
TELEGRAM = """
[telegram]
token_env = "UNUSED_HERE"  # the test hands the channel its own Bot for the loopback server
[notify]
channel = "send"
[[audience]]
name = "war-room"
telegram = [5120334871]
"""


def declare(rt: Any) -> None:
    with tx(rt) as session:
        lifecycle.declare(session, "cli:ana", title="Portal down", severity="SEV2")


def clock_at_creation(rt: Any) -> Clock:
    clock = Clock()
    clock.now = outbox(rt)[0].created_at
    return clock


def received_ids(server: SmtpServer) -> list[str]:
    return [str(message_from_bytes(m.data)["Message-ID"]) for m in server.messages]


def test_a_worker_killed_after_claiming_leaves_its_rows_to_another_within_the_lease(
    db_url: str, smtp_server: SmtpServer
) -> None:
    rt = notify_runtime(db_url, smtp_toml(smtp_server.port) + AUDIENCE)
    declare(rt)
    clock = clock_at_creation(rt)
    assert len(Delivery(rt, clock=clock).claim()) == len(RECIPIENTS)  # then SIGKILL: nothing sent

    clock.advance(seconds=30)  # its worker could still be sending: hands off
    assert Delivery(rt, clock=clock).deliver_due().sent == 0
    clock.advance(seconds=31)  # a minute after the claim, another worker sends them all
    assert Delivery(rt, clock=clock).deliver_due().sent == len(RECIPIENTS)
    assert sorted(m.recipients[0] for m in smtp_server.messages) == sorted(RECIPIENTS)


class _SlowServerSink:
    """Each message takes the server 20 s (on the test's clock). While it is being
    received, a second worker tries to claim: what it gets, it will send too."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.clock = Clock()
        self.rival: Delivery | None = None
        self.rival_claimed: set[int] = set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.clock.advance(seconds=20)
        if self.rival is not None:
            self.rival_claimed |= {row.id for row in self.rival.claim()}
        answer: str = await self.sink.handle_DATA(server, session, envelope)
        return answer


def test_a_batch_slower_than_its_lease_gives_back_what_it_cannot_send_in_time(
    db_url: str,
) -> None:
    server = SmtpServer("plain")
    slow = _SlowServerSink(server.sink)
    server.sink = slow  # type: ignore[assignment]
    server.start()
    try:
        rt = notify_runtime(db_url, smtp_toml(server.port) + MANY)
        declare(rt)
        slow.clock = clock = clock_at_creation(rt)
        slow.rival = Delivery(rt, clock=clock)
        Delivery(rt, clock=clock).deliver_due()
    finally:
        server.stop()
    with rt.factory() as session:
        sent_ids = set(session.scalars(select(OutboxMessage.id).where(OutboxMessage.state == SENT)))
    # 20 messages at 20 s each outlast any lease: the worker must hand back what it
    # cannot send in time rather than send rows a rival could take meanwhile.
    assert not slow.rival_claimed & sent_ids, "no row both sent and taken over by the rival"
    assert len(sent_ids) + len(slow.rival_claimed) == 20


def test_a_database_outage_after_sending_does_not_send_again(
    tmp_path: Path, postgres_base_dir: Path, smtp_server: SmtpServer
) -> None:
    with start_postgres(postgres_base_dir, fsync=True) as pg:
        rt = notify_runtime(pg.url, smtp_toml(smtp_server.port) + AUDIENCE)
        declare(rt)
        clock = clock_at_creation(rt)
        worker = Delivery(rt, clock=clock)
        original = smtp_server.sink.handle_DATA

        async def stop_postgres_after_first(server: Any, session: Any, envelope: Any) -> str:
            answer: str = await original(server, session, envelope)
            if pg.is_running():
                pg.stop()  # the mail went out; recording it will fail
            return answer

        smtp_server.sink.handle_DATA = stop_postgres_after_first  # type: ignore[method-assign]
        try:
            worker.deliver_due()
        except Exception:
            pass  # the outage ends the round, as it ends `intake run`'s component
        else:
            raise AssertionError("the round should have failed on the stopped database")
        smtp_server.sink.handle_DATA = original  # type: ignore[method-assign]
        pg.start()
        worker.deliver_due()  # the same worker's next round, after the outage
        clock.advance(minutes=30)  # every lease long gone
        Delivery(rt, clock=clock).deliver_due()
        rt.engine.dispose()
    ids = received_ids(smtp_server)
    assert len(ids) == len(set(ids)) == len(RECIPIENTS), "each sent once, none twice"


def test_a_telegram_message_is_recorded_as_sent_before_the_next_one_goes_out(
    db_url: str, botapi: BotApiServer
) -> None:
    # A chat has no Message-ID to drop a second copy by: a worker killed after a send
    # must find that send recorded, not still waiting for the batch's commit.
    rt = notify_runtime(db_url, TELEGRAM)
    for _ in range(3):
        declare(rt)
    recorded_at_each_send: list[int] = []
    send = botapi._m_sendmessage

    def counting(params: dict[str, Any]) -> Any:
        recorded_at_each_send.append(len(outbox(rt, state=SENT)))
        return send(params)

    botapi._m_sendmessage = counting  # type: ignore[method-assign]
    channel = TelegramChannel(telegram.Bot(botapi.token, base_url=botapi.base_url))
    try:
        assert Delivery(rt, telegram=channel).deliver_due().sent == 3
    finally:
        channel.close()
    assert recorded_at_each_send == [0, 1, 2]
