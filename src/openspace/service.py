"""The one write path: validate, write in one transaction, log with a sequence number, then publish.

Every write, from a form post, a websocket message or the CLI, becomes a job on one queue. A
single writer task takes whatever jobs are waiting and hands them to the store as one unit of
work: on the database's thread, in one ``BEGIN IMMEDIATE`` transaction, each job is decided on
the latest board (the rules are pure) and written, and the batch commits once. A busy
marketplace then costs one fsync and one trip to the database thread per batch rather than per
change. Only after the commit are the callers answered, the cached boards replaced and the
changes published, so nobody is ever told "saved" about something a crash could still lose.

Publishing hands each committed change, as it is (no wire frames: those are `live/`'s), to a
:class:`~openspace.broadcast.Publisher`, the bus. The bus brings it back to every server process, this one included,
and what it delivers keeps the cached boards current (:meth:`Service.observe`): a board another
process changed is never served stale, and nothing here assumes there is one process.

If the commit fails (disk full, I/O error), every job in the batch is retried alone, so one bad
job cannot sink the others, and a job that still fails is answered "could not save": nothing is
acknowledged, and the cached boards are dropped so the next read comes from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from openspace.batching import Ahead, Batch, Job, JobFn, Outcome, ask_ahead, board_in, run_all
from openspace.broadcast import Committed, Notice, Publisher
from openspace.domain import harvest, markup, rules
from openspace.domain.effects import Effect, FilesRemoved, NameForgotten, NameSet
from openspace.domain.errors import N_, NotFound, Unavailable
from openspace.domain.model import Board, Change, Entity, Event, apply
from openspace.domain.patches import applied, slim_patch
from openspace.outward import notify
from openspace.security import hash_token, new_secret
from openspace.store.base import Store, Transaction

if TYPE_CHECKING:  # the photos are handed in by the app; the write path only removes their files
    from openspace.media import PhotoStore

log = logging.getLogger(__name__)

SLUG_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: slugs get typed from a projector
MAX_BATCH = 256


def new_id() -> str:
    return secrets.token_urlsafe(9)


def new_slug() -> str:
    return "".join(secrets.choice(SLUG_ALPHABET) for _ in range(8))


class Service:
    def __init__(self, store: Store, bus: Publisher, photos: PhotoStore | None = None) -> None:
        self.store = store
        self.bus = bus
        self.photos = photos  # whose files a change's FilesRemoved effects remove, after commit
        self.on_commit: list[Callable[[], None]] = []  # told after a commit that logged changes (metrics)
        # told after a commit that may have queued webhook messages: the delivery worker looks then,
        # not after every commit (a read each, which most commits queue nothing for)
        self.on_queued: list[Callable[[], None]] = []
        self.boards: dict[str, Board] = {}
        # called inside the transaction for each change written: co-writing follows a report
        # saved by a form or restored into its shared document (cowriting.py), in the same commit
        self.in_transaction: list[Callable[[Transaction, Batch, str, Change], None]] = []
        # and before a command is decided: a report another process typed into is read fresh
        self.before_deciding: list[Callable[[Transaction, Board, str, rules.Args], Board]] = []
        self.forgetting: list[Callable[[], None]] = []  # caches to drop when a commit failed
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._put_off: list[Job] = []  # jobs a batch left to the next (batching.ask_ahead)
        self.on_put_off: list[Callable[[int], None]] = []  # told how many, after such a batch (metrics)
        self.on_durable: list[Callable[[list[float]], None]] = []  # told each job's queued → committed (metrics)
        self._writer: asyncio.Task[None] | None = None
        # where heavy preparation runs (jobs.JobPool.run), so the writer never renders Markdown
        self.offload: Callable[..., Any] | None = None
        # told, after commit, the event where a name was erased: built exports may hold it
        self.erased: list[Callable[[str], None]] = []

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="openspace-writer")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    # --- reading ------------------------------------------------------------------------------

    async def board(self, event_id: str) -> Board:
        board = self.boards.get(event_id)
        if board is None:
            board = await self.store.load_board(event_id)
            if board is None:
                raise NotFound(N_("This event does not exist."))
            self.boards.setdefault(event_id, board)
        return board

    async def event(self, slug: str) -> Event | None:
        return await self.store.event_by_slug(slug)

    async def refresh(self, event_id: str) -> Board:
        """The board as the store has it now, cached if it is newer than the cached one."""
        board = await self.store.load_board(event_id)
        if board is None:
            raise NotFound(N_("This event does not exist."))
        cached = self.boards.get(event_id)
        if cached is None or cached.seq < board.seq:
            self.boards[event_id] = board
            return board
        return cached

    def known_head(self, event_id: str) -> int | None:
        """The sequence number of the cached board, if one is cached (where the bus's feed starts)."""
        board = self.boards.get(event_id)
        return None if board is None else board.seq

    def observe(self, committed: Committed) -> None:
        """A committed change, from this process or another, as the bus delivered it in order.

        A cached board one step behind takes the change; one already there (our own commit, or read
        fresh from the store) stays; one further behind is dropped and read again when next asked.
        """
        board = self.boards.get(committed.event_id)
        if board is None or board.seq >= committed.seq:
            return
        after = None
        if board.seq == committed.seq - 1:
            after = applied(board, committed.change, committed.patch, committed.seq)
        if after is None:
            del self.boards[committed.event_id]
        else:
            self.boards[committed.event_id] = after

    def forget(self, event_id: str) -> None:
        """Drop a cached board (the event was deleted, or the feed lost track of it)."""
        self.boards.pop(event_id, None)

    # --- writing ------------------------------------------------------------------------------

    async def submit(self, run: JobFn, ahead: Ahead | None = None) -> Any:
        """Queue a job for the writer; `ahead` says what it will ask the store first (batching.py)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Job(run, future, ahead or Ahead()))
        return await future

    async def execute(
        self,
        event_id: str,
        actor: rules.Actor,
        name: str,
        args: rules.Args,
        action_id: str | None = None,
        *,
        internal: bool = False,
    ) -> dict[str, Any]:
        """Run one command. A repeated `action_id` from the same person returns the first answer."""
        if name == "report.save" and self.offload is not None:  # render outside the transaction
            markup.remember(await self.offload(harvest.rendered_texts, args))

        def run(tx: Transaction, batch: Batch) -> dict[str, Any]:
            if action_id:
                prior = tx.applied_result(event_id, actor.key, action_id)
                if prior is not None:
                    return prior
            board = board_in(tx, batch, event_id)
            for prepare in self.before_deciding:
                board = batch.boards[event_id] = prepare(tx, board, name, args)
            seq = board.seq + 1
            now = datetime.now(UTC).isoformat(timespec="seconds")
            who = actor
            if actor.participant_id:  # the name as it is now: another tab may have renamed or erased it
                current = tx.participant_name(actor.participant_id)
                who = actor if current is None else replace(actor, name=current)
            context = rules.Context(actor=who, new_id=new_id, seq=seq, now=now)
            change = rules.decide(board, name, args, context, internal=internal)
            apply_effects(tx, batch, event_id, change.effects)
            if change.upserts or change.deletes or change.event:
                patch = slim_patch(board, change)  # only what changed, for the log and the screens
                tx.apply(event_id, seq, change, patch)
                batch.boards[event_id] = apply(board, change, seq)
                batch.published.append((event_id, seq, change, patch))
                if notify(tx, batch.boards[event_id], seq, change):  # webhooks' outbox, in this transaction
                    batch.queued = True
                for follow in self.in_transaction:
                    follow(tx, batch, event_id, change)
            else:  # accepted, but nothing to change (already there): no log entry, no broadcast
                seq = board.seq
            result = {"seq": seq, **change.result}
            if action_id:
                tx.record_action(event_id, actor.key, action_id, result)
            return result

        ahead = Ahead(event_id, (actor.key, action_id) if action_id else None, actor.participant_id)
        result: dict[str, Any] = await self.submit(run, ahead)
        return result

    async def create_event(self, args: rules.Args) -> tuple[Event, str]:
        """Create an event; returns it with the facilitator secret, which is stored only hashed."""
        secret = new_secret()
        base = Event(id=new_id(), slug=new_slug(), name="")
        event = rules.event_fields(args, base)

        def run(tx: Transaction, batch: Batch) -> Event:
            tx.insert_event(event, hash_token(secret))
            tx.lock_event(event.id)  # a command in the same batch may write to it next
            batch.boards[event.id] = Board(event=event)
            return event

        created: Event = await self.submit(run)
        return created, secret

    async def join(self, event_id: str, name: str) -> tuple[str, str]:
        """A participant joins with a display name; returns their id and their cookie token."""
        name = rules.text({"name": name}, "name")
        participant_id, token = new_id(), new_secret()

        def run(tx: Transaction, batch: Batch) -> None:
            tx.insert_participant(participant_id, event_id, name, hash_token(token))

        await self.submit(run)
        return participant_id, token

    async def import_event(self, event_fields: dict[str, Any], entities: list[Entity]) -> tuple[Event, str]:
        """A new event from an exported document, written whole in one transaction (or not at all)."""
        secret = new_secret()
        event = Event(id=new_id(), slug=new_slug(), **event_fields)
        change = Change("event.imported", upserts=tuple(entities))

        def run(tx: Transaction, batch: Batch) -> Event:
            tx.insert_event(event, hash_token(secret))
            tx.lock_event(event.id)
            tx.apply(event.id, 1, change, change.to_patch())
            batch.boards[event.id] = apply(Board(event=event), change, 1)
            return event

        created: Event = await self.submit(run)
        return created, secret

    async def delete_event(self, event_id: str) -> None:
        """Delete the event and all its personal data (its photos' files too, after commit); its
        screens are told and disconnected."""

        def run(tx: Transaction, batch: Batch) -> None:
            tx.lock_event(event_id)
            board = tx.load_board(event_id)
            tx.delete_event(event_id)
            batch.boards.pop(event_id, None)
            if board is not None:
                apply_effects(tx, batch, event_id, (FilesRemoved(tuple(p.name for p in board.photos.values())),))

        await self.submit(run)
        self.boards.pop(event_id, None)
        await self.store.checkpoint()  # the WAL must not keep the deleted rows' pages
        self.bus.publish(Notice(event_id, "deleted"))  # every process closes its screens

    async def rotate_facilitator_secret(self, event_id: str) -> str:
        """A new secret; all facilitator sessions end (the caller opens one for whoever rotated)."""
        secret = new_secret()

        def run(tx: Transaction, batch: Batch) -> None:
            tx.replace_facilitator_secret(event_id, hash_token(secret))

        await self.submit(run)
        self.bus.publish(Notice(event_id, "reauth"))  # facilitator screens on every process sign in again
        return secret

    async def open_facilitator_session(self, event_id: str) -> str:
        token = new_secret()

        def run(tx: Transaction, batch: Batch) -> None:
            tx.insert_facilitator_session(hash_token(token), event_id)

        await self.submit(run)
        return token

    async def _write_loop(self) -> None:
        while True:
            jobs, self._put_off = self._put_off, []  # first those another worker's lock put off
            if not jobs:
                jobs = [await self._queue.get()]
            while not self._queue.empty() and len(jobs) < MAX_BATCH:
                jobs.append(self._queue.get_nowait())
            try:
                await self._write(jobs)
            except Exception:
                # the whole batch failed to commit: isolate the culprit by running each alone
                self.forget_all()
                for job in jobs:
                    try:
                        await self._write([job])
                    except Exception:
                        log.exception("write failed")
                        self.forget_all()
                        if not job.future.done():
                            job.future.set_exception(Unavailable(N_("Could not save just now. Please try again.")))

    def forget_all(self) -> None:
        """A commit failed: nothing cached can be trusted, boards nor co-written documents."""
        self.boards.clear()
        for drop in self.forgetting:
            drop()

    async def _write(self, jobs: list[Job]) -> None:
        jobs = [job for job in jobs if not job.future.done()]  # not those whose caller went away
        if not jobs:
            return
        batch = Batch(cached=dict(self.boards))

        put_off: list[Job] = []  # another worker holds their event: they go in the next batch

        def work(tx: Transaction) -> list[Outcome]:
            outcomes: list[Outcome] = []
            put_off[:] = ask_ahead(tx, jobs, batch.cached)
            run_all(tx, batch, jobs, put_off, outcomes)
            if put_off:  # a second chance before the batch writes (ask_ahead's `again`)
                tried = put_off[:]
                put_off[:] = ask_ahead(tx, tried, batch.cached, again=True)
                run_all(tx, batch, tried, put_off, outcomes)
            return outcomes

        outcomes = await self.store.write(work)
        if self.on_durable:
            now = time.monotonic()
            for told in self.on_durable:
                told([now - job.queued for job, _, _ in outcomes])
        self._put_off.extend(put_off)
        if put_off:
            for tell in self.on_put_off:
                tell(len(put_off))
        # committed: only now does anyone hear about it. The cached boards already hold this
        # batch's changes when the bus brings them back, so `observe` leaves them be.
        self.boards.update(batch.boards)
        for then in batch.after:
            then()
        for job, value, error in outcomes:
            if job.future.done():
                continue
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(value)
        for event_id, seq, change, patch in batch.heard:
            self.bus.hear(Committed(event_id, seq, change, patch))
        for event_id, seq, change, patch in batch.published:
            self.bus.publish(Committed(event_id, seq, change, patch))
            if any(isinstance(effect, NameForgotten) for effect in change.effects):
                for forget in self.erased:
                    forget(event_id)
        for notice in batch.notices:
            self.bus.publish(notice)
        if batch.published:
            for wake in self.on_commit:
                wake()
        if batch.queued:
            for wake in self.on_queued:
                wake()
        self.remove_files(batch.after_commit)

    def remove_files(self, effects: list[Effect]) -> None:
        """The effects on files, once no committed row names them: files are written before their
        rows commit and removed only after, so a crash between leaves a stray file, never a
        row that points at nothing (and a backup copies the files around the database)."""
        for effect in effects:
            if isinstance(effect, FilesRemoved) and self.photos is not None:
                self.photos.delete_all(effect.names)


def apply_effects(tx: Transaction, batch: Batch, event_id: str, effects: tuple[Effect, ...]) -> None:
    """The one place a change's effects beyond the board are applied: the store writes those it
    keeps (a participant's name) in this transaction; effects on files wait for the commit."""
    if effects:
        tx.apply_effects(event_id, effects)
        batch.after_commit.extend(e for e in effects if isinstance(e, FilesRemoved))
        batch.notices.extend(Notice(event_id, "renamed", e.participant_id) for e in effects if isinstance(e, NameSet))
