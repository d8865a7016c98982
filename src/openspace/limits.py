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

import contextlib
import hashlib
import time
from collections import OrderedDict

from starlette.requests import HTTPConnection

from openspace import metrics
from openspace.domain.errors import N_, SlowDown
from openspace.domain.rules import Actor
from openspace.holding import Counter, Slots
from openspace.settings import Settings
from openspace.sharedlimits import Shared

# Wrong facilitator links, counted per link and per event, never per address (behind a proxy
# everyone has the proxy's): the same wrong link 10 times, then one more every 6 s; 100 wrong
# links to one event, then one more every 0.6 s (`Limits.wrong_link`).
WRONG_LINK = "10/60"
WRONG_LINKS_EVENT = "100/60"

TOO_FAST = N_("Too many actions at once. Please slow down.")
TOO_MANY_PROPOSALS = N_("You proposed several topics just now. Please wait a minute before the next one.")
TOO_MANY_PROPOSALS_HERE = N_(
    "Many topics were proposed from your network just now. Please wait a moment and send yours again."
)
TOO_MANY_DOWNLOADS = N_("Too many downloads in a short time. Please wait a minute.")
TOO_MANY_PREVIEWS = N_("Too many previews at once. Please wait a moment before the next one.")
TOO_MANY_JOINS = N_("Too many people joined from this network just now. Please try again in a minute.")
TOO_MANY_EVENTS = N_("Too many events were created just now. Please try again later.")
TOO_MANY_UPLOADS = N_("Too many photos in a short time. Please wait a few minutes.")
TOO_MANY_REFUSALS = N_("Too many requests from your address were refused just now. Please wait a few seconds.")
TOO_MANY_SOCKETS = N_("Too many open connections from you. Close a tab and reload.")


Step = tuple[list[tuple[str, "Buckets", str]], SlowDown]  # buckets spent together, and their refusal
PREVIEW_SECONDS = 0.02  # a preview's rendering time worth one token of the preview budget
DOWNLOAD_BYTES = 8 * 1024 * 1024  # a download's size worth one token of the download budget

# Commands whose one change reaches every screen at a size that grows with the board: a rename
# rewrites every topic of its convener (case 4), a saved or restored report carries up to three
# long texts rendered (case 6). Each is rare for a person; in a loop each is a fan-out amplifier.
HEAVY = frozenset({"me.rename", "report.save", "report.restore"})
PROPOSE = "topic.propose"


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

    def empty(self, key: str, now: float | None = None) -> bool:
        """Whether `key` has no token left now (nothing is spent)."""
        return self.level(key, now) < 1

    def take(self, key: str, now: float | None = None, owe: bool = False) -> bool:
        """Spend a token if one is left. `owe`: spend it even if none is, down to `-count`: eight
        requests let in at once by the penalty box were each refused after the door (663 in 10 s
        instead of 200 in the abuse bench), so their refusals are a debt that keeps it shut."""
        now = time.monotonic() if now is None else now
        tokens, stamp = self._buckets.pop(key, (float(self.count), now))
        tokens = min(float(self.count), tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1
        left = max(-float(self.count), tokens - 1) if owe else tokens - 1 if allowed else tokens
        self._buckets[key] = (left, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if not allowed and self.name:
            metrics.refused(self.name)
        return allowed

    def level(self, key: str, now: float | None = None) -> float:
        """The tokens `key` has now (negative: owed), without spending any."""
        held = self._buckets.get(key)
        if held is None:
            return float(self.count)
        now = time.monotonic() if now is None else now
        return min(float(self.count), held[0] + (now - held[1]) * self.rate)

    def until(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` has a token again (0: it has one now)."""
        held = self._buckets.get(key)
        if held is None:
            return 0.0
        now = time.monotonic() if now is None else now
        return max(0.0, (1 - held[0]) / self.rate - (now - held[1]))

    def spend(self, key: str, n: float, now: float | None = None) -> float:
        """Spend `n` tokens, owed down to `-count`; the seconds until none is owed any more."""
        now = time.monotonic() if now is None else now
        tokens, stamp = self._buckets.pop(key, (float(self.count), now))
        tokens = max(-float(self.count), min(float(self.count), tokens + (now - stamp) * self.rate) - n)
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return max(0.0, -tokens / self.rate)

    def afford(self, key: str, n: float, now: float | None = None) -> bool:
        """Spend `n` tokens if `key` has them, or had a full bucket before this request's first
        token (so a thing larger than the whole budget can still be had, once); else nothing."""
        level = self.level(key, now)
        if level < n and level < self.count - 1:
            return False
        self.spend(key, n, now)
        return True


def address(conn: HTTPConnection) -> str:
    client = getattr(conn, "client", None)  # a test's stand-in socket may have none
    return client.host if client else "unknown"


def who(actor: Actor, conn: HTTPConnection) -> str:
    """The participant where known, else the facilitator of the event, else the address."""
    if actor.participant_id:
        return "p:" + actor.participant_id
    return "a:" + address(conn)


class Limits:
    """Every per-person, per-address and per-event limit of one server, from its settings.

    With a Redis bus (several workers) the buckets live in Redis, so a client spreading its
    actions over the workers is limited at the same total as on one; without, in this process.
    """

    def __init__(self, settings: Settings) -> None:
        self.person = Buckets(settings.limit_actions_person, name="actions_person")
        self.address = Buckets(settings.limit_actions_address, name="actions_address")
        self.event = Buckets(settings.limit_actions_event, name="actions_event")
        self.previews = Buckets(settings.limit_previews, name="previews")
        self.joins = Buckets(settings.limit_joins_address, name="joins_address")
        self.new_by_address = Buckets(settings.limit_new_events_address, name="new_events_address")
        self.new_events = Buckets(settings.limit_new_events, name="new_events")
        self.uploads = Buckets(settings.limit_uploads_person, name="uploads_person")
        self.heavy = Buckets(settings.limit_heavy_person, name="heavy_person")
        self.proposals = Buckets(settings.limit_proposals_person, name="proposals_person")
        self.proposals_here = Buckets(settings.limit_proposals_address, name="proposals_address")
        self.downloads = Buckets(settings.limit_downloads, name="downloads")
        self.refusals = Buckets(settings.limit_refusals_address, name="refusals_address")
        self.wrong_links = Buckets(WRONG_LINK, name="wrong_link")
        self.wrong_links_event = Buckets(WRONG_LINKS_EVENT, name="wrong_links_event")
        self.person_sockets = Counter(settings.sockets_per_person, name="sockets_per_person")
        self.address_sockets = Counter(settings.sockets_per_address, name="sockets_per_address")
        self.upload_slots = Slots(settings.uploads_at_once, 1, name="uploads_at_once")
        self.shared = Shared(settings.bus_url) if settings.bus_url.startswith(("redis://", "rediss://")) else None

    async def take(self, *spends: tuple[str, Buckets, str], conn: HTTPConnection | None = None) -> bool:
        """One token from each (name, buckets, key) in order, stopping at the first refusal; a
        refusal also spends from `conn`'s address's refusal budget (the penalty box)."""
        allowed = None
        if self.shared is not None:
            allowed = await self.shared.take([(f"{name}:{key}", buckets) for name, buckets, key in spends])
        if allowed is None:
            allowed = all(buckets.take(key) for _, buckets, key in spends)
        if not allowed and conn is not None:
            self.refusals.take(address(conn), owe=True)
        return allowed

    def penalised(self, host: str) -> bool:
        """Whether this address was refused so often lately that it is refused at the door."""
        return self.refusals.empty(host)

    def flooding(self, conn: HTTPConnection, actor: Actor) -> bool:
        """Whether this address has spent half its refusal budget lately: a refused form is then
        answered with the short page, not its own page again with what was typed. A person gets
        their form back; a loop of refusals got a whole participant page each, ten a second within
        the budget (#21, the abuse bench's form flood: honest p99 x1.9-x4.4)."""
        return not actor.facilitator and self.refusals.level(address(conn)) < self.refusals.count / 2

    def penalty(self, host: str) -> float:
        """Seconds until this address is let in at the door again (0: now)."""
        return self.refusals.until(host)

    def refused(self, conn: HTTPConnection, actor: Actor) -> None:
        """A form the rules refused was answered with its whole page again (~6 ms of the loop):
        that too spends from the address's refusal budget, so a loop of refused proposals ends at
        the door like a loop of too-fast ones (#21: 690 in 7 s held every round of frames to 150
        ms). The facilitator, as in the address's action budget, is not counted."""
        if not actor.facilitator:
            self.refusals.take(address(conn), owe=True)

    def _steps(self, conn: HTTPConnection, event_id: str, actor: Actor, name: str, preview: bool) -> list[Step]:
        """What a form or socket action spends, in order: each step's buckets, and its refusal.
        The one list `action` and `preview` take from and `hopeless` looks at."""
        person, place = who(actor, conn), address(conn)
        if preview:
            return [([("preview", self.previews, person)], SlowDown(TOO_MANY_PREVIEWS))]
        steps: list[Step] = []
        if name in HEAVY:  # a change that can be large also spends from the person's heavy budget
            steps.append(([("heavy", self.heavy, person)], SlowDown(TOO_FAST)))
        # each new topic is a card on every screen: eight joined browsers of one flood put 160 up
        # in 3 s within every other budget (#21). The facilitator typing in paper sheets is not counted.
        # and per address too: eight of them are eight people, with 40 cards in their first second
        if name == PROPOSE and not actor.facilitator:  # said by the field, the title kept
            steps.append(([("proposals", self.proposals, person)], SlowDown(TOO_MANY_PROPOSALS, field="title")))
            here = SlowDown(TOO_MANY_PROPOSALS_HERE, field="title")
            steps.append(([("proposals_here", self.proposals_here, place)], here))
        # the facilitator (who holds the event's secret link) is not counted in the address's
        # budget: a hall behind one NAT must not slow the person running the day
        spends = [("person", self.person, person), ("event", self.event, event_id)]
        if not actor.facilitator:
            spends.insert(1, ("address", self.address, place))
        steps.append((spends, SlowDown(TOO_FAST)))
        return steps

    async def action(self, conn: HTTPConnection, event_id: str, actor: Actor, name: str = "") -> None:
        """Raise SlowDown when this person, their address or the event has spent its share."""
        for spends, refusal in self._steps(conn, event_id, actor, name, preview=False):
            if not await self.take(*spends, conn=conn):
                raise refusal

    async def wrong_link(self, event_id: str, secret: str) -> bool:
        """Count a wrong facilitator link; True when it, or its event, had too many (a 429).

        The secret has 256 bits, so it is its length, not this count, that defeats guessing. The
        count tells a page that keeps reloading a broken link, or a flood, to stop, without ever
        shutting out the holder of the right link, which is checked before this. In Redis with
        several workers, as the other buckets: per process, a link tried on three workers had
        three times its count (#17). A wrong secret is kept only as a hash."""
        link = event_id + "|" + hashlib.sha256(secret.encode()).hexdigest()[:32]
        spends = ("wrong_link", self.wrong_links, link), ("wrong_links_event", self.wrong_links_event, event_id)
        return not await self.take(*spends)

    async def preview(self, conn: HTTPConnection, actor: Actor) -> None:
        ((spends, refusal),) = self._steps(conn, "", actor, "", preview=True)
        if not await self.take(*spends, conn=conn):
            raise refusal

    def hopeless(self, conn: HTTPConnection, event_id: str, actor: Actor, name: str, preview: bool) -> SlowDown | None:
        """The refusal a form from a flooding address will get, known before its fields are
        decoded: a bucket it would spend from is empty. Decoding a form is the costly part of a
        refused one: three fields of ten kilobytes of "![" take 7.5 ms to unquote, and a loop of
        them cost the server a fifth of a core in 429s (#21, the abuse bench's previews x1.6).
        The refusal is counted, as one after decoding is. In this process's buckets only: with
        Redis (several workers) the limits are still kept, after decoding."""
        if self.shared is not None or not self.flooding(conn, actor):
            return None
        for spends, refusal in self._steps(conn, event_id, actor, name, preview):
            if any(buckets.empty(key) for _, buckets, key in spends):
                self.refusals.take(address(conn), owe=True)
                return refusal
        return None

    async def previewed(self, conn: HTTPConnection, actor: Actor, seconds: float) -> None:
        """Charge a preview for what its rendering cost, one token per `PREVIEW_SECONDS` beyond
        the one `preview` took. A person's preview renders in a millisecond or two; ten kilobytes
        of "![" took 150 ms a field, so the preview budget's count let one address keep a job
        worker busy nearly all the time (#21, the abuse bench: honest p99 x1.58)."""
        await self._owe("preview", self.previews, who(actor, conn), seconds / PREVIEW_SECONDS - 1)

    async def download(self, conn: HTTPConnection, actor: Actor) -> None:
        """An export is built once per change, but each download is still read and sent (#21: a
        loop of cached PDFs is 236 a second, most of a core)."""
        if not await self.take(("download", self.downloads, who(actor, conn)), conn=conn):
            raise SlowDown(TOO_MANY_DOWNLOADS)

    async def downloaded(self, conn: HTTPConnection, actor: Actor, size: int) -> None:
        """Charge a download for its size before it is sent, one token per `DOWNLOAD_BYTES` beyond
        the one `download` took, and refuse it if the budget cannot pay: a download's cost is its
        bytes. Eight asked at once each took their token while the book was built, and then each
        went into debt: eight 68 MB books at once (the abuse bench's PDF, honest p99 x2.2)."""
        key, extra = who(actor, conn), size / DOWNLOAD_BYTES - 1
        if extra <= 0:
            return
        paid = await self.shared.afford(f"download:{key}", self.downloads, extra) if self.shared else None
        if paid is None:  # no Redis, or it did not answer: this process's own buckets
            paid = self.downloads.afford(key, extra)
        if not paid:
            self.refusals.take(address(conn), owe=True)
            raise SlowDown(TOO_MANY_DOWNLOADS)

    async def _owe(self, name: str, buckets: Buckets, key: str, extra: float) -> None:
        """Spend `extra` more tokens, going into debt if need be: the work is done already."""
        if extra > 0 and (self.shared is None or not await self.shared.spend(f"{name}:{key}", buckets, extra)):
            buckets.spend(key, extra)

    async def join(self, conn: HTTPConnection) -> None:
        if not await self.take(("join", self.joins, address(conn)), conn=conn):
            raise SlowDown(TOO_MANY_JOINS)

    async def new_event(self, conn: HTTPConnection) -> None:
        if not await self.take(("new", self.new_by_address, address(conn)), ("new", self.new_events, "all"), conn=conn):
            raise SlowDown(TOO_MANY_EVENTS)

    async def upload(self, conn: HTTPConnection, actor: Actor) -> None:
        if not await self.take(("upload", self.uploads, who(actor, conn)), conn=conn):
            raise SlowDown(TOO_MANY_UPLOADS)

    def uploading(self, conn: HTTPConnection, actor: Actor) -> contextlib.AbstractAsyncContextManager[None]:
        """A turn to send photos: one upload at a time per person, `uploads_at_once` in all. An
        upload is read into memory (five photos, up to 75 MB) rather than spooled to temporary
        files on the database's disk, so these turns are what bounds that memory; they also keep
        eight loops of one script to the share of a few people (#21, the abuse bench)."""
        return self.upload_slots.hold(who(actor, conn))

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

    async def open_socket(self, conn: HTTPConnection, actor: Actor) -> tuple[str, str] | None:
        """Count a new socket; None when over the limit. Give the keys back to `close_socket`."""
        person, place = who(actor, conn), address(conn)
        if self.shared is not None:
            counts = [(person, self.person_sockets.limit)] if actor.participant_id else []
            member = await self.shared.sockets.open([*counts, (place, self.address_sockets.limit)])
            if member is not None:
                return ("shared", member) if member else None
        if actor.participant_id and not self.person_sockets.acquire(person):
            return None
        if not self.address_sockets.acquire(place):
            if actor.participant_id:
                self.person_sockets.release(person)
            return None
        return (person if actor.participant_id else "", place)

    async def close_socket(self, keys: tuple[str, str]) -> None:
        person, place = keys
        if person == "shared" and self.shared is not None:
            await self.shared.sockets.shut(place)
            return
        if person:
            self.person_sockets.release(person)
        self.address_sockets.release(place)
