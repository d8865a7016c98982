"""What the event tells the world outside the room (#18): webhooks' outbox, calendar sequences
and personal calendar links, as the pages and the delivery worker need them.

`notify` runs inside the write path's transaction, right after a change is written, so the
outbox row commits with the change or not at all: a crash can lose neither one alone. Every
other write here goes through the service's one writer like any write does; reads go to the
store's reader.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from openspace import i18n
from openspace.domain import webhooks
from openspace.domain.errors import N_, Invalid
from openspace.domain.model import Board, Change
from openspace.store import outbound
from openspace.store.outbound import CalendarEntry, Delivery, Webhook

if TYPE_CHECKING:
    from openspace.batching import Batch
    from openspace.service import Service
    from openspace.store.base import Store, Transaction

__all__ = ["CalendarEntry", "Delivery", "Outward", "Webhook", "notify"]


def notify(tx: Transaction, board: Board, seq: int, change: Change) -> bool:
    """Queue what `change` tells the event's webhooks, in the change's own transaction; whether
    there was anything to queue (else the delivery worker need not look)."""
    found = webhooks.notices(board, change)
    if not found:
        return False
    now = time.time()
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
    translations = i18n.translations(board.event.language if board.event.language in i18n.LANGUAGES else "en")
    for notice in found:
        text = translations.ugettext(notice.message)
        text = text % notice.params if notice.params else text
        body = {"type": notice.kind, "timestamp": stamp, "seq": seq, "text": text, "data": notice.data}
        tx.outbound.queue(board.event.id, seq, notice.kind, body, now)
    return True


class Outward:
    """The outward tables for the pages and the worker: reads from the store, writes through the
    service's writer."""

    def __init__(self, store: Store, service: Service, calendar_key: str) -> None:
        self.store = store
        self.service = service
        self.calendar_key = calendar_key.encode()

    # --- webhooks -------------------------------------------------------------------------

    async def webhooks(self, event_id: str) -> list[Webhook]:
        return [outbound.webhook(r) for r in await self.store.outward(outbound.WEBHOOK_SQL, (event_id,))]

    async def deliveries(self, event_id: str, limit: int = 50) -> list[Delivery]:
        rows = await self.store.outward(outbound.DELIVERIES_SQL, (event_id, limit))
        return [outbound.delivery(r) for r in rows]

    async def claim(self, limit: int, lease: float) -> list[Delivery]:
        """Up to `limit` due messages for this worker alone to post, leased for `lease` seconds
        (store/outbound.py's claim): a write, so the worker asks only once `next_due` says so."""
        now = time.time()
        taken: list[Delivery] = await self.service.submit(lambda tx, batch: tx.outbound.claim(now, limit, now + lease))
        return taken

    async def next_due(self) -> float | None:
        rows = await self.store.outward(outbound.NEXT_DUE_SQL, ())
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def add_webhook(self, event_id: str, url: str, kinds: tuple[str, ...], shape: str = "standard") -> Webhook:
        webhook_id, secret = secrets.token_urlsafe(9), webhooks.new_secret(secrets.token_bytes(24))

        def run(tx: Transaction, batch: Batch) -> None:
            if tx.outbound.count_webhooks(event_id) >= webhooks.MAX_WEBHOOKS:
                raise Invalid(N_("An event can have at most %(max)s webhooks."), max=webhooks.MAX_WEBHOOKS)
            tx.outbound.add_webhook(webhook_id, event_id, url, secret, kinds, shape)

        await self.service.submit(run)
        return Webhook(webhook_id, url, secret, kinds, "", shape)

    async def remove_webhook(self, event_id: str, webhook_id: str) -> None:
        await self.service.submit(lambda tx, batch: tx.outbound.remove_webhook(event_id, webhook_id))

    async def record(
        self, delivery_id: str, *, delivered: bool, give_up: bool, status: int | None, error: str, next_at: float
    ) -> None:
        def run(tx: Transaction, batch: Batch) -> None:
            tx.outbound.record(
                delivery_id, delivered=delivered, give_up=give_up, status=status, error=error, next_at=next_at
            )

        await self.service.submit(run)

    # --- calendars --------------------------------------------------------------------------

    async def sequences(self, event_id: str, fingerprints: dict[str, str]) -> dict[str, CalendarEntry]:
        """Each calendar entry's SEQUENCE, raised whenever its content (`fingerprints`: uid ->
        a hash of what a calendar shows) differs from what was last served. Stored, because the
        change log is trimmed and a slot's new time changes entries no topic row records."""
        rows = await self.store.outward(outbound.CALENDAR_SQL, (event_id,))
        known = {e.uid: e for e in map(outbound.calendar_entry, rows)}
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        changed = [
            CalendarEntry(uid, fp, (known[uid].sequence + 1) if uid in known else 0, now)
            for uid, fp in fingerprints.items()
            if uid not in known or known[uid].fingerprint != fp
        ]
        if changed:
            await self.service.submit(lambda tx, batch: tx.outbound.set_calendar_entries(event_id, changed))
            rows = await self.store.outward(outbound.CALENDAR_SQL, (event_id,))
            known = {e.uid: e for e in map(outbound.calendar_entry, rows)}
        return {uid: known[uid] for uid in fingerprints if uid in known}

    async def calendar_token(self, event_id: str, participant_id: str) -> str | None:
        """The secret in a participant's personal feed URL: derived, never stored, so revoking is
        raising a counter (every older link stops working)."""
        rows = await self.store.outward(outbound.GENERATION_SQL, (participant_id, event_id))
        if not rows:
            return None
        return self._token(event_id, participant_id, int(rows[0][0]))

    def _token(self, event_id: str, participant_id: str, generation: int) -> str:
        message = f"calendar:{event_id}:{participant_id}:{generation}".encode()
        return hmac.new(self.calendar_key, message, hashlib.sha256).hexdigest()[:32]

    async def calendar_owner(self, event_id: str, key: str) -> str | None:
        """The participant whose personal feed `key` ("<participant id>.<token>") opens, if any."""
        participant_id, _, token = key.partition(".")
        expected = await self.calendar_token(event_id, participant_id) if participant_id and token else None
        if expected is None or not hmac.compare_digest(expected, token):
            return None
        return participant_id

    async def revoke_calendar(self, event_id: str, participant_id: str) -> None:
        await self.service.submit(lambda tx, batch: tx.outbound.new_calendar_generation(event_id, participant_id))


def body_of(delivery: Delivery) -> bytes:
    """The exact bytes that were queued: the same on every try, as the signature covers them."""
    return delivery.body.encode()


def parsed(delivery: Delivery) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(delivery.body)
    return value
