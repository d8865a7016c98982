"""Reports written together, live (issue #16): each report's shared document on the write path.

A browser sends Yjs updates for a report; :meth:`Cowriting.push` takes each through the one write
path: on the writer, in the batch's transaction, the update is checked (may this person write
here? is it an update? not too long?), applied to a copy of the report's document, logged with
the report's next gap-free `rseq` (store/reportlog.py) and the merged text written into the
report's row. Only after commit is the copy installed, the writer answered, and the update sent
to the sockets viewing that report, and no others. A socket that missed updates (a drop, a
hole in `rseq`) subscribes again with its document's state vector and gets exactly what it lacks.

A moment after the typing pauses, a checkpoint (`report.checkpoint`, harvest.py) puts the report
in the event's change log, so the news room and everyone's boards follow without every keystroke
reaching every phone. Forms without JavaScript and restored versions arrive as whole texts:
:meth:`follow` turns them into an update of the document in the same transaction.

Who is writing where ("Eva skriver…") is passed between the report's sockets, never stored.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from pycrdt import merge_updates

from openspace.domain import cowrite, markup
from openspace.domain.errors import N_, NotFound
from openspace.domain.harvest import FIELDS, fields_of, writable_topic
from openspace.domain.model import Board, Change, Report
from openspace.domain.projection import Audience, hidden_statuses
from openspace.domain.rules import Actor, Context
from openspace.service import Batch, Service, board_in, new_id
from openspace.store.base import Transaction

COMPACT_EVERY = 200  # updates between two stored states of a report (store/reportlog.py)
CHECKPOINT_SECONDS = 2.0  # after the last keystroke, the event's change log gets the text
VIEWER_QUEUE = 512  # frames waiting for one socket before it is told to catch up instead
CACHED_DOCS = 256  # reports' documents kept in memory (a few KiB each; see docs/performance.md)


Send = Callable[[str], Awaitable[None]]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Loaded:
    """A report's document as committed, and the `rseq` of its last update."""

    replica: cowrite.Replica
    head: int


class Viewer:
    """One socket showing one report, with its own bounded queue of frames, sent in order by a
    task of its own so a slow socket never holds up the others or the writer."""

    def __init__(self, topic_id: str, event_id: str, audience: Audience, name: str, send: Send) -> None:
        self.topic_id, self.event_id, self.audience, self.name = topic_id, event_id, audience, name
        self.last_presence = 0.0
        self.queue: asyncio.Queue[str] = asyncio.Queue(VIEWER_QUEUE)
        self.task = asyncio.get_running_loop().create_task(self._drain(send))

    def put(self, frame: str) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:  # too far behind: skip the rest, it asks for what it lacks
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(orjson.dumps({"type": "doc.resync", "topic": self.topic_id}).decode())

    async def _drain(self, send: Send) -> None:
        with contextlib.suppress(Exception):  # the socket went: its endpoint makes it leave
            while True:
                await send(await self.queue.get())

    def close(self) -> None:
        self.task.cancel()


class Cowriting:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.docs: OrderedDict[str, Loaded] = OrderedDict()  # by topic id, committed only
        self.rooms: dict[str, set[Viewer]] = {}
        self.authors: dict[tuple[str, str], set[str]] = {}  # who wrote since the last checkpoint
        self.timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        service.in_transaction.append(self.follow)
        service.forgetting.append(self.docs.clear)

    async def stop(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- inside a transaction (on the writer's thread) -----------------------------------------

    def _loaded(self, tx: Transaction, batch: Batch, board: Board, topic_id: str) -> Loaded:
        """The report's document as this batch has left it: a copy, so a refusal or a failed
        commit leaves the committed one as it was."""
        loaded: Loaded | None = batch.docs.get(topic_id)
        if loaded is None:
            committed = self.docs.get(topic_id)
            loaded = Loaded(committed.replica.copy(), committed.head) if committed else self._read(tx, topic_id)
            if loaded is None:  # never written together: start from the report's text as it is
                loaded = Loaded(cowrite.Replica(), 0)
                seed = loaded.replica.edit_to(fields_of(board.reports.get(topic_id)))
                if seed is not None:
                    self._log(tx, batch, board.event.id, topic_id, loaded, seed)
            batch.docs[topic_id] = loaded
            batch.after.append(lambda: self._install(topic_id, loaded))
        return loaded

    def _read(self, tx: Transaction, topic_id: str) -> Loaded | None:
        row = tx.report_doc(topic_id)
        if row is None:
            return None
        updates = [*([row.state] if row.state else []), *row.tail]
        return Loaded(cowrite.Replica(merge_updates(*updates) if updates else b""), row.head)

    def _install(self, topic_id: str, loaded: Loaded) -> None:
        self.docs[topic_id] = loaded
        self.docs.move_to_end(topic_id)
        while len(self.docs) > CACHED_DOCS:
            self.docs.popitem(last=False)

    def _log(self, tx: Transaction, batch: Batch, event_id: str, topic_id: str, loaded: Loaded, update: bytes) -> int:
        loaded.head += 1
        rseq = loaded.head
        state = loaded.replica.compact() if rseq == 1 or rseq % COMPACT_EVERY == 0 else None
        tx.append_report_update(event_id, topic_id, rseq, update, state)
        return rseq

    def follow(self, tx: Transaction, batch: Batch, event_id: str, change: Change) -> None:
        """A report written as whole texts (a form, a restore) becomes an edit of its document."""
        for entity in change.upserts:
            if not isinstance(entity, Report):
                continue
            board = batch.boards[event_id]
            loaded = self._loaded(tx, batch, board, entity.id)
            update = loaded.replica.edit_to(fields_of(entity))
            if update is not None:
                rseq = self._log(tx, batch, event_id, entity.id, loaded, update)
                batch.after.append(functools.partial(self._publish, event_id, entity.id, rseq, update, ""))

    # --- on the event loop -------------------------------------------------------------------

    async def push(self, event_id: str, actor: Actor, topic_id: str, update: bytes) -> int:
        """Take one update from a browser; the report's `rseq` once it is durable."""

        def run(tx: Transaction, batch: Batch) -> int:
            board = board_in(tx, batch, event_id)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            topic, report = writable_topic(board, {"topic": topic_id}, Context(actor, new_id, board.seq, now))
            loaded = self._loaded(tx, batch, board, topic.id)
            if not loaded.replica.take(update):  # a refusal raises, leaving the replica as it was
                return loaded.head
            rseq = self._log(tx, batch, event_id, topic.id, loaded, update)
            texts = loaded.replica.texts()
            base = report or Report(id=topic.id)
            rendered = orjson.loads(base.html) if base.html else {}
            for f in FIELDS:  # rendered again only where the text changed: a keystroke touches one field
                if f != "participants" and (texts[f] != getattr(base, f) or f not in rendered):
                    rendered[f] = markup.render(texts[f])
            html = orjson.dumps(rendered).decode()
            row = replace(base, html=html, updated_at=now)
            row = replace(row, participants=texts["participants"], discussion=texts["discussion"])
            row = replace(row, insights=texts["insights"], recommendations=texts["recommendations"])
            tx.put_report(event_id, row)
            batch.boards[event_id] = replace(board, reports={**board.reports, topic.id: row})
            batch.after.append(lambda: self._publish(event_id, topic.id, rseq, update, actor.name))
            return rseq

        rseq: int = await self.service.submit(run)
        self._checkpoint_later(event_id, topic_id, actor.name)
        return rseq

    async def state(self, event_id: str, topic_id: str, vector: bytes | None = None) -> tuple[bytes, int]:
        """What a browser lacks of the report's document (all of it without a state vector), and
        the `rseq` that brings it up to; a document not yet in memory is read on the writer."""
        loaded = self.docs.get(topic_id)
        if loaded is None:

            def run(tx: Transaction, batch: Batch) -> Loaded:
                board = board_in(tx, batch, event_id)
                if topic_id not in board.topics:
                    raise NotFound(N_("That topic no longer exists. It may have been withdrawn."))
                return self._loaded(tx, batch, board, topic_id)

            loaded = await self.service.submit(run)
        return loaded.replica.missing(vector), loaded.head

    def _checkpoint_later(self, event_id: str, topic_id: str, name: str) -> None:
        key = (event_id, topic_id)
        self.authors.setdefault(key, set()).add(name)
        if key not in self.timers:
            self.timers[key] = asyncio.get_running_loop().call_later(CHECKPOINT_SECONDS, self._spawn, key)

    def _spawn(self, key: tuple[str, str]) -> None:
        self.timers.pop(key, None)
        task = asyncio.create_task(self.checkpoint(*key))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def checkpoint(self, event_id: str, topic_id: str) -> None:
        """Put the report as it stands into the event's change log (see the module)."""
        authors = ", ".join(sorted(n for n in self.authors.pop((event_id, topic_id), set()) if n))
        with contextlib.suppress(Exception):  # a topic deleted meanwhile: nothing to publish
            await self.service.execute(
                event_id,
                Actor(facilitator=True),
                "report.checkpoint",
                {"topic": topic_id, "authors": authors},
                internal=True,
            )

    # --- the report's sockets ----------------------------------------------------------------

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

    def _publish(self, event_id: str, topic_id: str, rseq: int, update: bytes, by: str) -> None:
        frame = orjson.dumps({"type": "doc.update", "topic": topic_id, "rseq": rseq, "update": b64(update), "by": by})
        self._send_room(event_id, topic_id, frame.decode(), None)

    def presence(self, viewer: Viewer, field_name: str) -> None:
        frame = {"type": "doc.presence", "topic": viewer.topic_id, "who": viewer.name, "field": field_name}
        self._send_room(viewer.event_id, viewer.topic_id, orjson.dumps(frame).decode(), viewer)

    def _send_room(self, event_id: str, topic_id: str, frame: str, skip: Viewer | None) -> None:
        """To the report's sockets only, and only those whose audience may see the topic now:
        a topic hidden or merged away while its report is open stops reaching the public."""
        seen: dict[Audience, bool] = {}
        for viewer in list(self.rooms.get(topic_id, ())):
            if viewer is skip or viewer.event_id != event_id:
                continue
            if viewer.audience not in seen:
                seen[viewer.audience] = self.visible(event_id, topic_id, viewer.audience)
            if seen[viewer.audience]:
                viewer.put(frame)
