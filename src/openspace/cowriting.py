"""Reports written together, live (issue #16): each report's shared document on the write path.

A browser sends Yjs updates for a report; :meth:`Cowriting.push` takes each through the one write
path: on the writer, in the batch's transaction, the update is checked (may this person write
here? is it an update? not too long?), applied to the report's document (a refused one leaves
it as it was, a failed commit drops it), logged with the report's next gap-free `rseq`
(store/reportlog.py) and the merged text written into the report's row. Only after commit is the
writer answered and the update sent to the sockets viewing that report, and no others. A socket
that missed updates (a drop, a hole in `rseq`) subscribes again with its document's state vector
and gets exactly what it lacks.

A moment after the typing pauses (and every few seconds while it goes on), a checkpoint
(`report.checkpoint`, harvest.py) puts the report in the event's change log, so the news room and
everyone's boards follow without every keystroke reaching every phone. Forms without JavaScript
and restored versions arrive as whole texts: :meth:`follow` turns them into an update of the
document in the same transaction.

Who is writing where ("Eva skriver…") is passed between the report's sockets, never stored.

With several processes (`--workers`, PostgreSQL, Redis) a report's updates and presence travel
on the bus (broadcast.DocUpdate, DocPresence), to the sockets showing that report on every
process and no others; each process hands a report's updates to its sockets in `rseq` order,
holding one that arrives early for a moment (`GAP_SECONDS`). The document kept in memory is
checked against the stored head under the event's lock before it is written on, and a page
subscribing reads it on the writer, so a drop caught up on another worker gets exactly what it
lacks, never a stale copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from pycrdt import merge_updates

from openspace.batching import Ahead, Batch, board_in
from openspace.broadcast import DocPresence, DocUpdate, Subscribable
from openspace.domain import cowrite, markup
from openspace.domain.errors import N_, NotFound
from openspace.domain.harvest import FIELDS, fields_of, writable_topic
from openspace.domain.model import Board, Change, Report
from openspace.domain.rules import Actor, Context
from openspace.rooms import Rooms, Viewer
from openspace.service import Service, new_id
from openspace.store.base import Transaction

COMPACT_EVERY = 200  # updates between two stored states of a report (store/reportlog.py)
CHECKPOINT_SECONDS = 2.0  # after the last keystroke of a burst, the event's change log gets the text
CHECKPOINT_MAX_SECONDS = 10.0  # and at the latest this long after the burst's first, while typing goes on
CACHED_DOCS = 256  # reports' documents kept in memory (a few KiB each; see docs/performance.md)
LIVE_DOCS = 32  # of those, the reports last written keep a live document too (Replica: larger, faster)


@dataclass
class Loaded:
    """A report's document as committed, and the `rseq` of its last update."""

    replica: cowrite.Replica
    head: int


class Cowriting(Rooms):
    """`bus`: where updates and presence go to reach every process's sockets (live/bus.py);
    without one (a single process in tests and the benchmark) they go straight to this one's.
    Which sockets of this process hear a report, and in what order, is rooms.py's."""

    def __init__(self, service: Service, bus: Subscribable | None = None) -> None:
        super().__init__(service)
        self.bus = bus
        self.known: dict[str, int] = {}  # by topic: the rseq whose text this process's board holds
        self.docs: OrderedDict[str, Loaded] = OrderedDict()  # by topic id, as committed (see _loaded)
        self.typing: OrderedDict[str, None] = OrderedDict()  # the reports last written, on the writer
        self.authors: dict[tuple[str, str], set[str]] = {}  # who wrote since the last checkpoint
        self.timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.bursts: dict[tuple[str, str], tuple[float, float]] = {}  # the first and last keystroke's time
        self.tasks: set[asyncio.Task[Any]] = set()
        service.in_transaction.append(self.follow)
        service.forgetting.append(self.docs.clear)
        service.forgetting.append(self.known.clear)
        service.before_deciding.append(self.fresh)
        if bus is not None:
            bus.subscribe(self.hear, self.resync)

    async def stop(self) -> None:
        for timer in [*self.timers.values(), *self.gaps.values()]:
            timer.cancel()
        self.timers.clear()
        self.bursts.clear()
        self.gaps.clear()
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- inside a transaction (on the writer's thread) -----------------------------------------

    def _loaded(self, tx: Transaction, batch: Batch, board: Board, topic_id: str) -> Loaded:
        """The report's document as this batch has left it. Not a copy (copying a document costs
        in proportion to the report): a refused update leaves the replica as it was (Replica.take),
        and a failed commit drops every document kept (`service.forgetting`), so the retry reads
        them from the store. Only the writer's thread touches a replica."""
        loaded: Loaded | None = batch.docs.get(topic_id)
        if loaded is None:
            committed = self.docs.get(topic_id)
            if committed is not None and tx.report_head(topic_id) != committed.head:
                committed = None  # another process wrote it since: read it again (under the lock)
            loaded = committed or self._read(tx, topic_id)
            if loaded is None:  # never written together: start from the report's text as it is
                loaded = Loaded(cowrite.Replica(), 0)
                seed = loaded.replica.edit_to(fields_of(board.reports.get(topic_id)))
                if seed is not None:
                    self._log(tx, batch, board.event.id, topic_id, loaded, seed)
            batch.docs[topic_id] = loaded
            batch.after.append(lambda: self._install(topic_id, loaded))
            self.typing[topic_id] = None
            self.typing.move_to_end(topic_id)
            while len(self.typing) > LIVE_DOCS:  # the others keep their state, not a live document
                idle = self.docs.get(self.typing.popitem(last=False)[0])
                if idle is not None:
                    idle.replica.settle()
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
            self.known[entity.id] = loaded.head  # the row as the change wrote it is the document

    def fresh(self, tx: Transaction, board: Board, name: str, args: Mapping[str, Any]) -> Board:
        """The board with every report as stored, before a command is decided on it.

        Typing changes a report's row without a change in the event's log (the checkpoint puts it
        there later), so with several processes a board kept in memory can hold a report older
        than its document: a command carrying it (a checkpoint, a topic shown again) would write
        it back, and `follow` would turn that into deleting the others' text. Under the event's
        lock, the stored heads say which reports moved since this process last held their text.
        """
        heads = tx.report_heads(board.event.id)
        stale = [t for t, head in heads.items() if self.known.get(t) != head]
        if not stale:
            return board
        rows = tx.report_rows(stale)
        self.known.update({t: heads[t] for t in stale})
        if all(board.reports.get(r.id) == r for r in rows):
            return board
        return replace(board, reports={**board.reports, **{r.id: r for r in rows}})

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
            html = orjson.loads(base.html) if base.html else {}
            for f in FIELDS:  # its HTML is stale now: rendered at the checkpoint, not on every keystroke
                if texts[f] != getattr(base, f):
                    html.pop(f, None)
            row = replace(base, html=orjson.dumps(html).decode(), updated_at=now)
            row = replace(row, participants=texts["participants"], discussion=texts["discussion"])
            row = replace(row, insights=texts["insights"], recommendations=texts["recommendations"])
            tx.put_report(event_id, row)
            batch.boards[event_id] = replace(board, reports={**board.reports, topic.id: row})
            batch.after.append(lambda: self._publish(event_id, topic.id, rseq, update, actor.name))
            self.known[topic.id] = rseq
            return rseq

        rseq: int = await self.service.submit(run, Ahead(event_id))
        self._checkpoint_later(event_id, topic_id, actor.name)
        return rseq

    async def state(self, event_id: str, topic_id: str, vector: bytes | None = None) -> tuple[bytes, int]:
        """What a browser lacks of the report's document (all of it without a state vector), and
        the `rseq` that brings it up to. Read on the writer, under the event's lock, even when the
        document is in memory: another process may have written it since (see the module)."""

        def run(tx: Transaction, batch: Batch) -> tuple[bytes, int]:
            board = board_in(tx, batch, event_id)
            if topic_id not in board.topics:
                raise NotFound(N_("That topic no longer exists. It may have been withdrawn."))
            loaded = self._loaded(tx, batch, board, topic_id)
            return loaded.replica.missing(vector), loaded.head  # here: the writer may change it next

        answer: tuple[bytes, int] = await self.service.submit(run)
        return answer

    def _checkpoint_later(self, event_id: str, topic_id: str, name: str) -> None:
        """A checkpoint once the typing pauses for CHECKPOINT_SECONDS, or CHECKPOINT_MAX_SECONDS after
        the burst began if it goes on, so the news room follows a long burst too. Every keystroke is
        durable in the report's row and log already: the checkpoint only tells the whole event, so
        it need not come sooner, and each one it saves is a transaction and a frame to every phone."""
        key = (event_id, topic_id)
        self.authors.setdefault(key, set()).add(name)
        loop = asyncio.get_running_loop()
        now = loop.time()
        first, _ = self.bursts.get(key, (now, now))
        self.bursts[key] = (first, now)
        if key not in self.timers:  # one timer a burst, moved on when it fires early (cheaper than per keystroke)
            self.timers[key] = loop.call_at(now + CHECKPOINT_SECONDS, self._due, key)

    def _due(self, key: tuple[str, str]) -> None:
        loop = asyncio.get_running_loop()
        first, last = self.bursts[key]
        at = min(last + CHECKPOINT_SECONDS, first + CHECKPOINT_MAX_SECONDS)
        if at > loop.time():  # typed since the timer was set: not paused yet
            self.timers[key] = loop.call_at(at, self._due, key)
            return
        self.timers.pop(key, None)
        self.bursts.pop(key, None)
        task = asyncio.create_task(self.checkpoint(*key))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def checkpoint(self, event_id: str, topic_id: str) -> None:
        """Put the report as it stands into the event's change log (see the module)."""
        authors = ", ".join(sorted(n for n in self.authors.pop((event_id, topic_id), set()) if n))
        board = self.service.boards.get(event_id)
        report = board.reports.get(topic_id) if board else None
        if report is not None and self.service.offload is not None:  # the Markdown, off the writer
            with contextlib.suppress(Exception):  # too busy: the writer renders it
                texts = [getattr(report, f) for f in markup.HTML_FIELDS]
                markup.remember(await self.service.offload(markup.rendered, texts))
        with contextlib.suppress(Exception):  # a topic deleted meanwhile: nothing to publish
            await self.service.execute(
                event_id,
                Actor(facilitator=True),
                "report.checkpoint",
                {"topic": topic_id, "authors": authors},
                internal=True,
            )

    # --- the report's sockets ----------------------------------------------------------------

    def _publish(self, event_id: str, topic_id: str, rseq: int, update: bytes, by: str) -> None:
        self._share(DocUpdate(event_id, topic_id, rseq, update, by))

    def presence(self, viewer: Viewer, field_name: str) -> None:
        self._share(DocPresence(viewer.event_id, viewer.topic_id, viewer.name, field_name, viewer.token))

    def _share(self, message: DocUpdate | DocPresence) -> None:
        """To every process's sockets of the report: through the bus, which hands this process's
        own messages back at once (live/bus.py), or straight here without one."""
        if self.bus is None:
            self.hear(message)
        else:
            self.bus.publish(message)
