"""Pre-framed fan-out: one websocket frame built per audience, written as bytes to every socket.

A server's websocket frames are not masked, so the bytes of a change's frame are the same for
every client of an audience. Sending it through ASGI costs, per client, a message dict, Starlette's
state checks, uvicorn's `send` and websockets' framing before the one `transport.write` that
matters; at thousands of clients and twenty changes a second that is a fifth of the server's
time (docs/performance.md). :class:`FrameProtocol` is uvicorn's own sans-I/O websocket protocol
plus one ASGI scope extension, ``openspace.frames``, whose ``write`` puts finished frame bytes
straight on the transport, next to uvicorn's own writes (it never fragments, so frames cannot
interleave).

``write`` also bounds a slow client by bytes, which acks alone cannot: when the transport's
buffer is over its high-water mark (so the kernel's socket buffer is full already: the phone has
stopped reading), it aborts the connection and refuses. A close would wait for that buffer to
drain, which for a stalled phone is never, and uvicorn's `send` would make everyone wait with
it. The phone reconnects when it wakes and resumes from its last sequence number. Without the
extension (another server, the test client) the hub sends text through ASGI.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

EXTENSION = "openspace.frames"


def text_frame(text: str) -> bytes:
    """A final, unmasked, uncompressed text frame: legal with or without permessage-deflate."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class FrameProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # only set when the upgrade was accepted
        if scope is not None:  # the app's task is created but has not run yet: it sees this
            scope["extensions"][EXTENSION] = {"write": self.write_frame, "drain": self.drain_frames}

    def write_frame(self, frame: bytes) -> bool:
        """Write one finished frame now; False if the socket is closing, or was stuck and is now aborted."""
        if self.close_sent or self.disconnected or not self.handshake_complete or self.transport.is_closing():
            return False
        if not self.writable.is_set():
            self.transport.abort()
            return False
        self.transport.write(frame)
        return True

    async def drain_frames(self, timeout: float) -> bool:
        """Wait until the transport takes more, at most `timeout` seconds; else abort and say False.

        Only a catch-up waits (catchup.py: its frames are streamed, each after the one before was
        taken); the live fan-out never does. A phone that takes nothing for so long has stalled,
        and a close would wait on it for ever, as above.
        """
        if self.writable.is_set():
            return True
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await self.writable.wait()
        except TimeoutError:
            self.transport.abort()
            return False
        return not self.disconnected
