"""The PostgreSQL store: the same `Store` and `Transaction` as SQLite's, for several workers on
several hosts.

Writes keep SQLite's shape: each worker's single writer runs a whole batch as *one* call on a
thread of its own, over a plain (synchronous) psycopg connection, so a batch costs one trip to
the thread and one commit. What SQLite got from having one writer in all, PostgreSQL gets from a
row lock per event: the first statement of a transaction that touches an event locks its row
(``SELECT … FOR UPDATE``), and the new head is written as ``UPDATE events SET head_seq =
head_seq + n … RETURNING head_seq``, checked against the numbers handed out. Writers of one event
on different workers therefore queue on that row, a change's number is its commit order, and a
rolled-back transaction leaves no hole (a sequence object would). ``synchronous_commit`` is on:
a change is on disk before anyone is answered.

Reads go through psycopg's async connection pool. Two workers that lock two events in opposite
order deadlock; PostgreSQL aborts one, and the service retries its jobs one by one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from openspace.domain.effects import Effect, NameForgotten, NameSet
from openspace.domain.model import Board, Change, Event, kind_of
from openspace.domain.rows import as_row
from openspace.store import outbound
from openspace.store.base import Transaction
from openspace.store.common import PATCHES_SQL, logged
from openspace.store.outbound import PostgresOutbound
from openspace.store.pg_ahead import ReadAhead
from openspace.store.pg_rows import Held, Rows
from openspace.store.pg_schema import MIGRATIONS
from openspace.store.sqlite import (
    BOARD_EVENT_SQL,
    BOARD_KIND_SQL,
    EVENT_COLUMNS,
    board_from_rows,
    from_row,
    quote,
)

T = TypeVar("T")
MIGRATION_LOCK = 7_160_514  # pg_advisory_xact_lock key: one worker migrates, the others wait

EVENT_SQL = BOARD_EVENT_SQL.replace("?", "%s")
# A batch's log, answers and heads in one statement (data-modifying CTEs, each run whatever the
# query reads): executemany sent a statement per row, and then one statement each cost the
# writer's thread its own Python for every batch (issue #17). Every event's new head is checked
# by the server against the numbers handed out: a head that is not what they add up to (never:
# the row lock forbids it) divides by zero, which fails the statement and so the commit, and the
# batch is rolled back, with no round trip to look at the heads first.
LOG_CTE = (
    "l AS (INSERT INTO changes (event_id, seq, kind, patch) "
    "SELECT r->>0, (r->>1)::bigint, r->>2, r->>3 FROM jsonb_array_elements(%s::jsonb) AS r)"
)
ANSWERS_CTE = (
    "a AS (INSERT INTO applied_actions (event_id, actor, action_id, result) "
    "SELECT r->>0, r->>1, r->>2, r->>3 FROM jsonb_array_elements(%s::jsonb) AS r ON CONFLICT DO NOTHING)"
)
HEADS_CTE = (
    "v AS (SELECT r->>0 AS id, (r->>1)::bigint AS added, (r->>2)::bigint AS head "
    "FROM jsonb_array_elements(%s::jsonb) AS r), "
    "u AS (UPDATE events AS e SET head_seq = e.head_seq + v.added FROM v WHERE e.id = v.id RETURNING e.id, e.head_seq)"
)
HEADS_CHECK = (
    "SELECT 1 / CASE WHEN (SELECT count(*) FROM v JOIN u ON u.id = v.id AND u.head_seq = v.head) "
    "= (SELECT count(*) FROM v) THEN 1 ELSE 0 END"
)


@functools.cache
def flush_sql(log: bool, answers: bool, heads: bool) -> str:
    """The one statement that writes what a batch has of the three, in this order of parameters."""
    parts = [cte for cte, present in ((LOG_CTE, log), (ANSWERS_CTE, answers), (HEADS_CTE, heads)) if present]
    return f"WITH {', '.join(parts)} {HEADS_CHECK if heads else 'SELECT 1'}"


KIND_SQL = {kind: sql.replace("?", "%s") for kind, sql in BOARD_KIND_SQL.items()}


def conninfo(url: str) -> str:
    """psycopg takes postgresql:// URLs as they are; postgres:// is the same thing."""
    return "postgresql://" + url.split("://", 1)[1] if url.startswith("postgres://") else url


class PostgresTransaction(ReadAhead):
    mark = "%s"

    """One transaction on the writer's thread (see SQLiteTransaction: same batching of the log)."""

    def __init__(self, db: psycopg.Connection[Any], log_keep: int) -> None:
        self.rows = Rows()  # what the changes wrote, sent before the next statement (pg_rows.py)
        self.connection = db
        self.db = Held(db, self.rows)
        self.outbound = PostgresOutbound(self.db)  # webhooks' outbox and calendars, in this transaction (#18)
        self.log_keep = log_keep
        self.log: list[tuple[str, int, str, str]] = []
        self.locked: dict[str, int] = {}  # events whose row this transaction holds: their head when locked
        self.heads: dict[str, int] = {}  # event -> its new head
        self.answers: dict[tuple[str, str, str], str] = {}
        self.prior: dict[tuple[str, str, str], str | None] = {}  # read ahead for the batch (pg_ahead.py)
        self.names: dict[str, str | None] = {}
        self.doc_heads: dict[str, dict[str, int]] = {}
        self.behind: dict[str, tuple[int, list[Any]]] = {}

    def lock_event(self, event_id: str) -> int:
        """Lock the event's row for the rest of the transaction; its head as it is now."""
        if event_id not in self.locked:
            row = self.db.execute("SELECT head_seq FROM events WHERE id = %s FOR UPDATE", (event_id,)).fetchone()
            self.locked[event_id] = int(row[0]) if row else 0
        return self.heads.get(event_id, self.locked[event_id])

    def flush(self) -> None:
        """The batch's log, heads and answers in one statement (`flush_sql`), sent without waiting
        for an answer: the commit that follows is the transaction's one more round trip (pipeline
        mode). Each part's rows go as one JSON array, made by orjson in C: as arrays, psycopg
        dumped every element in Python (as text, through a regular expression; in binary, a call
        each), a fifth of the writer's own time at 2,000 changes/s (issue #17; the action ids the
        reads ahead send, too: pg_ahead.py)."""
        self.rows.write(self.connection)
        params: list[str] = []
        if self.log:
            params.append(orjson.dumps(self.log).decode())
        if self.answers:
            params.append(orjson.dumps([(*key, result) for key, result in self.answers.items()]).decode())
        if self.heads:
            heads = [(e, head - self.locked.get(e, 0), head) for e, head in self.heads.items()]
            params.append(orjson.dumps(heads).decode())
            self.locked.update(self.heads)
        if params:  # the rows are out already (above): straight to the connection
            statement = flush_sql(bool(self.log), bool(self.answers), bool(self.heads))
            self.connection.execute(statement, params, binary=True)
        self.log, self.heads, self.answers = [], {}, {}

    def head_seq(self, event_id: str) -> int:
        if event_id in self.heads:
            return self.heads[event_id]
        return self.lock_event(event_id)

    def load_board(self, event_id: str) -> Board | None:
        self.lock_event(event_id)  # a board read to write on: nobody else moves it meanwhile
        event = self.db.execute(EVENT_SQL, (event_id,))  # all sent at once, answered together (pipeline)
        kinds = {kind: self.db.execute(sql, (event_id,)) for kind, sql in KIND_SQL.items()}
        row = event.fetchone()
        if row is None:
            return None
        return board_from_rows(row, {kind: cursor.fetchall() for kind, cursor in kinds.items()})

    def apply(self, event_id: str, seq: int, change: Change, patch: dict[str, Any]) -> None:
        if event_id not in self.locked:  # without the row lock another worker could take the same seq
            raise RuntimeError(f"change {seq} of event {event_id} written without lock_event")
        db = self.db
        for entity in change.upserts:  # noted, and written with the batch's others (pg_rows.py)
            self.rows.upsert(kind_of(entity), event_id, as_row(entity))
        for kind, entity_id in change.deletes:
            self.rows.delete(kind, event_id, entity_id)
        if change.event is not None:
            editable = [c for c in EVENT_COLUMNS if c not in ("id", "slug")]
            values = as_row(change.event)
            db.execute(
                f"UPDATE events SET {', '.join(f'{quote(c)} = %s' for c in editable)} WHERE id = %s",
                [values[c] for c in editable] + [event_id],
            )
        self.log.append((event_id, seq, change.kind, orjson.dumps(patch).decode()))
        self.heads[event_id] = seq
        if seq % 100 == 0:
            self.flush()
            if seq > self.log_keep:
                db.execute("DELETE FROM changes WHERE event_id = %s AND seq <= %s", (event_id, seq - self.log_keep))
            db.execute(
                "DELETE FROM applied_actions WHERE event_id = %s AND created_at < "
                """to_char((now() - interval '7 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')""",
                (event_id,),
            )

    def insert_event(self, event: Event, secret_hash: str) -> None:
        values = as_row(event)
        self.db.execute(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}, facilitator_secret_hash) "
            f"VALUES ({', '.join(['%s'] * (len(EVENT_COLUMNS) + 1))})",
            [values[c] for c in EVENT_COLUMNS] + [secret_hash],
        )
        self.locked[event.id] = 0  # ours alone until commit

    def apply_effects(self, event_id: str, effects: tuple[Effect, ...]) -> None:
        """The effects kept in the database (see SQLiteTransaction.apply_effects)."""
        for effect in effects:
            if isinstance(effect, NameSet):
                self.rename_participant(effect.participant_id, effect.name)
            elif isinstance(effect, NameForgotten):
                self.forget_names_in_results(event_id, effect.actors)

    def forget_names_in_results(self, event_id: str, actors: tuple[str, ...]) -> None:
        """As in SQLite: the answers lose the name, and the change log is compacted to nothing, so
        a screen resuming from before the erasure gets a snapshot without it (issue #21, case 9)."""
        self.flush()
        self.db.execute("DELETE FROM changes WHERE event_id = %s", (event_id,))
        self.db.execute(
            "UPDATE applied_actions SET result = (result::jsonb - 'name')::text "
            "WHERE event_id = %s AND actor = ANY(%s) AND result::jsonb ? 'name'",
            (event_id, list(actors)),
        )

    def replace_facilitator_secret(self, event_id: str, secret_hash: str) -> None:
        self.db.execute("UPDATE events SET facilitator_secret_hash = %s WHERE id = %s", (secret_hash, event_id))
        self.db.execute("DELETE FROM facilitator_sessions WHERE event_id = %s", (event_id,))

    def delete_event(self, event_id: str) -> None:
        self.flush()
        self.db.execute("DELETE FROM events WHERE id = %s", (event_id,))
        self.locked.pop(event_id, None)

    def insert_facilitator_session(self, token_hash: str, event_id: str) -> None:
        self.db.execute(
            "INSERT INTO facilitator_sessions (token_hash, event_id) VALUES (%s, %s)", (token_hash, event_id)
        )

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, value))


def connect(url: str) -> psycopg.Connection[Any]:
    db = psycopg.connect(conninfo(url), autocommit=True)
    db.execute("SET synchronous_commit = on")  # durable before anyone is answered, whatever the server default
    return db


def migrate(db: psycopg.Connection[Any]) -> int:
    """Apply what is missing; the schema's version after."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT max(version) FROM schema_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            db.execute(script)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        return len(MIGRATIONS)


class PostgresStore:
    def __init__(self, url: str, log_keep: int = 1000, pool_size: int = 4) -> None:
        self.url = url
        self.log_keep = log_keep
        self.pool_size = pool_size
        self._writer: psycopg.Connection[Any] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._pool: AsyncConnectionPool | None = None

    async def open(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="openspace-pg-writer")
        loop = asyncio.get_running_loop()
        self._writer = await loop.run_in_executor(self._thread, connect, self.url)
        await loop.run_in_executor(self._thread, migrate, self._writer)
        self._pool = AsyncConnectionPool(
            conninfo(self.url), min_size=1, max_size=self.pool_size, open=False, kwargs={"autocommit": True}
        )
        await self._pool.open(wait=True)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._thread is not None:
            writer = self._writer
            if writer is not None:
                await asyncio.get_running_loop().run_in_executor(self._thread, writer.close)
            self._thread.shutdown(wait=True)
        self._writer = self._thread = self._pool = None

    async def ping(self) -> bool:
        """Whether the database answers (for /readyz)."""
        try:
            return await self._one("SELECT 1") is not None
        except Exception:
            return False

    async def write(self, work: Callable[[Transaction], T]) -> T:
        assert self._thread is not None, "store is not open"
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._transact, work)

    def _transact(self, work: Callable[[Transaction], T]) -> T:
        if self._writer is None or self._writer.closed or self._writer.broken:
            self._writer = connect(self.url)  # the server restarted, or the link dropped: a fresh one
        db = self._writer
        with db.pipeline(), db.transaction():  # writes wait for nothing; answers are awaited when read
            tx = PostgresTransaction(db, self.log_keep)
            result = work(tx)
            tx.flush()
        return result

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self._all(sql, params)
        return next(iter(rows), None)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, tuple(params))
            return await cursor.fetchall()

    async def meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self.write(lambda tx: tx.set_meta(key, value))

    async def event_count(self) -> int:
        row = await self._one("SELECT count(*) FROM events")
        return int(row[0]) if row else 0

    async def event_by_slug(self, slug: str) -> Event | None:
        row = await self._one(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE slug = %s", (slug,))
        return from_row(Event, row) if row else None

    async def events_ending_before(self, day: str) -> list[Event]:
        rows = await self._all(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE ends_on < %s", (day,))
        return [from_row(Event, row) for row in rows]

    async def load_board(self, event_id: str) -> Board | None:
        """One snapshot for the whole board: a repeatable-read transaction on one connection."""
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn:
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                row = await (await conn.execute(EVENT_SQL, (event_id,))).fetchone()
                if row is None:
                    return None
                rows = {k: await (await conn.execute(sql, (event_id,))).fetchall() for k, sql in KIND_SQL.items()}
        return board_from_rows(row, rows)

    async def patches_since(self, event_id: str, since: int, until: int) -> list[tuple[int, str, Any]] | None:
        return logged(await self._all(PATCHES_SQL.replace("?", "%s"), (event_id, since, until)), since, until)

    async def outward(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """A read of the outward tables (#18), with one of the queries in `store.outbound`."""
        assert sql in outbound.READS, "only the outbound module's own queries"
        return await self._all(sql.replace("?", "%s"), params)

    async def checkpoint(self) -> None:
        """Nothing to do at once: PostgreSQL's autovacuum reclaims deleted rows' space; an operator
        who must scrub at once runs VACUUM (docs/deploy.md)."""

    async def participant_by_token(self, event_id: str, token_hash: str) -> tuple[str, str] | None:
        row = await self._one(
            "SELECT id, name FROM participants WHERE event_id = %s AND token_hash = %s", (event_id, token_hash)
        )
        return (str(row[0]), str(row[1])) if row else None

    async def facilitator_session(self, event_id: str, token_hash: str) -> bool:
        row = await self._one(
            "SELECT 1 FROM facilitator_sessions WHERE event_id = %s AND token_hash = %s", (event_id, token_hash)
        )
        return row is not None

    async def facilitator_secret_hash(self, event_id: str) -> str | None:
        row = await self._one("SELECT facilitator_secret_hash FROM events WHERE id = %s", (event_id,))
        return str(row[0]) if row else None
