"""How much one person, one client address and one event may spend (issue #21).

Every limit is a token bucket per key, written "count/seconds" in the settings: `count` at once,
refilled at `count` per `seconds`. The keys are chosen so that a hall of three hundred phones
behind one NAT address is not one person: a participant who has joined is counted as that
participant (`p:<id>`), and only someone not known is counted by address. The address still has a
limit of its own, high enough for a hall, so that a script cannot escape by joining many times
(joins are limited per address too).

The same `Limits` is asked by the form endpoint, the websocket and the upload, so sixteen sockets
or a form loop spend from the same bucket as one socket. Memory is bounded: each table forgets
its least recently used key beyond `max_keys`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from openspace import metrics
from openspace.domain.errors import N_, SlowDown
from openspace.domain.rules import Actor
from openspace.settings import Settings

TOO_FAST = N_("Too many actions at once. Please slow down.")
TOO_MANY_PREVIEWS = N_("Too many previews at once. Please wait a moment before the next one.")
TOO_MANY_JOINS = N_("Too many people joined from this network just now. Please try again in a minute.")
TOO_MANY_EVENTS = N_("Too many events were created just now. Please try again later.")
TOO_MANY_UPLOADS = N_("Too many photos in a short time. Please wait a few minutes.")
TOO_MANY_SOCKETS = N_("Too many open connections from you. Close a tab and reload.")


def parse_rate(spec: str) -> tuple[int, float]:
    """'100/10' -> (100, 10.0): at most 100 at once, refilled over 10 seconds."""
    count, _, seconds = spec.partition("/")
    return int(count), float(seconds or 1)


class Buckets:
    """Token buckets by key: `count` at once, `count / seconds` refilled per second."""

    def __init__(self, spec: str, max_keys: int = 20_000, name: str = "") -> None:
        self.name = name  # the limit's setting, without "limit_": what the metric names (#17)
        self.count, seconds = parse_rate(spec)
        self.rate = self.count / seconds
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, stamp = self._buckets.pop(key, (float(self.count), now))
        tokens = min(float(self.count), tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if not allowed and self.name:
            metrics.LIMITS.labels(self.name).inc()
        return allowed


def address(conn: HTTPConnection) -> str:
    client = getattr(conn, "client", None)  # a test's stand-in socket may have none
    return client.host if client else "unknown"


def who(actor: Actor, conn: HTTPConnection) -> str:
    """The participant where known, else the facilitator of the event, else the address."""
    if actor.participant_id:
        return "p:" + actor.participant_id
    return "a:" + address(conn)


@dataclass
class Counter:
    """Open things (sockets) per key, released when they close."""

    limit: int
    name: str = ""

    def __post_init__(self) -> None:
        self.open: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        if self.open.get(key, 0) >= self.limit:
            if self.name:
                metrics.LIMITS.labels(self.name).inc()
            return False
        self.open[key] = self.open.get(key, 0) + 1
        return True

    def release(self, key: str) -> None:
        left = self.open.get(key, 0) - 1
        if left > 0:
            self.open[key] = left
        else:
            self.open.pop(key, None)


class Limits:
    """Every per-person, per-address and per-event limit of one server, from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.person = Buckets(settings.limit_actions_person, name="actions_person")
        self.address = Buckets(settings.limit_actions_address, name="actions_address")
        self.event = Buckets(settings.limit_actions_event, name="actions_event")
        self.previews = Buckets(settings.limit_previews, name="previews")
        self.joins = Buckets(settings.limit_joins_address, name="joins_address")
        self.new_by_address = Buckets(settings.limit_new_events_address, name="new_events_address")
        self.new_events = Buckets(settings.limit_new_events, name="new_events")
        self.uploads = Buckets(settings.limit_uploads_person, name="uploads_person")
        self.person_sockets = Counter(settings.sockets_per_person, name="sockets_per_person")
        self.address_sockets = Counter(settings.sockets_per_address, name="sockets_per_address")

    def action(self, conn: HTTPConnection, event_id: str, actor: Actor) -> None:
        """Raise SlowDown when this person, their address or the event has spent its share."""
        if not (self.person.take(who(actor, conn)) and self.address.take(address(conn)) and self.event.take(event_id)):
            raise SlowDown(TOO_FAST)

    def preview(self, conn: HTTPConnection, actor: Actor) -> None:
        if not self.previews.take(who(actor, conn)):
            raise SlowDown(TOO_MANY_PREVIEWS)

    def join(self, conn: HTTPConnection) -> None:
        if not self.joins.take(address(conn)):
            raise SlowDown(TOO_MANY_JOINS)

    def new_event(self, conn: HTTPConnection) -> None:
        if not (self.new_by_address.take(address(conn)) and self.new_events.take("all")):
            raise SlowDown(TOO_MANY_EVENTS)

    def upload(self, conn: HTTPConnection, actor: Actor) -> None:
        if not self.uploads.take(who(actor, conn)):
            raise SlowDown(TOO_MANY_UPLOADS)

    def open_socket(self, conn: HTTPConnection, actor: Actor) -> tuple[str, str] | None:
        """Count a new socket; None when over the limit. Give the keys back to `close_socket`."""
        person, place = who(actor, conn), address(conn)
        if actor.participant_id and not self.person_sockets.acquire(person):
            return None
        if not self.address_sockets.acquire(place):
            if actor.participant_id:
                self.person_sockets.release(person)
            return None
        return (person if actor.participant_id else "", place)

    def close_socket(self, keys: tuple[str, str]) -> None:
        person, place = keys
        if person:
            self.person_sockets.release(person)
        self.address_sockets.release(place)
