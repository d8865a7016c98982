"""The feed: a process's one subscriber to the bus, which turns what arrives into an ordered stream.

Whatever the bus delivers (this process's own commits at once, other processes' later, or not at
all if a connection dropped), every event's changes leave the feed exactly once and in sequence
order, to two places: the service's cached boards (`observe`) and the local socket registry (the
hub), as frames encoded here once per audience. A change whose number is past the next one
expected means changes went missing: the feed then reads the change log from its last number up
to the highest number it has heard of, and delivers those in order. Messages that come in
meanwhile only raise that target (the log holds them, since the bus carries only committed
changes), so nothing is buffered per message and each event has at most one read under way.

When the log no longer reaches back that far, the event's screens are closed with "lagging"
(they resume, and get a snapshot) and its cached board is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from openspace import metrics
from openspace.broadcast import Committed, DocPresence, DocUpdate, Message
from openspace.domain.model import Board, Change
from openspace.domain.projection import change_frames
from openspace.live.hub import CLOSE_LAGGING, LocalHub

log = logging.getLogger(__name__)

MAX_FILLS = 100  # rounds of one gap's filling before it waits for the next message


class ChangeLog(Protocol):
    """What the feed reads from the store."""

    async def load_board(self, event_id: str) -> Board | None: ...
    async def patches_since(self, event_id: str, since: int, until: int) -> list[tuple[int, str, Any]] | None: ...


class Boards(Protocol):
    """The service's cache of boards, as the feed keeps it current."""

    def known_head(self, event_id: str) -> int | None: ...
    def observe(self, committed: Committed) -> None: ...
    def forget(self, event_id: str) -> None: ...


class Feed:
    def __init__(self, log: ChangeLog, hub: LocalHub, boards: Boards) -> None:
        self.log = log
        self.hub = hub
        self.boards = boards
        self.heads: dict[str, int] = {}  # the last sequence number delivered, by event
        self.targets: dict[str, int] = {}  # events being filled from the log: the highest number heard of
        self.tasks: set[asyncio.Task[None]] = set()
        self.filled = 0  # changes read from the log to fill gaps (for tests and metrics)

    def take(self, message: Message) -> None:
        """The bus's listener: called for every message, in the order this process received them."""
        if isinstance(message, DocUpdate | DocPresence):
            return  # a report's own traffic, outside the change log: cowriting.py hears it
        if not isinstance(message, Committed):
            if message.what == "deleted":
                self.heads.pop(message.event_id, None)
                self.boards.forget(message.event_id)
                self._spawn(self.hub.close_event(message.event_id))
            elif message.what == "reauth":
                self._spawn(self.hub.close_audience(message.event_id, "facilitator"))
            return
        event_id, seq = message.event_id, message.seq
        if event_id in self.targets:
            self.targets[event_id] = max(self.targets[event_id], seq)
            return
        head = self.heads.get(event_id)
        if head is None:
            # first heard of here: whoever holds the cached board (and every socket that caught up
            # from it) is at its number, and this change is the next one or later. But the board
            # may have moved on without the sockets: a batch written here reads what another
            # worker wrote meanwhile into it before that worker's messages arrive. So never past
            # what the live sockets were sent: the rest is read from the log, in order (it was
            # a hole they were closed for, all of one worker's sockets at an event's start).
            cached = self.boards.known_head(event_id)
            head = seq - 1 if cached is None else min(cached, seq - 1)
            sent = self.hub.lowest(event_id)
            if sent is not None:
                head = min(head, sent)
        if seq <= head:
            return
        if seq == head + 1:
            self._deliver(event_id, seq, message.change, message.patch, message.at)
            return
        self.heads[event_id] = head
        self.fill(event_id, seq)

    def fill(self, event_id: str, up_to: int) -> None:
        """Read the log up to `up_to` (or further, if more is heard of meanwhile) and deliver it."""
        if event_id in self.targets:
            self.targets[event_id] = max(self.targets[event_id], up_to)
            return
        self.targets[event_id] = up_to
        self._spawn(self._fill(event_id))

    def resync(self) -> None:
        """The bus may have lost messages (it reconnected): check every event followed here against
        the store, and fill what was missed. Without this, a change lost as the last of a burst
        would wait for the event's next change to be noticed."""
        self._spawn(self._resync())

    async def _resync(self) -> None:
        for event_id in list(self.heads):
            try:
                board = await self.log.load_board(event_id)
            except Exception:
                log.exception("reading the head of event %s after a reconnect failed", event_id)
                continue
            if board is not None and event_id in self.heads and board.seq > self.heads[event_id]:
                self.fill(event_id, board.seq)

    async def _fill(self, event_id: str) -> None:
        try:
            for _ in range(MAX_FILLS):  # each round reaches the target of its start; more only if more came
                if self.targets[event_id] <= self.heads.get(event_id, 0):
                    break
                head, target = self.heads.get(event_id, 0), self.targets[event_id]
                # the patches as logged, slim updates and all: the screens get what they would have live
                changes = await self.log.patches_since(event_id, head, target)
                if event_id not in self.heads:  # deleted meanwhile
                    return
                if changes is None:  # the log no longer reaches back: screens start over from a snapshot
                    log.warning(
                        "event %s: changes %s..%s left the log; screens resume",
                        *(event_id, head, target),
                        extra={"event_id": event_id, "seq": target},
                    )
                    self.heads[event_id] = target
                    self.boards.forget(event_id)
                    await self.hub.close_all(event_id, CLOSE_LAGGING)
                    continue
                self.filled += len(changes)
                metrics.GAP_FILLS.inc(len(changes))
                for seq, kind, patch in changes:
                    if seq == self.heads[event_id] + 1:
                        self._deliver(event_id, seq, Change.from_patch(kind, patch), patch)
        except Exception:  # the store failed: the next message for the event tries again
            log.exception("filling a gap in event %s from the change log failed", event_id)
        finally:
            self.targets.pop(event_id, None)

    def _deliver(self, event_id: str, seq: int, change: Change, patch: dict[str, Any], at: float = 0.0) -> None:
        self.heads[event_id] = seq
        self.boards.observe(Committed(event_id, seq, change, patch, at))
        self.hub.publish(event_id, seq, change_frames(seq, change, patch), change.kind, at)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def settle(self) -> None:
        """Wait until no gap is being filled and no close is under way (for tests and shutdown)."""
        for _ in range(1000):
            if not self.tasks:
                return
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
