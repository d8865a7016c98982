"""A database made by an older version opens with the newer schema and keeps its data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openspace.store.migrations import MIGRATIONS
from openspace.store.sqlite import SQLiteStore


async def test_a_version_one_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    db.execute(
        "INSERT INTO events (id, slug, name, starts_on, ends_on, timezone, language, facilitator_secret_hash) "
        "VALUES ('e', 'slug', 'Gammalt', '2026-03-14', '2026-03-14', 'Europe/Stockholm', 'sv', 'x')"
    )
    db.execute(
        "INSERT INTO topics (id, event_id, title, status, version, created_seq) VALUES ('t', 'e', 'Kvar', 'open', 1, 1)"
    )
    db.commit()
    db.close()
    store = SQLiteStore(path)
    await store.open()
    board = await store.load_board("e")
    await store.close()
    assert board is not None and board.topics["t"].title == "Kvar" and board.topics["t"].pinned is False
    assert board.event.phase == "marketplace"
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    check.execute("UPDATE topics SET status = 'merged' WHERE id = 't'")  # the new status is allowed
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
