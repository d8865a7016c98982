"""The tables that face outwards (#18): webhooks and their outbox, calendar entries' SEQUENCE,
and the generation of each participant's personal calendar link, on SQLite and PostgreSQL.

Kept apart from sqlite.py and postgres.py so the board's storage stays readable. Writes run
inside the store's one transaction (`tx.outbound`), so an outbox row commits with the change that
made it or not at all; reads go through the store's reader like every other read, with the
queries below only (`READS`). The SQL is written once, with `?` marks; the two backends differ in
a few expressions (a random id, the time now) and in how a due message is claimed: on
PostgreSQL several workers claim from one outbox, so the claim skips rows another worker's claim
holds locked (`FOR UPDATE SKIP LOCKED`) and leases what it takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    secret: str
    kinds: tuple[str, ...]
    created_at: str
    format: str = "standard"  # or "chat": only {"text": …}, which Slack, Mattermost and Matrix bridges take


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row: a message to one endpoint, with how its delivery went so far."""

    id: str  # the `webhook-id`, the same on every try
    event_id: str
    webhook_id: str
    url: str
    secret: str
    seq: int
    kind: str
    body: str
    attempts: int
    state: str  # pending, delivered or failed (gave up)
    last_status: int | None
    last_error: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    uid: str
    fingerprint: str
    sequence: int
    changed_at: str


KEEP_DAYS = 14  # how long delivered and failed messages stay in the delivery log
WEBHOOK_SQL = (
    "SELECT id, url, secret, kinds, created_at, format FROM webhooks WHERE event_id = ? ORDER BY created_at, id"
)
DELIVERY_COLUMNS = (
    "o.id, o.event_id, o.webhook_id, w.url, w.secret, o.seq, o.kind, o.body, o.attempts, o.state, "
    "o.last_status, o.last_error, o.updated_at"
)
DELIVERIES_SQL = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id "
    "WHERE o.event_id = ? ORDER BY o.created_at DESC, o.seq DESC LIMIT ?"
)
NEXT_DUE_SQL = "SELECT min(next_at) FROM webhook_outbox WHERE state = 'pending'"
CLAIMED_SQL = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id "
    "WHERE o.id IN ({marks}) ORDER BY o.created_at, o.seq"
)
CALENDAR_SQL = "SELECT uid, fingerprint, sequence, changed_at FROM calendar_entries WHERE event_id = ?"
GENERATION_SQL = "SELECT calendar_generation, name FROM participants WHERE id = ? AND event_id = ?"
READS = frozenset({WEBHOOK_SQL, DELIVERIES_SQL, NEXT_DUE_SQL, CALENDAR_SQL, GENERATION_SQL})


def webhook(row: Any) -> Webhook:
    return Webhook(str(row[0]), str(row[1]), str(row[2]), tuple(str(row[3]).split()), str(row[4]), str(row[5]))


def delivery(row: Any) -> Delivery:
    return Delivery(*row)


def calendar_entry(row: Any) -> CalendarEntry:
    return CalendarEntry(str(row[0]), str(row[1]), int(row[2]), str(row[3]))


class Outbound(Protocol):
    """The outward tables' writes a transaction may make (`tx.outbound`), on either store."""

    def queue(self, event_id: str, seq: int, kind: str, body: dict[str, Any], now: float) -> None: ...
    def add_webhook(
        self, webhook_id: str, event_id: str, url: str, secret: str, kinds: tuple[str, ...], shape: str
    ) -> None: ...
    def count_webhooks(self, event_id: str) -> int: ...
    def remove_webhook(self, event_id: str, webhook_id: str) -> None: ...
    def claim(self, now: float, limit: int, until: float) -> list[Delivery]: ...
    def record(
        self, delivery_id: str, *, delivered: bool, give_up: bool, status: int | None, error: str, next_at: float
    ) -> None: ...
    def set_calendar_entries(self, event_id: str, entries: list[CalendarEntry]) -> None: ...
    def new_calendar_generation(self, event_id: str, participant_id: str) -> None: ...


class SQLiteOutbound:
    """The outward tables' writes, on the writer's connection inside its open transaction.

    PostgresOutbound below is this class with PostgreSQL's mark and expressions: the statements
    are the same."""

    mark = "?"
    new_id = "'msg_' || lower(hex(randomblob(12)))"  # the webhook-id, the same on every try
    now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    kept_since = f"strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{KEEP_DAYS} days')"
    skip_locked = ""  # one writer in all: nobody else is claiming

    def __init__(self, db: Any) -> None:
        self.db = db

    def _q(self, sql: str) -> str:
        return sql if self.mark == "?" else sql.replace("?", self.mark)

    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self.db.executemany(self._q(sql), rows)

    def queue(self, event_id: str, seq: int, kind: str, body: dict[str, Any], now: float) -> None:
        """One outbox row per endpoint of the event subscribed to `kind`, each with its own id.

        One statement, and none at all for the many changes no endpoint can want (the caller asks
        only for kinds that exist), so the write path pays next to nothing for webhooks.
        """
        self.db.execute(
            self._q(
                "INSERT INTO webhook_outbox (id, event_id, webhook_id, seq, kind, body, next_at) "
                f"SELECT {self.new_id}, event_id, id, ?, ?, "
                "CASE format WHEN 'chat' THEN ? ELSE ? END, ? FROM webhooks "
                "WHERE event_id = ? AND (' ' || kinds || ' ') LIKE ?"
            ),
            (
                seq,
                kind,
                orjson.dumps({"text": body["text"]}).decode(),
                orjson.dumps(body).decode(),
                now,
                event_id,
                f"% {kind} %",
            ),  # fmt: skip
        )

    def add_webhook(
        self, webhook_id: str, event_id: str, url: str, secret: str, kinds: tuple[str, ...], shape: str
    ) -> None:
        self.db.execute(
            self._q("INSERT INTO webhooks (id, event_id, url, secret, kinds, format) VALUES (?, ?, ?, ?, ?, ?)"),
            (webhook_id, event_id, url, secret, " ".join(kinds), shape),
        )

    def count_webhooks(self, event_id: str) -> int:
        row = self.db.execute(self._q("SELECT count(*) FROM webhooks WHERE event_id = ?"), (event_id,)).fetchone()
        return int(row[0])

    def remove_webhook(self, event_id: str, webhook_id: str) -> None:
        """Its outbox rows go with it (ON DELETE CASCADE): nothing is sent to a removed endpoint."""
        self.db.execute(self._q("DELETE FROM webhooks WHERE id = ? AND event_id = ?"), (webhook_id, event_id))

    def claim(self, now: float, limit: int, until: float) -> list[Delivery]:
        """Take up to `limit` due messages for this worker to post, leased until `until`: no other
        worker takes them before then. A worker killed while posting leaves its lease to run out,
        and then any worker posts the same message (the same id) again: at least once."""
        taken = self.db.execute(
            self._q(
                "UPDATE webhook_outbox SET next_at = ? WHERE id IN (SELECT id FROM webhook_outbox "
                "WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, created_at LIMIT ?"
                f"{self.skip_locked}) RETURNING id"
            ),
            (until, now, limit),
        ).fetchall()
        if not taken:
            return []
        ids = [str(row[0]) for row in taken]
        rows = self.db.execute(self._q(CLAIMED_SQL.format(marks=", ".join("?" * len(ids)))), ids).fetchall()
        return [delivery(row) for row in rows]

    def record(
        self, delivery_id: str, *, delivered: bool, give_up: bool, status: int | None, error: str, next_at: float
    ) -> None:
        state = "delivered" if delivered else ("failed" if give_up else "pending")
        self.db.execute(
            self._q(
                "UPDATE webhook_outbox SET attempts = attempts + 1, state = ?, last_status = ?, last_error = ?, "
                f"next_at = ?, updated_at = {self.now} WHERE id = ? AND state = 'pending'"
            ),
            (state, status, error[:300], next_at, delivery_id),
        )
        if state != "pending":  # the log shows the last weeks; older finished messages go
            self.db.execute(f"DELETE FROM webhook_outbox WHERE state != 'pending' AND updated_at < {self.kept_since}")

    def set_calendar_entries(self, event_id: str, entries: list[CalendarEntry]) -> None:
        """Entries whose content was seen to change. The database decides the SEQUENCE: a new
        entry starts at the one given, a known one rises by one if its fingerprint differs from
        the stored one. Two workers serving the same change both write it, and it rises once;
        content that changed again between their reads raises it again (the row lock orders them)."""
        self._many(
            "INSERT INTO calendar_entries (event_id, uid, fingerprint, sequence, changed_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (event_id, uid) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "sequence = CASE WHEN calendar_entries.fingerprint = excluded.fingerprint "
            "THEN calendar_entries.sequence ELSE calendar_entries.sequence + 1 END, "
            "changed_at = CASE WHEN calendar_entries.fingerprint = excluded.fingerprint "
            "THEN calendar_entries.changed_at ELSE excluded.changed_at END",
            [(event_id, e.uid, e.fingerprint, e.sequence, e.changed_at) for e in entries],
        )

    def new_calendar_generation(self, event_id: str, participant_id: str) -> None:
        self.db.execute(
            self._q(
                "UPDATE participants SET calendar_generation = calendar_generation + 1 WHERE id = ? AND event_id = ?"
            ),
            (participant_id, event_id),
        )


class PostgresOutbound(SQLiteOutbound):
    """The same tables on PostgreSQL (pg_schema.py's migration 4), on the writer's connection."""

    mark = "%s"
    new_id = "'msg_' || substr(md5(gen_random_uuid()::text), 1, 24)"
    now = """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
    kept_since = (
        f"""to_char((now() - interval '{KEEP_DAYS} days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
    )
    skip_locked = " FOR UPDATE SKIP LOCKED"  # several workers claim: each skips what another holds

    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self.db.cursor() as cursor:
            cursor.executemany(self._q(sql), rows)
