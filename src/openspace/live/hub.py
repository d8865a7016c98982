"""The local socket registry: fan each committed change out to this process's clients of its event.

The feed (feed.py) calls `publish` with every change of an event exactly once and in order, as
frames already encoded per audience, whichever process wrote it; the bus (bus.py) carried it here.

Publishing never waits on a client. `publish` only enqueues; one broadcaster task sends every
frame, already encoded once per audience, to each client in turn. With uvicorn's sans-I/O
websockets a send does not wait for the peer, so the loop never stalls on a slow phone, but it
would buffer for it without end: each client therefore acknowledges the sequence numbers it has
applied, and one that lags more than `max_lag` changes behind is closed with
:data:`CLOSE_LAGGING` and resumes from its last sequence number when it reconnects.

The cost of a fan-out is the number of sends, not their size (one pass through the ASGI stack
and one send(2) per client). So under a burst, whatever changes of an event wait in the queue
when a fan-out begins go to each client as *one* `batch` frame (its changes in order), encoded
once per audience: 50 changes at once cost about as many sends as one. And a fan-out to
thousands of clients yields to the loop every :data:`YIELD_EVERY` sends, so acks, actions,
commits and their results interleave with it instead of waiting for the last phone.

The order of a fan-out is the room's (room.py): addresses holding fewest sockets first, so one
address's hundreds of sockets are written to after everyone else's.

A connecting client is registered *before* its catch-up is read from the log, and holds what
arrives meanwhile in `pending`; sequence numbers then drop duplicates, so nothing published
between reading the log and going live can slip through the gap.

Whatever goes wrong upstream, a client never gets a hole: a frame that starts past the next
number it expects closes it with :data:`CLOSE_LAGGING`, and it resumes from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from openspace import metrics
from openspace.domain.projection import Audience
from openspace.live.catchup import Recent
from openspace.live.frames import text_frame
from openspace.live.room import Room

log = logging.getLogger(__name__)

CLOSE_LAGGING = 4008  # fell too far behind: reconnect with your last sequence number
CLOSE_RESTART = 1012  # the server is restarting: reconnect shortly
CLOSE_GONE = 4004  # the event was deleted: do not reconnect
CLOSE_REAUTH = 4001  # who you are has changed (a new facilitator link): reconnect and sign in again

YIELD_EVERY = 500  # sends between two yields to the event loop during one fan-out

Send = Callable[[str], Awaitable[None]]
Write = Callable[[bytes], bool]  # a finished frame straight to the socket (frames.py); False: gone
Published = tuple[int, Mapping[Audience, str]]  # a change's seq and its frame for each audience
Close = Callable[[int], Awaitable[None]]


class Client:
    """One websocket connection of one event, as the hub sees it."""

    __slots__ = ("acked", "address", "audience", "close", "closed", "pending", "ready", "send", "seq", "write")

    def __init__(
        self, audience: Audience, send: Send, close: Close, write: Write | None = None, address: str = ""
    ) -> None:
        self.audience = audience
        self.address = address  # the client's address: the fan-out's order (room.py)
        self.send = send
        self.write = write
        self.close = close
        self.seq = -1  # the last sequence number sent to this client
        self.acked = -1  # the last one it told us it applied
        self.ready = False
        self.closed = False
        # a list, not a deque: it is used only until the catch-up is sent, and an empty deque
        # costs every idle connection ~0.7 KiB more than an empty list (issue #13's bench)
        self.pending: list[tuple[int, str]] = []

    def ack(self, seq: int) -> None:
        if self.acked < seq <= self.seq:
            self.acked = seq

    async def go_live(self, sent_up_to: int) -> None:
        """Called once the catch-up is sent: flush what arrived meanwhile, then take live frames."""
        self.seq = self.acked = sent_up_to
        while self.pending:
            seq, frame = self.pending.pop(0)  # bounded by max_lag
            if seq > self.seq + 1:  # a hole (the feed lost track): resume rather than skip changes
                self.pending.clear()
                self.closed = True
                await self.close(CLOSE_LAGGING)
                return
            if seq > self.seq:
                await self.send(frame)
                self.seq = seq
        self.ready = True


class Fanout(Protocol):
    recent: Recent  # the frames just published, for sockets catching up (catchup.py)

    def register(self, event_id: str, client: Client) -> None: ...
    def unregister(self, event_id: str, client: Client) -> None: ...
    def publish(
        self, event_id: str, seq: int, frames: Mapping[Audience, str], kind: str = "", at: float = ...
    ) -> None: ...
    def count(self, event_id: str) -> int: ...
    def lowest(self, event_id: str) -> int | None: ...
    async def close_event(self, event_id: str) -> None: ...
    async def close_all(self, event_id: str, code: int) -> None: ...
    async def close_audience(self, event_id: str, audience: Audience, code: int = ...) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class LocalHub:
    """In-process fan-out for a single server process."""

    def __init__(self, max_lag: int = 256, keep: int = 1000) -> None:
        self.max_lag = max_lag
        self.recent = Recent(keep)  # `keep`: as many changes per event as the log keeps
        self.rooms: dict[str, Room[Client]] = {}
        self._queue: asyncio.Queue[tuple[str, Published, float]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False  # a fan-out is under way (it may have yielded mid-way)

    def register(self, event_id: str, client: Client) -> None:
        self.rooms.setdefault(event_id, Room()).add(client)

    def unregister(self, event_id: str, client: Client) -> None:
        room = self.rooms.get(event_id)
        if room is not None:
            room.discard(client)
            if not room:
                del self.rooms[event_id]

    def count(self, event_id: str) -> int:
        return len(self.rooms.get(event_id, ()))

    def lowest(self, event_id: str) -> int | None:
        """The lowest sequence number this process's live sockets of the event were sent (None:
        none is live). Sockets still catching up keep what arrives meanwhile and skip what they had."""
        return min((c.seq for c in self.rooms.get(event_id, ()) if c.ready and not c.closed), default=None)

    async def close_audience(self, event_id: str, audience: Audience, code: int = CLOSE_REAUTH) -> None:
        for client in [c for c in self.rooms.get(event_id, ()) if c.audience == audience]:
            self.unregister(event_id, client)
            await self._close(client, code)

    async def close_all(self, event_id: str, code: int) -> None:
        """Close every client of the event with `code`; they may come back (unlike close_event)."""
        for client in list(self.rooms.pop(event_id, ())):
            await self._close(client, code)

    async def close_event(self, event_id: str) -> None:
        self.recent.forget(event_id)
        for client in list(self.rooms.pop(event_id, ())):
            await self._close(client, CLOSE_GONE)

    def publish(self, event_id: str, seq: int, frames: Mapping[Audience, str], kind: str = "", at: float = 0.0) -> None:
        """Kept at once for catch-ups (a socket connecting now finds it there), sent by the task;
        `at` is when it committed (0: unknown, read from the log)."""
        self.recent.add(event_id, seq, frames, kind)
        self._queue.put_nowait((event_id, (seq, frames), at))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="openspace-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for room in list(self.rooms.values()):
            for client in [c for c in room if not c.closed]:
                await self._close(client, CLOSE_RESTART)
        self.rooms.clear()

    async def drain(self) -> None:
        """Wait until every published frame has been handed to the clients (for tests)."""
        while not self._queue.empty() or self._busy:
            await asyncio.sleep(0)
        await asyncio.sleep(0)

    async def _run(self) -> None:
        while True:
            waiting = [await self._queue.get()]
            while not self._queue.empty():
                waiting.append(self._queue.get_nowait())
            by_event: dict[str, list[Published]] = {}
            committed: dict[str, list[float]] = {}
            for event_id, published, at in waiting:
                by_event.setdefault(event_id, []).append(published)
                committed.setdefault(event_id, []).append(at)
            self._busy = True
            for event_id, changes in by_event.items():
                try:
                    if await self._deliver(event_id, changes):
                        now = time.time()  # commit → frames written, for each change written here
                        for at in committed[event_id]:
                            if at:
                                metrics.TALLY.observe(metrics.FANOUT, max(0.0, now - at))
                except Exception:  # a bug here must not silence every later change
                    log.exception("fan-out of changes %s… of event %s failed", changes[0][0], event_id)
            self._busy = False

    async def _deliver(self, event_id: str, changes: list[Published]) -> int:
        """Send each client of the event the changes it has not had, as one frame; how many got it."""
        frames = BatchFrames(changes)
        sent = 0
        room = self.rooms.get(event_id)
        for client in room.order() if room is not None else ():  # a new list when the room changes
            if client.closed:
                continue
            if not client.ready:
                client.pending.extend((seq, encoded[client.audience]) for seq, encoded in changes)
                if len(client.pending) > self.max_lag:
                    await self._close(client, CLOSE_LAGGING)
                continue
            last = changes[-1][0]
            if last <= client.seq:
                continue
            if changes[0][0] > client.seq + 1:  # a hole: never skip a change, resume from the log
                await self._close(client, CLOSE_LAGGING)
                continue
            if last - client.acked > self.max_lag:
                await self._close(client, CLOSE_LAGGING)
                continue
            if client.write is not None:
                if not client.write(frames.raw(client.seq, client.audience)):
                    # closing already, or stuck and aborted by the write: nothing left to close,
                    # and a close would wait for buffers that never drain
                    client.closed = True
                    client.pending.clear()
                    continue
            else:
                try:
                    await client.send(frames.text(client.seq, client.audience))
                except Exception:
                    client.closed = True
                    continue
            client.seq = last
            sent += 1
            if sent % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return sent

    async def _close(self, client: Client, code: int) -> None:
        metrics.CLOSES.labels(str(code)).inc()
        client.closed = True
        client.pending.clear()
        with contextlib.suppress(Exception):
            await client.close(code)


class BatchFrames:
    """The frames for one fan-out, built once per audience and starting point, on demand.

    Nearly every client is at the same place, so one frame per audience serves them all; a client
    that joined mid-way (its catch-up covered the first changes) gets the rest from the cache.
    """

    def __init__(self, changes: list[Published]) -> None:
        self.changes = changes
        self.texts: dict[tuple[Audience, int], str] = {}  # by audience and the client's last seq
        self.raws: dict[tuple[Audience, int], bytes] = {}

    def text(self, seq: int, audience: Audience) -> str:
        """The changes after `seq`, as one JSON text."""
        frame = self.texts.get((audience, seq))
        if frame is None:
            rest = [frames[audience] for s, frames in self.changes if s > seq]
            frame = rest[0] if len(rest) == 1 else '{"type":"batch","changes":[' + ",".join(rest) + "]}"
            self.texts[(audience, seq)] = frame
        return frame

    def raw(self, seq: int, audience: Audience) -> bytes:
        """The same as a finished websocket frame."""
        frame = self.raws.get((audience, seq))
        if frame is None:
            frame = self.raws[(audience, seq)] = text_frame(self.text(seq, audience))
        return frame
