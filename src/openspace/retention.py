"""Retention (#17): events deleted a set number of days after their last day, with a dry run.

Off by default (`retention_days` 0): an event is kept until its facilitator deletes it. When an
operator sets a number, every server checks once an hour (`Keeper`), and `openspace retention`
does the same at once, or only lists what would go with `--dry-run`. The day is counted in the
event's own time zone: an event whose last day was 2 May is due with 30 days on 2 June, wherever
the server's clock is.

Deleting takes the one write path, `Service.delete_event`, as the facilitator's delete button
does: the event's rows, change log, names and reports in one transaction, its photos' files after
it, SQLite's WAL truncated so no page image keeps them; and the "deleted" notice on the bus, so
every worker closes the event's screens (4004). Several workers checking at the same moment
delete an event twice at worst, and the second finds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openspace.domain.model import Event
from openspace.service import Service
from openspace.store.base import Store
from openspace.tasks import honour_cancel, stop_tasks

log = logging.getLogger(__name__)

EVERY_SECONDS = 3600.0  # how often a server looks for events past their retention


def due(event: Event, days: int, now: datetime) -> bool:
    """Whether more than `days` days have passed since the event's last day, in its time zone."""
    try:
        zone = ZoneInfo(event.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    today = now.astimezone(zone).date()
    return (today - date.fromisoformat(event.ends_on or event.starts_on)).days > days


async def expired(store: Store, days: int, now: datetime | None = None) -> list[Event]:
    """The events past retention. The store is asked with a day that no time zone is ahead of
    (UTC's tomorrow), and each event is then judged on its own calendar."""
    now = now or datetime.now(UTC)
    cutoff = (now.astimezone(UTC).date() + timedelta(days=1) - timedelta(days=days)).isoformat()
    found = await store.events_ending_before(cutoff)
    return sorted((e for e in found if due(e, days, now)), key=lambda e: (e.ends_on, e.slug))


async def sweep(service: Service, days: int, now: datetime | None = None) -> list[Event]:
    """Delete every event past retention through the write path; the events deleted."""
    gone = []
    for event in await expired(service.store, days, now):
        try:
            await service.delete_event(event.id)
        except Exception:  # one failure must not keep the rest: the next sweep tries it again
            log.exception("retention could not delete an event", extra={"event": event.slug, "event_id": event.id})
            continue
        log.info("retention deleted an event %s days after it ended", days, extra={"event": event.slug})
        gone.append(event)
    return gone


class Keeper:
    """A server's hourly sweep, when retention is on."""

    def __init__(self, service: Service, days: int, every: float = EVERY_SECONDS) -> None:
        self.service, self.days, self.every = service, days, every
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.days > 0:
            self._task = asyncio.create_task(self._run(), name="openspace-retention")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])  # a cancel swallowed in the pool's wait_for (tasks.py)

    async def _run(self) -> None:
        while True:
            honour_cancel()
            try:
                await sweep(self.service, self.days)
            except Exception:  # the database was away: try at the next round
                log.exception("the retention sweep failed")
            await asyncio.sleep(self.every)
