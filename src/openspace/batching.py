"""What the single writer hands the store at once: a batch of jobs, and what they will ask first.

The service (service.py) runs every waiting job in one transaction. Each job starts with the same
questions: lock the event it writes to and see whether the board in memory is still the latest,
whether its action id was applied before, the current name of the participant acting. On SQLite
each question is a call inside the process; on PostgreSQL each is a round trip to the server,
several per change, and on two cores shared with the database those trips were what capped the
durable rate (issue #17). So a job says up front what it will ask (`Ahead`), and the transaction
answers the whole batch's questions in one query each (`Transaction.prepare`, through `ask_ahead`) before any job runs,
locking the batch's events in one statement, in the order of their ids: two workers then also
never lock the same two events in opposite orders. An event another worker holds at that moment
is not waited for: its jobs are asked once more, without waiting, once the batch's other jobs
have run, and only if it is still held do they go in the next batch, which does wait for it
(`ask_ahead`). So one busy event no longer holds back the rest of a batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openspace.broadcast import Notice
from openspace.domain.effects import Effect
from openspace.domain.errors import N_, DomainError, NotFound
from openspace.domain.model import Board, Change
from openspace.domain.patches import applied
from openspace.store.base import CATCH_UP, Asked, Transaction

Logged = tuple[str, int, Change, dict[str, Any]]  # a committed change: event, seq, change, its patch


@dataclass
class Batch:
    """What one transaction decided: tentative boards and the changes to publish after commit."""

    cached: dict[str, Board]  # the service's boards when the batch started (read, never written)
    boards: dict[str, Board] = field(default_factory=dict)
    published: list[Logged] = field(default_factory=list)  # the batch's own changes
    # another process's changes this batch read from the log to catch its boards up (`caught_up`):
    # heard here before the batch's own, which come after them
    heard: list[Logged] = field(default_factory=list)
    after_commit: list[Effect] = field(default_factory=list)  # effects on files, for after the commit
    docs: dict[str, Any] = field(default_factory=dict)  # reports' shared documents as changed (cowriting.py)
    after: list[Callable[[], None]] = field(default_factory=list)  # run after commit, before publishing
    notices: list[Notice] = field(default_factory=list)  # published after the changes (a name set)
    queued: bool = False  # whether a change may have queued webhook messages (outward.notify)


# runs on the database thread inside the transaction: plain calls, no awaiting, no event-loop state
JobFn = Callable[[Transaction, Batch], Any]


@dataclass(frozen=True)
class Ahead:
    """What a job will ask the store before anything else (see the module): read for the whole
    batch at once. Leaving a field empty costs nothing but that question's own round trip."""

    event_id: str | None = None  # the event it locks and writes to
    action: tuple[str, str] | None = None  # (actor key, action id): applied before?
    participant_id: str | None = None  # whose current name it reads


@dataclass
class Job:
    run: JobFn
    future: asyncio.Future[Any]
    ahead: Ahead = field(default_factory=Ahead)
    put_off: bool = False  # its event was locked by another process once: the next batch waits for it
    queued: float = field(default_factory=time.monotonic)  # for how long it waited to be durable (metrics)


def ask_ahead(tx: Transaction, jobs: list[Job], cached: dict[str, Board], again: bool = False) -> list[Job]:
    """The batch's questions to the store, asked once for all its jobs; with what the log holds
    after each cached board, should another process have written its event since (`caught_up`).
    The jobs whose event another process holds are put off to the next batch, and returned:
    waiting for one event held the whole batch back (pg_ahead.TRY_LOCK_SQL).

    `again`: the jobs put off, asked once more after the batch's other jobs ran, before it
    writes. The other worker has often committed by then, and those jobs join this batch rather
    than wait a whole batch more: with two workers at 2,000 changes/s that was one job in eight.
    The transaction holds its events by then, so this ask waits for no lock at all."""
    aheads = [job.ahead for job in jobs]
    events = sorted({a.event_id for a in aheads if a.event_id})
    busy = tx.prepare(
        Asked(
            events,
            sorted({(a.event_id, *a.action) for a in aheads if a.event_id and a.action}),
            sorted({a.participant_id for a in aheads if a.participant_id}),
            {e: cached[e].seq for e in events if e in cached},
            frozenset(job.ahead.event_id for job in jobs if job.put_off and job.ahead.event_id),
            only_try=again,
        )
    )
    put_off = [job for job in jobs if job.ahead.event_id in busy]
    for job in put_off:
        job.put_off = True
    return put_off


Outcome = tuple[Job, Any, BaseException | None]  # a job run in a batch: its answer, or why it was refused


def run_all(tx: Transaction, batch: Batch, jobs: list[Job], later: list[Job], outcomes: list[Outcome]) -> None:
    """Run the jobs in order, but those put off (`later`), each outcome added to `outcomes`."""
    skipped = {id(job) for job in later}
    for job in jobs:
        if id(job) in skipped:
            continue
        try:
            outcomes.append((job, job.run(tx, batch), None))
        except DomainError as refusal:  # refused before it wrote anything: the batch goes on
            outcomes.append((job, None, refusal))


def board_in(tx: Transaction, batch: Batch, event_id: str) -> Board:
    """The board as this batch has left it so far; re-read if another process wrote meanwhile.

    The first time a transaction touches an event it takes the event's lock (`lock_event`),
    before any sequence number is assigned: a store with row locks serialises writers per event
    there, and the head it returns tells whether the cached board is still the latest.
    """
    board = batch.boards.get(event_id)
    if board is not None:
        return board
    head = tx.lock_event(event_id)
    board = batch.cached.get(event_id)
    if board is not None and board.seq < head <= board.seq + CATCH_UP:
        board = caught_up(tx, board, event_id, head, batch.heard)
    if board is None or board.seq != head:
        board = tx.load_board(event_id)
        if board is None:
            raise NotFound(N_("This event does not exist."))
    batch.boards[event_id] = board
    return board


def caught_up(tx: Transaction, board: Board, event_id: str, head: int, heard: list[Logged]) -> Board | None:
    """The cached board brought up to `head` from the change log: another process wrote the event
    since, and its changes have not come over the bus yet (with several workers on PostgreSQL,
    an event written through more than one of them), where the whole board was read again
    before. None when the log or a slim patch cannot say it all (then the board is read whole).

    What it read goes to `heard` too: after the commit this process's screens get those changes
    from it, in order before the batch's own. Otherwise the batch's own reached the feed first,
    over a hole, and the feed read the same rows from the log again to fill it (live/feed.py):
    with two workers writing the same events, 4 % of each event loop and a read each time."""
    logged = tx.patches_since(event_id, board.seq, head)
    changes = [(seq, Change.from_patch(kind, patch), patch) for seq, kind, patch in logged or ()]
    heard.extend((event_id, seq, change, patch) for seq, change, patch in changes)
    for seq, change, patch in changes:
        if (caught := applied(board, change, patch, seq)) is None:
            return None
        board = caught
    return None if logged is None else board
