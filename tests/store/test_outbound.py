"""The outward tables (#18): the outbox fans a change out to the endpoints that want its kind,
and finished messages leave the delivery log after two weeks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openspace.store.migrations import MIGRATIONS
from openspace.store.outbound import SQLiteOutbound


def database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    for script in MIGRATIONS:
        db.executescript(script)
    db.execute(
        "INSERT INTO events (id, slug, name, starts_on, ends_on, timezone, language, facilitator_secret_hash) "
        "VALUES ('e', 's', 'E', '2026-03-14', '2026-03-14', 'Europe/Stockholm', 'sv', 'x')"
    )
    return db


def test_a_change_is_queued_once_per_endpoint_that_wants_its_kind(tmp_path: Path) -> None:
    db = database(tmp_path / "o.db")
    out = SQLiteOutbound(db)
    out.add_webhook("w1", "e", "https://a.example/h", "whsec_a", ("bell", "announcement"), "standard")
    out.add_webhook("w2", "e", "https://b.example/h", "whsec_b", ("announcement",), "chat")
    out.add_webhook("w3", "e", "https://c.example/h", "whsec_c", ("phase.changed",), "standard")
    out.queue("e", 7, "announcement", {"type": "announcement", "text": "Hej", "data": {}}, 0.0)
    rows = dict(db.execute("SELECT webhook_id, body FROM webhook_outbox").fetchall())
    assert set(rows) == {"w1", "w2"}
    assert rows["w2"] == '{"text":"Hej"}' and '"type":"announcement"' in rows["w1"]
    ids = [r[0] for r in db.execute("SELECT id FROM webhook_outbox")]
    assert len(set(ids)) == 2 and all(i.startswith("msg_") for i in ids)


def test_finished_messages_leave_the_log_after_two_weeks(tmp_path: Path) -> None:
    db = database(tmp_path / "o.db")
    out = SQLiteOutbound(db)
    out.add_webhook("w1", "e", "https://a.example/h", "whsec_a", ("bell",), "standard")
    for seq in (1, 2, 3):
        out.queue("e", seq, "bell", {"text": "x"}, 0.0)
    old, waiting, new = [r[0] for r in db.execute("SELECT id FROM webhook_outbox ORDER BY seq")]
    db.execute(
        "UPDATE webhook_outbox SET state = 'delivered', updated_at = '2020-01-01T00:00:00Z' WHERE id = ?", (old,)
    )
    db.execute("UPDATE webhook_outbox SET updated_at = '2020-01-01T00:00:00Z' WHERE id = ?", (waiting,))
    out.record(new, delivered=True, give_up=False, status=204, error="", next_at=0.0)
    left = {r[0]: r[1] for r in db.execute("SELECT id, state FROM webhook_outbox")}
    assert left == {waiting: "pending", new: "delivered"}  # a pending one is never dropped
