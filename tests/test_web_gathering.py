"""A response leaves in one write, whole and in order (core.web.coalescing)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from core.web.app import create_app
from core.web.coalescing import GatheringHttpToolsProtocol, GatheringTransport
from core.web.server import uvicorn_config
from tests.web_helpers import runtime

HEAD = b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


def test_writes_of_one_loop_turn_leave_as_one_in_order() -> None:
    async def scenario() -> RecordingTransport:
        real = RecordingTransport()
        gathering = GatheringTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        gathering.write(HEAD)
        gathering.write(b"{}")
        assert real.writes == [] and gathering.get_write_buffer_size() == len(HEAD) + 2
        await asyncio.sleep(0)
        gathering.write(b"next")
        gathering.close()  # what is still gathered goes first
        gathering.write(b"late")  # after close: dropped, as a closed transport drops it
        await asyncio.sleep(0)
        assert gathering.get_extra_info("peername") == ("127.0.0.1", 5)
        return real

    real = asyncio.run(scenario())
    assert real.writes == [HEAD + b"{}", b"next"]
    assert real.closed


async def _answer(app: Any, protocol_class: type[HttpToolsProtocol]) -> RecordingTransport:
    """One request through uvicorn's protocol as `intake run` configures it, to a recording
    transport in place of the socket."""
    config = uvicorn_config(app, "127.0.0.1", 0)
    config.load()
    protocol = protocol_class(config, ServerState(), {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    for _ in range(200):  # until the app has answered and the gathered write has left
        await asyncio.sleep(0.005)
        if transport.writes and protocol.cycle.response_complete:
            break
    await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


def test_the_app_answers_in_one_write(db_url: str, tmp_path: Path) -> None:
    app = create_app(runtime(db_url, tmp_path))
    plain = asyncio.run(_answer(app, HttpToolsProtocol))
    ours = asyncio.run(_answer(app, GatheringHttpToolsProtocol))
    assert len(plain.writes) == 2  # uvicorn alone: the head, then the body
    assert len(ours.writes) == 1
    head, _, body = ours.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == plain.writes[1]
