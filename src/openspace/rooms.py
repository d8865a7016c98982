"""The sockets showing each report, on this process (issue #16): who hears a report's updates.

Apart from cowriting.py (the write path of reports written together) so each stays under 400 lines
(#13). A :class:`Viewer` is one socket showing one report, with a queue and a task of its own.
:class:`Rooms` hands a report's updates, from this process or another (the bus), to its viewers
here in `rseq` order, holding one that arrives before the update it follows for `GAP_SECONDS` at
most, and only to viewers whose audience may see the topic now. Presence ("Eva skriver…") goes the
same way, never stored.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import Awaitable, Callable

import orjson

from openspace.broadcast import DocPresence, DocUpdate, Message
from openspace.domain.projection import Audience, hidden_statuses
from openspace.service import Service

VIEWER_QUEUE = 512  # frames waiting for one socket before it is told to catch up instead
GAP_SECONDS = 0.3  # an update that came before the one it follows waits this long for it
MAX_HELD = 256  # updates held for one report while waiting; past this they go, and pages catch up


Send = Callable[[str], Awaitable[None]]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Viewer:
    """One socket showing one report, with its own bounded queue of frames, sent in order by a
    task of its own so a slow socket never holds up the others or the writer."""

    def __init__(self, topic_id: str, event_id: str, audience: Audience, name: str, send: Send) -> None:
        self.topic_id, self.event_id, self.audience, self.name = topic_id, event_id, audience, name
        self.last_presence = 0.0
        self.token = secrets.token_hex(8)  # names this socket in presence it sends, on every process
        self.queue: asyncio.Queue[str] = asyncio.Queue(VIEWER_QUEUE)
        self.task = asyncio.get_running_loop().create_task(self._drain(send))

    def resync(self) -> None:
        self.put(orjson.dumps({"type": "doc.resync", "topic": self.topic_id}).decode())

    def put(self, frame: str) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:  # too far behind: skip the rest, it asks for what it lacks
            while not self.queue.empty():
                self.queue.get_nowait()
            self.resync()

    async def _drain(self, send: Send) -> None:
        with contextlib.suppress(Exception):  # the socket went: its endpoint makes it leave
            while True:
                await send(await self.queue.get())

    def close(self) -> None:
        self.task.cancel()


class Rooms:
    """This process's sockets by report, and the order in which each report's updates reach them."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.heads: dict[str, int] = {}  # by topic: the last rseq handed to this process's sockets
        self.held: dict[str, dict[int, DocUpdate]] = {}  # by topic: updates past a hole, by rseq
        self.gaps: dict[str, asyncio.TimerHandle] = {}
        self.rooms: dict[str, set[Viewer]] = {}

    def join(self, viewer: Viewer) -> None:
        self.rooms.setdefault(viewer.topic_id, set()).add(viewer)

    def leave(self, viewer: Viewer) -> None:
        room = self.rooms.get(viewer.topic_id)
        if room is not None:
            room.discard(viewer)
            viewer.close()
            if not room:
                del self.rooms[viewer.topic_id]

    def visible(self, event_id: str, topic_id: str, audience: Audience) -> bool:
        board = self.service.boards.get(event_id)
        topic = board.topics.get(topic_id) if board else None
        return topic is not None and topic.status not in hidden_statuses(audience)

    def hear(self, message: Message) -> None:
        """The bus's listener: a report's update or presence, from this process or another."""
        if isinstance(message, DocPresence):
            frame = {"type": "doc.presence", "topic": message.topic_id, "who": message.who, "field": message.field}
            self._send_room(message.event_id, message.topic_id, orjson.dumps(frame).decode(), message.viewer)
        elif isinstance(message, DocUpdate):
            self._in_order(message)

    def _in_order(self, message: DocUpdate) -> None:
        """Hand a report's updates to the sockets in `rseq` order. Two processes writing one report
        publish in commit order but arrive in either: one that comes before the update it follows
        is held until that one arrives, for `GAP_SECONDS` at most (then the pages see the hole and
        catch up from the store: an update lost on the bus costs a read, never text)."""
        topic_id = message.topic_id
        head = self.heads.get(topic_id)
        if head is not None and message.rseq <= head:
            return  # had it already
        if head is not None and message.rseq > head + 1:
            held = self.held.setdefault(topic_id, {})
            held[message.rseq] = message
            if len(held) > MAX_HELD:
                self._release(topic_id)
            elif topic_id not in self.gaps:
                self.gaps[topic_id] = asyncio.get_running_loop().call_later(GAP_SECONDS, self._release, topic_id)
            return
        self._deliver(message)
        waiting = self.held.get(topic_id)
        while waiting and (following := waiting.pop(self.heads[topic_id] + 1, None)) is not None:
            self._deliver(following)
        if not waiting:
            self.held.pop(topic_id, None)
            gap = self.gaps.pop(topic_id, None)
            if gap is not None:
                gap.cancel()

    def _release(self, topic_id: str) -> None:
        """The hole was not filled in time: send what is held, in order, past it."""
        gap = self.gaps.pop(topic_id, None)
        if gap is not None:
            gap.cancel()
        for _, message in sorted(self.held.pop(topic_id, {}).items()):
            self._deliver(message)

    def _deliver(self, message: DocUpdate) -> None:
        self.heads[message.topic_id] = message.rseq
        frame = {"type": "doc.update", "topic": message.topic_id, "rseq": message.rseq, "by": message.by}
        frame["update"] = b64(message.update)
        self._send_room(message.event_id, message.topic_id, orjson.dumps(frame).decode(), None)

    def resync(self) -> None:
        """The bus may have lost messages (it reconnected): every report's screens here catch up
        from the store, and the order of each report starts afresh."""
        for gap in self.gaps.values():
            gap.cancel()
        self.gaps.clear()
        self.held.clear()
        self.heads.clear()
        for room in self.rooms.values():
            for viewer in room:
                viewer.resync()

    def _send_room(self, event_id: str, topic_id: str, frame: str, skip: str | None) -> None:
        """To the report's sockets only, and only those whose audience may see the topic now:
        a topic hidden or merged away while its report is open stops reaching the public."""
        seen: dict[Audience, bool] = {}
        for viewer in list(self.rooms.get(topic_id, ())):
            if viewer.token == skip or viewer.event_id != event_id:
                continue
            if viewer.audience not in seen:
                seen[viewer.audience] = self.visible(event_id, topic_id, viewer.audience)
            if seen[viewer.audience]:
                viewer.put(frame)
