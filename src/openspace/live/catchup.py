"""Resume: what a reconnecting socket is sent before it goes live (docs/protocol.md).

When an access point reboots, a whole hall comes back at once, every phone missing the same
changes (issue #20). Reading those from the change log once per socket (one reader for all,
each patch decoded, turned back into a change and encoded again for its audience, then sent
as hundreds of frames) made the last of 2,000 phones wait 15 s and the facilitator's actions
queue behind the reads. So the hub keeps the frames it has just published, by sequence number
and audience (:class:`Recent`); a socket whose gap they cover gets them from memory, as a few
`batch` frames cut at fixed sequence numbers (:data:`CHUNK`) so that every socket catching up
the same range is sent the very same bytes, built once. Only a gap older than those frames is
read from the log (still streamed in pages, each page as one batch frame), and a gap beyond
the log's reach is a snapshot.

The frames are exactly what the live fan-out sent, so they leak nothing the log path would
not: each audience has its own (domain/projection.py). They follow the log's rules: a change
that compacts the log (an erased name, issue #21 case 9) forgets every frame before it, so a
socket resuming from before the erasure gets a snapshot, as from the log.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from openspace import metrics
from openspace.domain.model import Board, Change
from openspace.domain.projection import Audience, change_frame, snapshot_frame
from openspace.live.frames import text_frame

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from openspace.runtime import Runtime

LOG_PAGE = 64  # changes read from the log at a time, when the recent frames do not reach back
CHUNK = 64  # changes per catch-up frame, cut at multiples of this so that ranges share chunks
COMPACTING_KINDS = frozenset({"participant.forgotten"})  # the store deletes the log before these
EVENTS = 32  # events whose recent frames are kept (the most recently changed ones)
EVENT_BYTES = 8 << 20  # at most this many bytes of frames per event: the oldest go first
TOTAL_BYTES = 64 << 20  # and this many for all events: the least recently changed go first
BUILT = 64  # finished catch-up frames kept for the next socket with the same range


class Recent:
    """The latest published frames of the most recently changed events, contiguous by seq."""

    def __init__(self, keep: int) -> None:
        self.keep = keep  # changes per event: as many as the log keeps (log_keep)
        self.events: OrderedDict[str, deque[tuple[int, Mapping[Audience, str]]]] = OrderedDict()
        self.sizes: dict[str, int] = {}
        self.built: OrderedDict[tuple[str, Audience, int, int], tuple[str, bytes]] = OrderedDict()
        self.hits = 0  # catch-ups served from here (for tests and the benchmark)
        self.shared = 0  # of their frames, those another socket's catch-up had built already

    def add(self, event_id: str, seq: int, frames: Mapping[Audience, str], kind: str = "") -> None:
        """A change as the hub publishes it: the feed hands over every change once, in order."""
        ring = self.events.get(event_id)
        if ring is None or (ring and ring[-1][0] != seq - 1) or kind in COMPACTING_KINDS:
            self.forget(event_id)  # a jump (the feed lost track, or a new process) starts afresh
            ring = self.events[event_id] = deque()
            self.sizes[event_id] = 0
        self.events.move_to_end(event_id)
        ring.append((seq, frames))
        self.sizes[event_id] += sum(len(text) for text in frames.values())
        while len(ring) > self.keep or (len(ring) > 1 and self.sizes[event_id] > EVENT_BYTES):
            _, old = ring.popleft()
            self.sizes[event_id] -= sum(len(text) for text in old.values())
        while len(self.events) > EVENTS or (len(self.events) > 1 and sum(self.sizes.values()) > TOTAL_BYTES):
            self.forget(next(iter(self.events)))

    def forget(self, event_id: str) -> None:
        """Drop an event's frames (deleted, or its log compacted), and the frames built from them."""
        self.events.pop(event_id, None)
        self.sizes.pop(event_id, None)
        for key in [key for key in self.built if key[0] == event_id]:
            del self.built[key]

    def covers(self, event_id: str, since: int, until: int) -> bool:
        ring = self.events.get(event_id)
        return ring is not None and len(ring) > 0 and ring[0][0] <= since + 1 and ring[-1][0] >= until

    def catch_up(
        self, event_id: str, audience: Audience, since: int, until: int
    ) -> list[tuple[int, str, bytes]] | None:
        """The changes `since+1 … until` for `audience` as frames (last seq, text, finished bytes), or None
        when they are not all here. Cut at multiples of CHUNK: sockets that dropped at different
        points still share every chunk but their first."""
        if not self.covers(event_id, since, until):
            return None
        self.hits += 1
        ring = self.events[event_id]
        first = ring[0][0]
        out: list[tuple[int, str, bytes]] = []
        start = since
        while start < until:
            end = min(until, (start // CHUNK + 1) * CHUNK)
            key = (event_id, audience, start, end)
            frame = self.built.get(key)
            if frame is None:
                text = batch_text([ring[seq - first][1][audience] for seq in range(start + 1, end + 1)])
                frame = self.built[key] = (text, text_frame(text))
                while len(self.built) > BUILT:
                    self.built.popitem(last=False)
            else:
                self.shared += 1
                self.built.move_to_end(key)
            out.append((end, *frame))
            start = end
        return out


def batch_text(texts: list[str]) -> str:
    """Change frames as one frame: a batch, or the change itself when it is alone."""
    return texts[0] if len(texts) == 1 else '{"type":"batch","changes":[' + ",".join(texts) + "]}"


Write = Callable[[bytes], bool]  # a finished frame straight to the socket (frames.py); False: gone
Drain = Callable[[float], Awaitable[bool]]  # wait (at most so long) until it takes more; False: aborted


def parse_since(raw: str | None, head: int, epoch: str | None, expected_epoch: str) -> int | None:
    """A usable resume point, or None (then the client gets a snapshot).

    The epoch names the database and the event the number belongs to: a number from another
    event, or from before a restore, must not be taken as a position in this log.
    """
    if raw is None or not raw.isdigit() or len(raw) > 18 or epoch != expected_epoch:
        return None
    since = int(raw)
    return since if since <= head else None


async def catch_up(
    runtime: Runtime,
    ws: WebSocket,
    board: Board,
    audience: Audience,
    write: Write | None = None,
    drain: Drain | None = None,
) -> int:
    """Send what the client missed up to `board.seq`; return the last sequence number sent.

    Bounded (issue #21, case 5): a client further behind than the log keeps (`log_keep`) gets a
    snapshot; the frames are streamed, each written only once the socket has taken the one
    before (`drain`: a phone that stops reading is cut off, not buffered for, and what is
    published meanwhile waits in the hub under its lag bound); and the whole catch-up has
    `catchup_timeout` seconds.
    """
    raw_since, epoch = ws.query_params.get("since"), ws.query_params.get("epoch")
    expected = runtime.epoch(board.event.id)
    if (parse_since(raw_since, 1 << 62, epoch, expected) or 0) > board.seq:
        # a resume point past this process's board: another process wrote it, and the bus has
        # not brought it here yet (a drop moved the client over). The store has it.
        board = await runtime.service.refresh(board.event.id)
    since = parse_since(raw_since, board.seq, epoch, expected)
    if since is not None and 0 < board.seq - since <= runtime.settings.log_keep:
        timeout = runtime.settings.catchup_timeout
        deadline = asyncio.get_running_loop().time() + timeout
        sent = since
        try:
            async with asyncio.timeout(timeout):
                async for last, text, raw in frames_since(runtime, board, audience, since, write is not None):
                    if write is None:
                        await ws.send_text(text)
                    else:
                        if drain is not None and not await drain(deadline - asyncio.get_running_loop().time()):
                            raise ConnectionError("the client stopped reading during its catch-up")
                        if not write(raw):
                            raise ConnectionError("the socket closed during its catch-up")
                    sent = last
        except TimeoutError:
            # the whole catch-up's time ran out while a drain waited (the two deadlines are one):
            # a client that is not reading is cut off now, as a drain would, since the polite
            # close (1013) would wait up to 10 s behind the frame it is not taking, holding it
            if drain is not None and not await drain(0.0):
                raise ConnectionError("the client stopped reading during its catch-up") from None
            raise
        if sent == board.seq:
            metrics.CATCHUPS.inc()
            return board.seq
    if since is None or since < board.seq:
        reason = "initial" if raw_since is None else ("invalid" if since is None else "gap")
        metrics.SNAPSHOTS.labels(reason).inc()
        await ws.send_text(snapshot_frame(board, audience, reason, expected))
    else:  # resumed with nothing missed: a catch-up of no changes
        metrics.CATCHUPS.inc()
    return board.seq


async def frames_since(
    runtime: Runtime, board: Board, audience: Audience, since: int, framed: bool
) -> AsyncIterator[tuple[int, str, bytes]]:
    """The changes after `since` up to the board's, as (last seq, text, finished frame or b"")
    frames: from the hub's recent frames when they reach back that far, else from the log, a
    page at a time; it stops short where the log no longer reaches (then: a snapshot)."""
    event_id = board.event.id
    shared = runtime.hub.recent.catch_up(event_id, audience, since, board.seq)
    if shared is not None:
        for frame in shared:
            yield frame
        return
    sent = since
    while sent < board.seq:
        until = min(board.seq, sent + LOG_PAGE)
        patches = await runtime.store.patches_since(event_id, sent, until)
        if patches is None:
            return
        text = batch_text([change_frame(seq, Change(kind), audience, patch) for seq, kind, patch in patches])
        yield until, text, text_frame(text) if framed else b""
        sent = until
