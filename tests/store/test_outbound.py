"""The outward tables (#18) on both stores (#17): the outbox fans a change out to the endpoints
that want its kind, finished messages leave the delivery log after two weeks, a claimed message
is one worker's until its lease runs out, and a calendar entry's SEQUENCE rises once per change
of its content, decided by the database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from openspace.store.migrations import MIGRATIONS
from openspace.store.outbound import CalendarEntry, PostgresOutbound, SQLiteOutbound
from openspace.store.postgres import connect, migrate

EVENT = (
    "INSERT INTO events (id, slug, name, starts_on, ends_on, timezone, language, facilitator_secret_hash) "
    "VALUES ('e', 's', 'E', '2026-03-14', '2026-03-14', 'Europe/Stockholm', 'sv', 'x')"
)


class Tables:
    """One database with an event `e`, its outbound writer, and plain reads for the checks."""

    def __init__(self, db: Any, out: SQLiteOutbound, mark: str) -> None:
        self.db, self.out, self.mark = db, out, mark

    def rows(self, sql: str, *params: Any) -> list[Any]:
        return list(self.db.execute(sql.replace("?", self.mark), params).fetchall())

    def run(self, sql: str, *params: Any) -> None:
        self.db.execute(sql.replace("?", self.mark), params)


@pytest.fixture(params=["sqlite", "postgres"])
def tables(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tables]:
    if request.param == "sqlite":
        with closing(sqlite3.connect(tmp_path / "o.db", isolation_level=None)) as lite:
            lite.execute("PRAGMA foreign_keys = ON")
            for script in MIGRATIONS:
                lite.executescript(script)
            lite.execute(EVENT)
            yield Tables(lite, SQLiteOutbound(lite), "?")
        return
    pg = connect(request.getfixturevalue("postgres_url"))
    try:
        migrate(pg)
        pg.execute(EVENT)
        yield Tables(pg, PostgresOutbound(pg), "%s")
    finally:
        pg.close()


def test_a_change_is_queued_once_per_endpoint_that_wants_its_kind(tables: Tables) -> None:
    out = tables.out
    out.add_webhook("w1", "e", "https://a.example/h", "whsec_a", ("bell", "announcement"), "standard")
    out.add_webhook("w2", "e", "https://b.example/h", "whsec_b", ("announcement",), "chat")
    out.add_webhook("w3", "e", "https://c.example/h", "whsec_c", ("phase.changed",), "standard")
    assert out.count_webhooks("e") == 3
    out.queue("e", 7, "announcement", {"type": "announcement", "text": "Hej", "data": {}}, 0.0)
    rows = dict(tables.rows("SELECT webhook_id, body FROM webhook_outbox"))
    assert set(rows) == {"w1", "w2"}
    assert rows["w2"] == '{"text":"Hej"}' and '"type":"announcement"' in rows["w1"]
    ids = [r[0] for r in tables.rows("SELECT id FROM webhook_outbox")]
    assert len(set(ids)) == 2 and all(i.startswith("msg_") and len(i) == 28 for i in ids)
    out.remove_webhook("e", "w1")  # its waiting message goes with it
    assert [r[0] for r in tables.rows("SELECT webhook_id FROM webhook_outbox")] == ["w2"]


def test_finished_messages_leave_the_log_after_two_weeks(tables: Tables) -> None:
    out = tables.out
    out.add_webhook("w1", "e", "https://a.example/h", "whsec_a", ("bell",), "standard")
    for seq in (1, 2, 3):
        out.queue("e", seq, "bell", {"text": "x"}, 0.0)
    old, waiting, new = [r[0] for r in tables.rows("SELECT id FROM webhook_outbox ORDER BY seq")]
    tables.run("UPDATE webhook_outbox SET state = 'delivered', updated_at = '2020-01-01T00:00:00Z' WHERE id = ?", old)
    tables.run("UPDATE webhook_outbox SET updated_at = '2020-01-01T00:00:00Z' WHERE id = ?", waiting)
    out.record(new, delivered=True, give_up=False, status=204, error="", next_at=0.0)
    left = {r[0]: r[1] for r in tables.rows("SELECT id, state FROM webhook_outbox")}
    assert left == {waiting: "pending", new: "delivered"}  # a pending one is never dropped
    out.record(waiting, delivered=False, give_up=False, status=500, error="HTTP 500", next_at=99.0)
    assert tables.rows("SELECT state, attempts, last_status, next_at FROM webhook_outbox WHERE id = ?", waiting) == [
        ("pending", 1, 500, 99.0)
    ]


def test_a_claimed_message_is_leased_to_one_claim_until_the_lease_runs_out(tables: Tables) -> None:
    out = tables.out
    out.add_webhook("w1", "e", "https://a.example/h", "whsec_a", ("bell",), "standard")
    for seq in (1, 2, 3):
        out.queue("e", seq, "bell", {"text": f"x{seq}"}, 10.0)
    assert out.claim(now=5.0, limit=10, until=50.0) == []  # not due yet
    first = out.claim(now=20.0, limit=2, until=50.0)
    assert [d.seq for d in first] == [1, 2] and all(d.url == "https://a.example/h" for d in first)
    assert [d.seq for d in out.claim(now=20.0, limit=10, until=50.0)] == [3]  # the rest, not the leased
    assert out.claim(now=49.0, limit=10, until=90.0) == []  # all leased
    again = out.claim(now=50.0, limit=10, until=90.0)  # the claimer died: the lease ran out
    assert sorted(d.id for d in again) == sorted(r[0] for r in tables.rows("SELECT id FROM webhook_outbox"))
    assert {d.id for d in first} <= {d.id for d in again}  # the same ids: the same webhook-id on the wire


def test_two_workers_claiming_at_once_take_different_messages(postgres_url: str) -> None:
    """On PostgreSQL two workers' transactions claim side by side: the second skips the rows the
    first holds locked (SKIP LOCKED) instead of waiting for them or taking them too."""
    one, two = connect(postgres_url), connect(postgres_url)
    try:
        migrate(one)
        one.execute(EVENT)
        PostgresOutbound(one).add_webhook("w1", "e", "https://a.example/h", "whsec_a", ("bell",), "standard")
        for seq in range(1, 7):
            PostgresOutbound(one).queue("e", seq, "bell", {"text": "x"}, 0.0)
        two.execute("SET lock_timeout = '5s'")  # waiting on the first's rows would fail the test
        with one.transaction():
            mine = PostgresOutbound(one).claim(now=1.0, limit=4, until=100.0)
            with two.transaction():
                theirs = PostgresOutbound(two).claim(now=1.0, limit=10, until=100.0)
        assert len(mine) == 4 and len(theirs) == 2
        assert not {d.id for d in mine} & {d.id for d in theirs}
    except psycopg.errors.LockNotAvailable:
        pytest.fail("the second claim waited for the first one's rows")
    finally:
        one.close()
        two.close()


def test_a_calendar_entrys_sequence_rises_once_per_change_of_its_content(tables: Tables) -> None:
    out = tables.out
    out.set_calendar_entries("e", [CalendarEntry("u1", "fp-a", 0, "2026-03-14T10:00:00+00:00")])

    def entry() -> tuple[str, int, str]:
        rows = tables.rows("SELECT fingerprint, sequence, changed_at FROM calendar_entries WHERE uid = 'u1'")
        return (str(rows[0][0]), int(rows[0][1]), str(rows[0][2]))

    assert entry() == ("fp-a", 0, "2026-03-14T10:00:00+00:00")
    # two workers saw the same change and both write it: it rises once
    for _ in range(2):
        out.set_calendar_entries("e", [CalendarEntry("u1", "fp-b", 1, "2026-03-14T11:00:00+00:00")])
    assert entry() == ("fp-b", 1, "2026-03-14T11:00:00+00:00")
    # one read before a further change, so it asks for 1 again: the database raises it all the same
    out.set_calendar_entries("e", [CalendarEntry("u1", "fp-c", 1, "2026-03-14T12:00:00+00:00")])
    assert entry() == ("fp-c", 2, "2026-03-14T12:00:00+00:00")
