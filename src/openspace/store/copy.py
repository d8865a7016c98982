"""`openspace copy`: move events from a SQLite file into PostgreSQL, rows, change log, webhooks,
calendar sequences and photos' files (from the folder beside the file into PostgreSQL's `files`).

Everything goes in one PostgreSQL transaction, so a failed copy leaves nothing behind. Events the
target already has (by id) are skipped with all their rows, so running it twice is harmless. The
`meta` rows (the cookie key and the database's epoch) are copied only where the target has none:
into a fresh database, cookies and clients' resume points carry over unchanged.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from openspace.store.pg_files import rows_of
from openspace.store.postgres import connect, migrate
from openspace.store.sqlite_backup import photo_folder

# parents before children, so every foreign key finds its row
TABLES = (
    "events", "participants", "spaces", "slots", "topics", "facilitator_sessions", "changes", "applied_actions",
    "interests", "merges", "announcements", "attendance", "reports", "revisions", "photos", "votes", "actions",
    "calendar_entries", "webhooks", "webhook_outbox",
)  # fmt: skip


def copy_events(source: Path, target_url: str) -> tuple[int, int]:
    """Copy every event of `source` missing from the target; (events copied, events skipped)."""
    with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as lite:
        pg = connect(target_url)
        try:
            migrate(pg)
            booleans = {
                (table, column)
                for table, column in pg.execute(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND data_type = 'boolean'"
                ).fetchall()
            }
            with pg.transaction():
                for key, value in lite.execute("SELECT key, value FROM meta"):
                    pg.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, value))
                present = {row[0] for row in pg.execute("SELECT id FROM events").fetchall()}
                found = [row[0] for row in lite.execute("SELECT id FROM events")]
                wanted = [event_id for event_id in found if event_id not in present]
                for table in TABLES:
                    columns = [row[1] for row in lite.execute(f"PRAGMA table_info({table})")]
                    key = "id" if table == "events" else "event_id"
                    flags = [(table, c) in booleans for c in columns]
                    sql = (
                        f"INSERT INTO {table} ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)}) "
                        f"VALUES ({', '.join(['%s'] * len(columns))})"
                    )
                    for event_id in wanted:
                        rows = lite.execute(f"SELECT * FROM {table} WHERE {key} = ?", (event_id,)).fetchall()
                        if rows:
                            with pg.cursor() as cur:
                                cur.executemany(
                                    sql.encode(),
                                    [[bool(v) if f and v is not None else v for v, f in zip(r, flags, strict=True)]
                                     for r in rows],
                                )  # fmt: skip
                copy_photo_files(lite, pg, photo_folder(source), wanted)
        finally:
            pg.close()
    return len(wanted), len(found) - len(wanted)


def copy_photo_files(lite: sqlite3.Connection, pg: Any, folder: Path, events: list[str]) -> None:
    """Each copied photo's two files, in parts as pg_files.py writes them; a file already gone
    from the folder stays gone (the photo then shows as removed, as it did on SQLite)."""
    for event_id in events:
        for (name,) in lite.execute("SELECT name FROM photos WHERE event_id = ?", (event_id,)):
            for key in (f"{name}.jpg", f"{name}.thumb.jpg"):
                path = folder / key
                if not path.is_file():
                    continue
                pg.execute("DELETE FROM files WHERE key = %s", (key,))
                with pg.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO files (key, part, data) VALUES (%s, %s, %s)", rows_of(key, path.read_bytes())
                    )
