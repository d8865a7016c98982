"""The tables that face outwards (#18): webhooks and their outbox, calendar entries' SEQUENCE,
and the generation of each participant's personal calendar link.

Kept apart from sqlite.py so the board's storage stays readable. Writes run inside the store's
one transaction (`SQLiteTransaction.outbound`), so an outbox row commits with the change that made
it or not at all; reads go through the store's reader like every other read.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

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
DUE_SQL = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id "
    "WHERE o.state = 'pending' AND o.next_at <= ? ORDER BY o.next_at, o.created_at LIMIT ?"
)
NEXT_DUE_SQL = "SELECT min(next_at) FROM webhook_outbox WHERE state = 'pending'"
CALENDAR_SQL = "SELECT uid, fingerprint, sequence, changed_at FROM calendar_entries WHERE event_id = ?"
GENERATION_SQL = "SELECT calendar_generation, name FROM participants WHERE id = ? AND event_id = ?"


def webhook(row: Any) -> Webhook:
    return Webhook(str(row[0]), str(row[1]), str(row[2]), tuple(str(row[3]).split()), str(row[4]), str(row[5]))


def delivery(row: Any) -> Delivery:
    return Delivery(*row)


def calendar_entry(row: Any) -> CalendarEntry:
    return CalendarEntry(str(row[0]), str(row[1]), int(row[2]), str(row[3]))


class SQLiteOutbound:
    """The outward tables' writes, on the writer's connection inside its open transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def queue(self, event_id: str, seq: int, kind: str, body: dict[str, Any], now: float) -> None:
        """One outbox row per endpoint of the event subscribed to `kind`, each with its own id.

        One statement, and none at all for the many changes no endpoint can want (the caller asks
        only for kinds that exist), so the write path pays next to nothing for webhooks.
        """
        self.db.execute(
            "INSERT INTO webhook_outbox (id, event_id, webhook_id, seq, kind, body, next_at) "
            "SELECT 'msg_' || lower(hex(randomblob(12))), event_id, id, ?, ?, "
            "CASE format WHEN 'chat' THEN ? ELSE ? END, ? FROM webhooks "
            "WHERE event_id = ? AND (' ' || kinds || ' ') LIKE ?",
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
            "INSERT INTO webhooks (id, event_id, url, secret, kinds, format) VALUES (?, ?, ?, ?, ?, ?)",
            (webhook_id, event_id, url, secret, " ".join(kinds), shape),
        )

    def count_webhooks(self, event_id: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM webhooks WHERE event_id = ?", (event_id,)).fetchone()[0])

    def remove_webhook(self, event_id: str, webhook_id: str) -> None:
        """Its outbox rows go with it (ON DELETE CASCADE): nothing is sent to a removed endpoint."""
        self.db.execute("DELETE FROM webhooks WHERE id = ? AND event_id = ?", (webhook_id, event_id))

    def record(
        self, delivery_id: str, *, delivered: bool, give_up: bool, status: int | None, error: str, next_at: float
    ) -> None:
        state = "delivered" if delivered else ("failed" if give_up else "pending")
        self.db.execute(
            "UPDATE webhook_outbox SET attempts = attempts + 1, state = ?, last_status = ?, last_error = ?, "
            "next_at = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? AND state = 'pending'",
            (state, status, error[:300], next_at, delivery_id),
        )
        if state != "pending":  # the log shows the last weeks; older finished messages go
            self.db.execute(
                "DELETE FROM webhook_outbox WHERE state != 'pending' "
                f"AND updated_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{KEEP_DAYS} days')"
            )

    def set_calendar_entries(self, event_id: str, entries: list[CalendarEntry]) -> None:
        self.db.executemany(
            "INSERT INTO calendar_entries (event_id, uid, fingerprint, sequence, changed_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (event_id, uid) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "sequence = max(calendar_entries.sequence, excluded.sequence), changed_at = excluded.changed_at",
            [(event_id, e.uid, e.fingerprint, e.sequence, e.changed_at) for e in entries],
        )

    def new_calendar_generation(self, event_id: str, participant_id: str) -> None:
        self.db.execute(
            "UPDATE participants SET calendar_generation = calendar_generation + 1 WHERE id = ? AND event_id = ?",
            (participant_id, event_id),
        )
