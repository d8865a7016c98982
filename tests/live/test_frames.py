"""Pre-framed fan-out writes (frames.py): valid frames, and a stuck phone is cut off, not waited for."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from openspace.live.frames import FrameProtocol, text_frame
from openspace.live.hub import CLOSE_RESTART, Client, LocalHub


def parse(raw: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(raw)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("incomplete frame")


def test_a_prebuilt_frame_is_what_websockets_itself_would_send() -> None:
    for size in (10, 200, 70_000):  # the three length encodings
        text = "å" * size
        frame = parse(text_frame(text))
        assert frame.opcode is Opcode.TEXT and frame.fin and frame.data.decode() == text


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False

    def is_closing(self) -> bool:
        return self.aborted

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True


def protocol(writable: bool) -> Any:
    """The state `write_frame` reads, as uvicorn's protocol keeps it."""
    event = asyncio.Event()
    if writable:
        event.set()
    return SimpleNamespace(
        close_sent=False, disconnected=False, handshake_complete=True, writable=event, transport=FakeTransport()
    )


async def test_a_frame_goes_straight_to_the_transport() -> None:
    p = protocol(writable=True)
    assert FrameProtocol.write_frame(p, b"frame") and p.transport.written == [b"frame"]
    p.close_sent = True  # after our close frame, nothing more
    assert not FrameProtocol.write_frame(p, b"late") and p.transport.written == [b"frame"]


async def test_a_phone_that_stopped_reading_is_aborted_not_waited_for() -> None:
    p = protocol(writable=False)  # uvicorn paused writing: the buffers are full
    assert not FrameProtocol.write_frame(p, b"frame")
    assert p.transport.aborted and p.transport.written == []


async def test_the_hub_writes_frames_and_drops_a_stuck_client_without_waiting_for_it() -> None:
    hub = LocalHub(max_lag=20)
    written: list[bytes] = []
    closed: list[int] = []

    async def never(_: str) -> None:
        raise AssertionError("a client with pre-framed writes gets no text sends")

    async def close(code: int) -> None:
        closed.append(code)

    healthy = Client("public", never, close, lambda raw: written.append(raw) is None)
    stuck = Client("public", never, close, lambda raw: False)
    for client in (healthy, stuck):
        hub.register("e", client)
        await client.go_live(0)
    await hub.start()
    try:
        for seq in (1, 2):
            frame = orjson.dumps({"type": "change", "seq": seq}).decode()
            hub.publish("e", seq, {"public": frame, "facilitator": frame})
        await hub.drain()
        assert closed == []  # the write aborted it already: no close that would wait on its buffers
    finally:
        await hub.stop()
    assert closed == [CLOSE_RESTART]  # at shutdown only the healthy one is told; the stuck one is gone
    assert [orjson.loads(parse(raw).data) for raw in written] == [
        {"type": "batch", "changes": [{"type": "change", "seq": 1}, {"type": "change", "seq": 2}]}
    ]
    assert healthy.seq == 2 and stuck.closed
