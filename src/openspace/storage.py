"""Storage: the only module that speaks SQL.

`Store` is the small interface the rest of the app uses, so a PostgreSQL store can be added
without touching the rules or the views. `SQLiteStore` keeps two connections: one writer, used
only inside :meth:`SQLiteStore.transaction` (``BEGIN IMMEDIATE`` under a lock, because aiosqlite
queues every statement separately and would otherwise interleave two transactions), and one
reader, which WAL lets run beside the writer.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, closing
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import orjson

from .migrations import MIGRATIONS
from .model import (
    ENTITY_KINDS,
    ENTITY_TYPES,
    Board,
    Change,
    EntityKind,
    EntityType,
    Event,
    Topic,
    column_names,
    kind_of,
)

EVENT_COLUMNS = column_names(Event)
COLUMNS: dict[EntityKind, list[str]] = {kind: column_names(t) for kind, t in ENTITY_TYPES.items()}


def from_row(entity_type: EntityType | type[Event], row: Any) -> Any:
    """SQLite keeps booleans as 0/1: give them back as the dataclass's bools."""
    values: list[Any] = [
        bool(value) if f.type == "bool" else value for f, value in zip(fields(entity_type), row, strict=True)
    ]
    return entity_type(*values)


def quote(name: str) -> str:
    return f'"{name}"'


class Transaction(Protocol):
    """The writes one transaction may make; only the service's single writer holds one."""

    async def head_seq(self, event_id: str) -> int: ...
    async def apply(self, event_id: str, seq: int, change: Change) -> None: ...
    async def applied_result(self, event_id: str, actor: str, action_id: str) -> dict[str, Any] | None: ...
    async def record_action(self, event_id: str, actor: str, action_id: str, result: dict[str, Any]) -> None: ...
    async def insert_event(self, event: Event, secret_hash: str) -> None: ...
    async def insert_participant(self, participant_id: str, event_id: str, name: str, token_hash: str) -> None: ...
    async def rename_participant(self, participant_id: str, name: str) -> None: ...
    async def insert_facilitator_session(self, token_hash: str, event_id: str) -> None: ...
    async def delete_event(self, event_id: str) -> None: ...
    async def replace_facilitator_secret(self, event_id: str, secret_hash: str) -> None: ...


class Store(Protocol):
    """What the app needs from a database; SQLiteStore is one, a PostgreSQL store could be another."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...
    async def event_count(self) -> int: ...
    async def meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...
    async def event_by_slug(self, slug: str) -> Event | None: ...
    async def load_board(self, event_id: str) -> Board | None: ...
    async def changes_since(self, event_id: str, since: int, until: int) -> list[tuple[int, Change]] | None: ...
    async def participant_by_token(self, event_id: str, token_hash: str) -> tuple[str, str] | None: ...
    async def facilitator_session(self, event_id: str, token_hash: str) -> bool: ...
    async def facilitator_secret_hash(self, event_id: str) -> str | None: ...


class SQLiteTransaction:
    def __init__(self, db: aiosqlite.Connection, log_keep: int) -> None:
        self.db = db
        self.log_keep = log_keep

    async def head_seq(self, event_id: str) -> int:
        async with self.db.execute("SELECT head_seq FROM events WHERE id = ?", (event_id,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def apply(self, event_id: str, seq: int, change: Change) -> None:
        """Write one change's rows, its change-log entry and the event's new head, in order."""
        db = self.db
        moved = [e.id for e in change.upserts if isinstance(e, Topic)]
        if moved:  # free the cells first, so a swap never trips the one-topic-per-cell index
            marks = ",".join("?" * len(moved))
            await db.execute(f"UPDATE topics SET slot_id = NULL, space_id = NULL WHERE id IN ({marks})", moved)
        for kind in ENTITY_KINDS:
            rows = [asdict(e) for e in change.upserts if kind_of(e) == kind]
            if rows:
                await db.executemany(upsert_sql(kind), [(*row.values(), event_id) for row in rows])
        for kind in reversed(ENTITY_KINDS):
            ids = [(entity_id, event_id) for k, entity_id in change.deletes if k == kind]
            if ids:
                await db.executemany(f"DELETE FROM {kind} WHERE id = ? AND event_id = ?", ids)
        if change.event is not None:
            editable = [c for c in EVENT_COLUMNS if c not in ("id", "slug")]
            values = asdict(change.event)
            await db.execute(
                f"UPDATE events SET {', '.join(f'{quote(c)} = ?' for c in editable)} WHERE id = ?",
                [values[c] for c in editable] + [event_id],
            )
        await db.execute(
            "INSERT INTO changes (event_id, seq, kind, patch) VALUES (?, ?, ?, ?)",
            (event_id, seq, change.kind, orjson.dumps(change.to_patch()).decode()),
        )
        await db.execute("UPDATE events SET head_seq = ? WHERE id = ?", (seq, event_id))
        if seq % 100 == 0:
            if seq > self.log_keep:
                await db.execute("DELETE FROM changes WHERE event_id = ? AND seq <= ?", (event_id, seq - self.log_keep))
            # an outbox resends within minutes or hours; a week of idempotency records is ample
            await db.execute(
                "DELETE FROM applied_actions WHERE event_id = ? "
                "AND created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days')",
                (event_id,),
            )

    async def applied_result(self, event_id: str, actor: str, action_id: str) -> dict[str, Any] | None:
        async with self.db.execute(
            "SELECT result FROM applied_actions WHERE event_id = ? AND actor = ? AND action_id = ?",
            (event_id, actor, action_id),
        ) as cur:
            row = await cur.fetchone()
        return orjson.loads(row[0]) if row else None

    async def record_action(self, event_id: str, actor: str, action_id: str, result: dict[str, Any]) -> None:
        await self.db.execute(
            "INSERT INTO applied_actions (event_id, actor, action_id, result) VALUES (?, ?, ?, ?)",
            (event_id, actor, action_id, orjson.dumps(result).decode()),
        )

    async def insert_event(self, event: Event, secret_hash: str) -> None:
        values = asdict(event)
        await self.db.execute(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}, facilitator_secret_hash) "
            f"VALUES ({', '.join('?' * (len(EVENT_COLUMNS) + 1))})",
            [values[c] for c in EVENT_COLUMNS] + [secret_hash],
        )

    async def insert_participant(self, participant_id: str, event_id: str, name: str, token_hash: str) -> None:
        await self.db.execute(
            "INSERT INTO participants (id, event_id, name, token_hash) VALUES (?, ?, ?, ?)",
            (participant_id, event_id, name, token_hash),
        )

    async def rename_participant(self, participant_id: str, name: str) -> None:
        await self.db.execute("UPDATE participants SET name = ? WHERE id = ?", (name, participant_id))

    async def replace_facilitator_secret(self, event_id: str, secret_hash: str) -> None:
        await self.db.execute("UPDATE events SET facilitator_secret_hash = ? WHERE id = ?", (secret_hash, event_id))
        await self.db.execute("DELETE FROM facilitator_sessions WHERE event_id = ?", (event_id,))

    async def delete_event(self, event_id: str) -> None:
        """Everything of the event goes with it: every table refers to events ON DELETE CASCADE."""
        await self.db.execute("DELETE FROM events WHERE id = ?", (event_id,))

    async def insert_facilitator_session(self, token_hash: str, event_id: str) -> None:
        await self.db.execute(
            "INSERT INTO facilitator_sessions (token_hash, event_id) VALUES (?, ?)", (token_hash, event_id)
        )


def upsert_sql(kind: EntityKind) -> str:
    columns = [*COLUMNS[kind], "event_id"]
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in COLUMNS[kind] if c != "id")
    return (
        f"INSERT INTO {kind} ({', '.join(map(quote, columns))}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT(id) DO UPDATE SET {updates} WHERE {kind}.event_id = excluded.event_id"
    )


class SQLiteStore:
    def __init__(self, path: str | Path, log_keep: int = 1000) -> None:
        self.path = str(path)
        self.log_keep = log_keep
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = FULL")
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute("PRAGMA busy_timeout = 5000")
        return db

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self._migrate(self._writer)
        self._reader = await self._connect()

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        async with db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            # executescript commits on its own; user_version moves with the schema it describes
            await db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    async def close(self) -> None:
        for db in (self._writer, self._reader):
            if db is not None:
                await db.close()
        self._writer = self._reader = None

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader is not None, "store is not open"
        return self._reader

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteTransaction]:
        """One writer at a time; commits on success, rolls back on any exception."""
        assert self._writer is not None, "store is not open"
        db = self._writer
        async with self._lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield SQLiteTransaction(db, self.log_keep)
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self.reader.execute(sql, tuple(params)) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self.reader.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self.transaction() as tx:
            await tx.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))

    async def event_count(self) -> int:
        row = await self._one("SELECT count(*) FROM events")
        return int(row[0]) if row else 0

    async def event_by_slug(self, slug: str) -> Event | None:
        row = await self._one(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE slug = ?", (slug,))
        return from_row(Event, row) if row else None

    async def load_board(self, event_id: str) -> Board | None:
        row = await self._one(f"SELECT {', '.join(EVENT_COLUMNS)}, head_seq FROM events WHERE id = ?", (event_id,))
        if row is None:
            return None
        event, seq = from_row(Event, row[:-1]), int(row[-1])
        collections: dict[str, Any] = {}
        for kind, entity_type in ENTITY_TYPES.items():
            cols = ", ".join(map(quote, COLUMNS[kind]))
            rows = await self._all(f"SELECT {cols} FROM {kind} WHERE event_id = ?", (event_id,))
            collections[kind] = {r[0]: from_row(entity_type, r) for r in rows}
        return Board(event=event, seq=seq, **collections)

    async def changes_since(self, event_id: str, since: int, until: int) -> list[tuple[int, Change]] | None:
        """Changes after `since` up to `until`, or None when the log no longer reaches back that far."""
        rows = await self._all(
            "SELECT seq, kind, patch FROM changes WHERE event_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
            (event_id, since, until),
        )
        if len(rows) != until - since or (rows and rows[0][0] != since + 1):
            return None
        return [(int(seq), Change.from_patch(kind, orjson.loads(patch))) for seq, kind, patch in rows]

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


def backup(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while the server keeps writing, plus the photos.

    The backup API copies pages under the database's own locks, so it sees whole transactions
    only: every change acknowledged before it started is in the copy.
    """
    if not source.is_file():
        raise FileNotFoundError(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst, pages=256)
    finally:
        dst.close()
        src.close()
    photos = Path(f"{source}.files")
    if photos.is_dir():
        shutil.copytree(photos, Path(f"{target}.files"), dirs_exist_ok=True)


def restore(backup_file: Path, target: Path) -> None:
    """A database for a fresh server, from a backup, with a new epoch.

    The epoch names the history that sequence numbers belong to; after a restore, a client's
    remembered position may point into changes the backup never saw, so it must get a snapshot.
    """
    if target.exists():
        raise FileExistsError(target)
    try:
        backup(backup_file, target)
        with closing(sqlite3.connect(target)) as db, db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
                raise ValueError(f"{backup_file} is not an openspace database")
            db.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (secrets.token_urlsafe(32),))
    except (ValueError, sqlite3.DatabaseError):
        target.unlink(missing_ok=True)  # leave nothing half-made behind
        shutil.rmtree(f"{target}.files", ignore_errors=True)
        raise
        target.unlink(missing_ok=True)
        shutil.rmtree(f"{target}.files", ignore_errors=True)
        raise
    db.close()
