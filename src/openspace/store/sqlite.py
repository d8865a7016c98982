"""The SQLite store: `SQLiteStore` and `SQLiteTransaction`, implementing store/base.py's Protocols.

The rest of the app sees only those Protocols, through `store.open_store(url)`. `SQLiteStore`
keeps two connections, each on a thread of its own. The writer is a plain `sqlite3` connection
on a one-thread executor: a whole transaction (``BEGIN IMMEDIATE``, every job of a batch,
``COMMIT``) runs there as *one* call, because a hop to a database thread and back through the
event loop costs far more than a statement, and aiosqlite makes one hop per statement (measured:
about seven per action, which capped durable writes near 1,100 a second; see
docs/performance.md). The single thread also serialises writers, so the per-event lock a
transaction takes (`lock_event`) only reads the event's head. The reader is aiosqlite, beside
the writer under WAL: reads are few and small, and mostly served from the service's cached boards.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson

from openspace.domain.effects import Effect, NameForgotten, NameSet
from openspace.domain.model import (
    ENTITY_KINDS,
    ENTITY_TYPES,
    Board,
    Change,
    EntityKind,
    EntityType,
    Event,
    Topic,
    kind_of,
)
from openspace.domain.rows import as_row, column_names
from openspace.store import outbound
from openspace.store.base import Transaction
from openspace.store.common import PATCHES_SQL, CommonTransaction, logged
from openspace.store.migrations import MIGRATIONS
from openspace.store.outbound import SQLiteOutbound
from openspace.store.sqlite_backup import backup as backup  # the CLI's and tests' way in, by file
from openspace.store.sqlite_backup import private
from openspace.store.sqlite_backup import restore as restore

EVENT_COLUMNS = column_names(Event)
COLUMNS: dict[EntityKind, list[str]] = {kind: column_names(t) for kind, t in ENTITY_TYPES.items()}
# secure_delete: deleted rows are overwritten with zeros, so erased names and deleted events leave
# no fragments in free pages (issue #21, case 9)
PRAGMAS = ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "busy_timeout = 5000", "secure_delete = ON")
T = TypeVar("T")


def from_row(entity_type: EntityType | type[Event], row: Any) -> Any:
    """SQLite keeps booleans as 0/1: give them back as the dataclass's bools."""
    values: list[Any] = [
        bool(value) if f.type == "bool" else value for f, value in zip(fields(entity_type), row, strict=True)
    ]
    return entity_type(*values)


def quote(name: str) -> str:
    return f'"{name}"'


# a board is read the same way by the reader and inside a write transaction
BOARD_EVENT_SQL = f"SELECT {', '.join(EVENT_COLUMNS)}, head_seq FROM events WHERE id = ?"
BOARD_KIND_SQL = {
    kind: f"SELECT {', '.join(map(quote, COLUMNS[kind]))} FROM {kind} WHERE event_id = ?" for kind in ENTITY_TYPES
}


def board_from_rows(event_row: Any, rows: dict[EntityKind, list[Any]]) -> Board:
    event, seq = from_row(Event, event_row[:-1]), int(event_row[-1])
    collections = {kind: {r[0]: from_row(ENTITY_TYPES[kind], r) for r in rows[kind]} for kind in ENTITY_TYPES}
    return Board(event=event, seq=seq, **collections)


class SQLiteTransaction(CommonTransaction):
    """One transaction on the writer's thread.

    The rows a change touches are written at once (the next job's checks may depend on them),
    but its change-log entry, the event's new head and the action's answer are kept until the
    batch ends and then written with one `executemany` each. Every statement hands Python's
    lock to the event loop and waits to get it back, and under load that wait, not SQLite, is
    what a batch costs; these three were half of a job's statements.
    """

    def __init__(self, db: sqlite3.Connection, log_keep: int) -> None:
        self.db = db
        self.log_keep = log_keep
        self.log: list[tuple[str, int, str, str]] = []  # change-log rows
        self.heads: dict[str, int] = {}  # event -> its new head
        self.answers: dict[tuple[str, str, str], str] = {}  # (event, actor, action id) -> result JSON
        self.locked: set[str] = set()  # events this transaction has locked (base.Transaction's rule)
        self.outbound = SQLiteOutbound(db)  # webhooks' outbox and calendars, in this transaction (#18)

    def flush(self) -> None:
        """Write what was kept for the end of the batch: before COMMIT, or before a statement that
        must see it."""
        db = self.db
        if self.log:
            db.executemany("INSERT INTO changes (event_id, seq, kind, patch) VALUES (?, ?, ?, ?)", self.log)
        if self.heads:
            db.executemany("UPDATE events SET head_seq = ? WHERE id = ?", [(s, e) for e, s in self.heads.items()])
        if self.answers:
            db.executemany(
                "INSERT INTO applied_actions (event_id, actor, action_id, result) VALUES (?, ?, ?, ?)",
                [(*key, result) for key, result in self.answers.items()],
            )
        self.log, self.heads, self.answers = [], {}, {}

    def lock_event(self, event_id: str) -> int:
        """SQLite has one writer, and this transaction holds it (BEGIN IMMEDIATE): every event is
        locked already. What is left is the head, and the note that the lock was asked for."""
        self.locked.add(event_id)
        return self.head_seq(event_id)

    def head_seq(self, event_id: str) -> int:
        if event_id in self.heads:
            return self.heads[event_id]
        row = self.db.execute("SELECT head_seq FROM events WHERE id = ?", (event_id,)).fetchone()
        return int(row[0]) if row else 0

    def load_board(self, event_id: str) -> Board | None:
        row = self.db.execute(BOARD_EVENT_SQL, (event_id,)).fetchone()
        if row is None:
            return None
        rows = {kind: self.db.execute(sql, (event_id,)).fetchall() for kind, sql in BOARD_KIND_SQL.items()}
        return board_from_rows(row, rows)

    def apply(self, event_id: str, seq: int, change: Change, patch: dict[str, Any]) -> None:
        """Write one change's rows, its change-log entry (`patch`, which is `change.to_patch()`:
        built once, for the log here and for the frames after commit) and the event's new head."""
        if event_id not in self.locked:  # a second store's writers would race for the seq: say so here
            raise RuntimeError(f"change {seq} of event {event_id} written without lock_event")
        db = self.db
        moved = [e.id for e in change.upserts if isinstance(e, Topic)]
        if len(moved) > 1:  # a swap, say: free the cells first, so it never trips the one-topic-per-cell index
            marks = ",".join("?" * len(moved))
            db.execute(  # only this event's: an id another event has is never touched
                f"UPDATE topics SET slot_id = NULL, space_id = NULL WHERE event_id = ? AND id IN ({marks})",
                [event_id, *moved],
            )
        for kind in ENTITY_KINDS:
            rows = [as_row(e) for e in change.upserts if kind_of(e) == kind]
            if rows:
                db.executemany(upsert_sql(kind), [(*row.values(), event_id) for row in rows])
        for kind in reversed(ENTITY_KINDS):
            ids = [(entity_id, event_id) for k, entity_id in change.deletes if k == kind]
            if ids:
                db.executemany(f"DELETE FROM {kind} WHERE id = ? AND event_id = ?", ids)
        if change.event is not None:
            editable = [c for c in EVENT_COLUMNS if c not in ("id", "slug")]
            values = as_row(change.event)
            db.execute(
                f"UPDATE events SET {', '.join(f'{quote(c)} = ?' for c in editable)} WHERE id = ?",
                [values[c] for c in editable] + [event_id],
            )
        self.log.append((event_id, seq, change.kind, orjson.dumps(patch).decode()))
        self.heads[event_id] = seq
        if seq % 100 == 0:
            self.flush()
            if seq > self.log_keep:
                db.execute("DELETE FROM changes WHERE event_id = ? AND seq <= ?", (event_id, seq - self.log_keep))
            # an outbox resends within minutes or hours; a week of idempotency records is ample
            db.execute(
                "DELETE FROM applied_actions WHERE event_id = ? "
                "AND created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days')",
                (event_id,),
            )

    def insert_event(self, event: Event, secret_hash: str) -> None:
        values = as_row(event)
        self.db.execute(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}, facilitator_secret_hash) "
            f"VALUES ({', '.join('?' * (len(EVENT_COLUMNS) + 1))})",
            [values[c] for c in EVENT_COLUMNS] + [secret_hash],
        )

    def apply_effects(self, event_id: str, effects: tuple[Effect, ...]) -> None:
        """The effects kept in the database: a participant's name, and the answers that repeat it.
        Files are the service's, after commit."""
        for effect in effects:
            if isinstance(effect, NameSet):
                self.rename_participant(effect.participant_id, effect.name)
            elif isinstance(effect, NameForgotten):
                self.forget_names_in_results(event_id, effect.actors)

    def forget_names_in_results(self, event_id: str, actors: tuple[str, ...]) -> None:
        """Answers are kept for a week so that a resent action gets its first answer again; an
        erased name must not live on in the answers to earlier renames. Nor in the change log:
        it is compacted to nothing before the erasure, so a screen resuming from before it gets
        a snapshot, which no longer has the name (issue #21, case 9)."""
        self.flush()
        self.db.execute("DELETE FROM changes WHERE event_id = ?", (event_id,))
        marks = ",".join("?" * len(actors))
        self.db.execute(
            f"UPDATE applied_actions SET result = json_remove(result, '$.name') "
            f"WHERE event_id = ? AND actor IN ({marks}) AND json_extract(result, '$.name') IS NOT NULL",
            (event_id, *actors),
        )

    def replace_facilitator_secret(self, event_id: str, secret_hash: str) -> None:
        self.db.execute("UPDATE events SET facilitator_secret_hash = ? WHERE id = ?", (secret_hash, event_id))
        self.db.execute("DELETE FROM facilitator_sessions WHERE event_id = ?", (event_id,))

    def delete_event(self, event_id: str) -> None:
        """Everything of the event goes with it: every table refers to events ON DELETE CASCADE."""
        self.flush()
        self.db.execute("DELETE FROM events WHERE id = ?", (event_id,))

    def insert_facilitator_session(self, token_hash: str, event_id: str) -> None:
        self.db.execute("INSERT INTO facilitator_sessions (token_hash, event_id) VALUES (?, ?)", (token_hash, event_id))

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))


@functools.cache
def upsert_sql(kind: EntityKind) -> str:
    columns = [*COLUMNS[kind], "event_id"]
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in COLUMNS[kind] if c != "id")
    return (
        f"INSERT INTO {kind} ({', '.join(map(quote, columns))}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT(id) DO UPDATE SET {updates} WHERE {kind}.event_id = excluded.event_id"
    )


def connect(path: str) -> sqlite3.Connection:
    # autocommit mode (isolation_level=None): transactions are exactly the BEGIN/COMMIT we issue
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        db.execute(f"PRAGMA {pragma}")
    return db


def migrate(db: sqlite3.Connection) -> None:
    current = int(db.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
        # executescript commits on its own; user_version moves with the schema it describes
        db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")


class SQLiteStore:
    def __init__(self, path: str | Path, log_keep: int = 1000) -> None:
        self.path = str(path)
        self.log_keep = log_keep
        self._writer: sqlite3.Connection | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._reader: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            private(Path(self.path))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="openspace-db-writer")
        loop = asyncio.get_running_loop()
        self._writer = await loop.run_in_executor(self._pool, connect, self.path)
        await loop.run_in_executor(self._pool, migrate, self._writer)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in PRAGMAS:
            await self._reader.execute(f"PRAGMA {pragma}")

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
        if self._pool is not None:
            writer = self._writer
            if writer is not None:
                await asyncio.get_running_loop().run_in_executor(self._pool, writer.close)
            self._pool.shutdown(wait=True)
        self._writer = self._reader = self._pool = None

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader is not None, "store is not open"
        return self._reader

    async def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it to nothing: after an event is deleted,
        its rows must not live on in the WAL's older page images (issue #21, case 9)."""
        assert self._pool is not None and self._writer is not None, "store is not open"
        writer = self._writer
        await asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        )

    async def write(self, work: Callable[[Transaction], T]) -> T:
        """Run `work` in one transaction on the writer's thread: committed if it returns, rolled
        back if it raises. Its result is returned only after the commit."""
        assert self._pool is not None and self._writer is not None, "store is not open"
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._transact, self._writer, work)

    def _transact(self, db: sqlite3.Connection, work: Callable[[Transaction], T]) -> T:
        db.execute("BEGIN IMMEDIATE")
        try:
            tx = SQLiteTransaction(db, self.log_keep)
            result = work(tx)
            tx.flush()
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # also when COMMIT itself failed (disk full): never leave it open
                db.execute("ROLLBACK")
            raise
        return result

    # Every read runs to its end in one call on the reader's thread. A cursor left open between
    # awaits keeps the connection's read snapshot open, and a query queued meanwhile would be
    # answered from that older snapshot: a page loaded right after its event was created or a
    # participant joined could miss them (seen once in 200 under load).
    async def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self.reader.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        return list(await self.reader.execute_fetchall(sql, tuple(params)))

    async def meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self.write(lambda tx: tx.set_meta(key, value))

    async def event_count(self) -> int:
        row = await self._one("SELECT count(*) FROM events")
        return int(row[0]) if row else 0

    async def event_by_slug(self, slug: str) -> Event | None:
        row = await self._one(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE slug = ?", (slug,))
        return from_row(Event, row) if row else None

    async def events_ending_before(self, day: str) -> list[Event]:
        rows = await self._all(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE ends_on < ?", (day,))
        return [from_row(Event, row) for row in rows]

    async def load_board(self, event_id: str) -> Board | None:
        row = await self._one(BOARD_EVENT_SQL, (event_id,))
        if row is None:
            return None
        return board_from_rows(row, {k: await self._all(sql, (event_id,)) for k, sql in BOARD_KIND_SQL.items()})

    async def patches_since(self, event_id: str, since: int, until: int) -> list[tuple[int, str, Any]] | None:
        return logged(await self._all(PATCHES_SQL, (event_id, since, until)), since, until)

    async def participant_by_token(self, event_id: str, token_hash: str) -> tuple[str, str] | None:
        row = await self._one(
            "SELECT id, name FROM participants WHERE event_id = ? AND token_hash = ?", (event_id, token_hash)
        )
        return (str(row[0]), str(row[1])) if row else None

    async def facilitator_session(self, event_id: str, token_hash: str) -> bool:
        row = await self._one(
            "SELECT 1 FROM facilitator_sessions WHERE event_id = ? AND token_hash = ?", (event_id, token_hash)
        )
        return row is not None

    async def facilitator_secret_hash(self, event_id: str) -> str | None:
        row = await self._one("SELECT facilitator_secret_hash FROM events WHERE id = ?", (event_id,))
        return str(row[0]) if row else None

    async def outward(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """A read of the outward tables (#18), with one of the queries in `store.outbound`."""
        assert sql in outbound.READS, "only the outbound module's own queries"
        return await self._all(sql, params)
