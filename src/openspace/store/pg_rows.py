"""A PostgreSQL batch's entity rows, written together just before the next statement (issue #17).

Each change upserted and deleted its rows as it was applied: a statement or two per change, each
with psycopg's own Python on the writer's thread, which is where a batch's time went once its
questions and its log had become one statement each. Now a change only notes its rows (`Rows`);
they are written, one statement per kind, when the transaction next sends anything else, through
`Held`, or at the end of the batch. Nothing in the transaction can tell: every statement after
a change still sees its rows, and no statement runs between a change and its rows.

What a batch writes of one row is its last state (an upsert, or gone), so the rows are written
in an order that holds whatever the changes' order was:

- every topic the batch places, moves or deletes first leaves its cell, when more than one is
  written: a topic may take a cell another left earlier in the batch (`topics_cell` is unique);
- the upserts, kind by kind in `ENTITY_KINDS` order (what a row refers to comes first);
- then the deletions, kinds in the reverse order; a deletion that cascades takes rows an upsert
  wrote, as it would have after them.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from openspace.domain.model import ENTITY_KINDS, EntityKind
from openspace.store.sqlite import COLUMNS, quote


@functools.cache
def upserts_sql(kind: EntityKind) -> str:
    """Rows of one kind as a JSON array, upserted in one statement; never over another event's row."""
    columns = ", ".join(map(quote, [*COLUMNS[kind], "event_id"]))
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in COLUMNS[kind] if c != "id")
    return (
        f"INSERT INTO {kind} ({columns}) SELECT {columns} FROM jsonb_populate_recordset(NULL::{kind}, %s::jsonb) "
        f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {kind}.event_id = excluded.event_id"
    )


@functools.cache
def deletes_sql(kind: EntityKind) -> str:
    return f"DELETE FROM {kind} WHERE (id, event_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"


FREE_CELLS_SQL = (
    "UPDATE topics SET slot_id = NULL, space_id = NULL "
    "WHERE (id, event_id) IN (SELECT * FROM unnest(%s::text[], %s::text[])) AND slot_id IS NOT NULL"
)


class Rows:
    """The rows a batch's changes wrote and that are not yet sent: (kind, id) -> (event, row or None)."""

    def __init__(self) -> None:
        self.held: dict[tuple[EntityKind, str], tuple[str, dict[str, Any] | None]] = {}

    def upsert(self, kind: EntityKind, event_id: str, row: dict[str, Any]) -> None:
        self.held[(kind, row["id"])] = (event_id, row)

    def delete(self, kind: EntityKind, event_id: str, entity_id: str) -> None:
        self.held[(kind, entity_id)] = (event_id, None)

    def write(self, db: Any) -> None:
        """Send them (pipeline mode: nothing is waited for), and hold nothing."""
        if not self.held:
            return
        held, self.held = self.held, {}
        topics = [(entity_id, event) for (kind, entity_id), (event, _) in held.items() if kind == "topics"]
        if len(topics) > 1:  # only the event's own topics, whatever an id names elsewhere
            db.execute(FREE_CELLS_SQL, ([i for i, _ in topics], [e for _, e in topics]), binary=True)
        for kind in ENTITY_KINDS:
            rows = [{**row, "event_id": event} for (k, _), (event, row) in held.items() if k == kind and row]
            if rows:
                db.execute(upserts_sql(kind), (orjson.dumps(rows).decode(),), binary=True)
        for kind in reversed(ENTITY_KINDS):
            gone = [(entity_id, event) for (k, entity_id), (event, row) in held.items() if k == kind and row is None]
            if gone:
                db.execute(deletes_sql(kind), ([i for i, _ in gone], [e for _, e in gone]), binary=True)


class Held:
    """The writer's connection, with a batch's held rows written before any other statement."""

    def __init__(self, db: Any, rows: Rows) -> None:
        self.db, self.rows = db, rows

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self.rows.write(self.db)
        return self.db.execute(query, params, **kwargs)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        self.rows.write(self.db)
        return self.db.executemany(query, params_seq, **kwargs)

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        self.rows.write(self.db)
        return self.db.cursor(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)
