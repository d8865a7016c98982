"""Limits shared by every worker on one Redis (issue #21): the token buckets of `limits.py` and
the open-socket counts (sharedsockets.py), kept in Redis so that a client spreading its requests
over the workers is limited at the same total as on one. When Redis does not answer, each worker counts in its
own process for a few seconds (`DOWN_SECONDS`) and then asks again: limits degrade, the event
does not stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openspace.gathered import Gathered
from openspace.sharedsockets import Sockets
from openspace.tasks import honour_cancel, stop_tasks

if TYPE_CHECKING:
    from openspace.limits import Buckets

log = logging.getLogger(__name__)

# Connections to Redis a worker uses at most for its limits. Past redis-py's own cap (100) a call
# failed at once with "Too many connections": a hall's sockets dropping and coming back together
# (one call each) put every limit in local counting for DOWN_SECONDS and left their sockets counted
# in Redis until they lapsed. Calls now wait their turn for one of these instead, up to POOL_WAIT.
POOL_SIZE = 8
POOL_WAIT = 2.0

# One token bucket per key, taken in order: the same arithmetic as `Buckets`, on Redis's clock, so
# every worker spends from the same buckets. The requests of one turn of the event loop come in
# one call (`Shared.take`): ARGV[1] requests, then each one's number of keys, then (count, rate,
# want) for every key in order. Each key answers how many tokens it gave: 0 for none (the request
# is refused there, and keys after it are not touched: those before stay spent, as locally), else
# up to `want` (the first time a key is asked in the call; 1 after that), of which the request
# spends one and the worker keeps the rest as a lease (`Shared.leases`). Numbers are kept whole:
# a clock cut to 14 digits came back later than itself within one call, and took from the next.
TAKE_MANY = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local requests, results, seen, k = tonumber(ARGV[1]), {}, {}, 1
local a = 2 + requests
for r = 1, requests do
  local allowed = 1
  for i = 1, tonumber(ARGV[1 + r]) do
    local count, rate, want = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local given = 0
    if allowed == 1 then
      if seen[KEYS[k]] then want = 1 end
      seen[KEYS[k]] = true
      local held = redis.call('HMGET', KEYS[k], 't', 's')
      local elapsed = math.max(0, now - (tonumber(held[2]) or now))
      local tokens = math.min(count, (tonumber(held[1]) or count) + elapsed * rate)
      if tokens >= 1 then given = math.min(want, math.floor(tokens)) else allowed = 0 end
      tokens = tokens - given
      redis.call('HSET', KEYS[k], 't', string.format('%.17g', tokens), 's', string.format('%.17g', now))
      redis.call('PEXPIRE', KEYS[k], math.ceil(1000 * count / rate) + 1000)
    end
    results[k] = given
    k, a = k + 1, a + 3
  end
end
return results
"""
# A lease's tokens given back, (count, rate, n) per key, up to a full bucket; a bucket that lapsed
# meanwhile is full already.
GIVE_BACK = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
for i, key in ipairs(KEYS) do
  local count, rate, n = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local held = redis.call('HMGET', key, 't', 's')
  if held[1] then
    local tokens = math.min(count, tonumber(held[1]) + math.max(0, now - tonumber(held[2])) * rate + n)
    redis.call('HSET', key, 't', string.format('%.17g', tokens), 's', string.format('%.17g', now))
    redis.call('PEXPIRE', key, math.ceil(1000 * count / rate) + 1000)
  end
end
return 1
"""
# Tokens spent after the fact, owed down to -count: what a request cost once it is known (a
# preview's rendering time), on the same buckets as TAKE_MANY. With ARGV[4] = 1, only if the bucket
# has them or was full before the request's first token (`Buckets.afford`): else 0, nothing spent.
SPEND = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local count, rate, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[1], 't', 's')
local tokens = math.min(count, (tonumber(held[1]) or count) + (now - (tonumber(held[2]) or now)) * rate)
if ARGV[4] == '1' and tokens < n and tokens < count - 1 then return 0 end
tokens = math.max(-count, tokens - n)
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(2000 * count / rate) + 1000)
return 1
"""
PREFIX = "openspace:limit:"
DOWN_SECONDS = 5.0  # after Redis failed to answer, count locally this long before asking it again
LEASE_SHARE = 8  # a worker holds at most 1/8 of a bucket's tokens ahead of its requests (`Shared.leases`)
LEASE_SECONDS = 1.0  # and gives back what it did not spend after this long unused
LEASE_MOST = 10.0  # or this long after it was lent, however busy


@dataclass
class Lease:
    """Tokens of one bucket this worker took from Redis ahead of its requests."""

    tokens: float
    count: float  # the bucket's, to give them back to it
    rate: float
    since: float  # time.monotonic() when it was lent
    until: float = 0.0  # time.monotonic() when they go back unspent (`used`)

    def __post_init__(self) -> None:
        self.used(self.since)

    def used(self, now: float) -> None:
        """A lease in use stays: one that lapsed a second after it was lent made a person acting
        every second or two ask Redis nearly every time (with 1,536 people at 2,000 actions/s, a
        call every few turns of the event loop, issue #17). It never lives past LEASE_MOST, so
        what it holds goes back to the bucket at least that often."""
        self.until = min(now + LEASE_SECONDS, self.since + LEASE_MOST)


@dataclass
class Asked:
    """One request's buckets: those its worker's leases paid for, and those it asks Redis for."""

    keys: list[str] = field(default_factory=list)  # asked of Redis, in the request's order
    places: list[int] = field(default_factory=list)  # each one's place among the request's buckets
    wants: list[float] = field(default_factory=list)  # (count, rate, want) for each, as TAKE_MANY reads them
    held: list[tuple[int, Lease]] = field(default_factory=list)  # (place, lease) of a token taken from a lease

    def settle(self, given: list[int] | None) -> bool | None:
        """The answer, from what Redis gave (None: it did not answer). A leased token after the first
        bucket Redis refused goes back to its lease: a refusal spends only the buckets before it."""
        refused = next((self.places[i] for i, n in enumerate(given or ()) if n < 1), None)
        for place, lease in self.held:
            if given is None or (refused is not None and place > refused):
                lease.tokens += 1
        return None if given is None else refused is None


class Shared:
    """Token buckets in Redis, shared by every worker on it (issue #21): `take` answers None when
    Redis cannot be reached, and the caller falls back to its own local buckets meanwhile."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis  # only servers with a Redis bus need it

        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=POOL_SIZE, timeout=POOL_WAIT, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        self.client = redis.Redis.from_pool(pool)
        self.script = self.client.register_script(TAKE_MANY)
        self.give_back_script = self.client.register_script(GIVE_BACK)
        self.taking: Gathered[Asked, bool | None] = Gathered(self._take_many)
        self.leases: dict[str, Lease] = {}  # key -> tokens this worker took from Redis ahead
        self.returning: list[tuple[str, Lease]] = []  # lapsed leases replaced before `give_back` saw them
        self._returner: asyncio.Task[None] | None = None
        self.spend_script = self.client.register_script(SPEND)
        self.down_until = 0.0
        self.sockets = Sockets(self.client, lambda: time.monotonic() < self.down_until, self.failed)

    async def take(self, buckets: list[tuple[str, Buckets]]) -> bool | None:
        """A token of each bucket, in order, or none past the first that has none.

        A token this worker holds on lease is spent here. The rest go to Redis, with every other
        request of this turn of the event loop (TAKE_MANY): a round trip and redis-py's own
        Python each time was a tenth of the event loop at 2,000 durable actions a second, and
        its wait made each action later still (issue #17: p99 27-61 ms against 16-26 without).
        Redis gives a bucket's first asker of a call up to 1/LEASE_SHARE of what it has; the
        worker spends one and keeps the rest for its next requests on that key. So a client can
        never get more than its bucket across the workers (every token was taken from Redis
        first); one close to the end of its budget may be refused while another worker still
        holds some of it, until that worker has not spent from it for LEASE_SECONDS (at most
        LEASE_MOST after it was lent), after which it gives them back."""
        now = time.monotonic()
        if now < self.down_until:
            return None
        asked = Asked()
        for place, (name, bucket) in enumerate(buckets):
            key = PREFIX + name
            lease = self.leases.get(key)
            if lease is not None and lease.until > now and lease.tokens >= 1:
                lease.tokens -= 1  # kept unless a bucket before it refuses (`Asked.settle`)
                lease.used(now)
                asked.held.append((place, lease))
            else:
                asked.keys.append(key)
                asked.places.append(place)
                asked.wants += [bucket.count, bucket.rate, max(1, int(bucket.count) // LEASE_SHARE)]
        if not asked.keys:
            return True
        return await self.taking.ask(asked)

    async def _take_many(self, waiting: list[Asked]) -> list[bool | None]:
        keys = [key for asked in waiting for key in asked.keys]
        args: list[float] = [len(waiting), *(len(asked.keys) for asked in waiting)]
        args += [x for asked in waiting for x in asked.wants]
        given: list[int] | None = None
        try:
            answered = [int(n) for n in await self.script(keys=keys, args=args)]
            if len(answered) != len(keys):
                raise ValueError(f"{len(answered)} answers for {len(keys)} buckets")
            given = answered
        except Exception as problem:  # Redis down or slow: the local buckets keep counting
            self.failed(problem)
        answers, at = [], 0
        for asked in waiting:
            mine = None if given is None else given[at : at + len(asked.keys)]
            at += len(asked.keys)
            for i, n in enumerate(mine or ()):
                if n > 1:
                    self.lend(asked.keys[i], n - 1, asked.wants[3 * i], asked.wants[3 * i + 1])
            answers.append(asked.settle(mine))
        return answers

    def lend(self, key: str, tokens: int, count: float, rate: float) -> None:
        lease = self.leases.get(key)
        now = time.monotonic()
        if lease is None or lease.until <= now:
            if lease is not None:
                self.returning.append((key, lease))
            self.leases[key] = Lease(tokens, count, rate, now)
        else:
            lease.tokens += tokens
            lease.used(now)
        if self._returner is None:
            self._returner = asyncio.create_task(self.give_back(), name="openspace-leases")

    async def give_back(self) -> None:
        """Every LEASE_SECONDS, the tokens of leases that lapsed go back to Redis, in one call."""
        while True:
            honour_cancel()  # a cancel that redis-py's wait_for swallowed (tasks.py)
            await asyncio.sleep(LEASE_SECONDS)
            now = time.monotonic()
            lapsed = [(key, lease) for key, lease in self.leases.items() if lease.until <= now]
            for key, _ in lapsed:
                del self.leases[key]
            lapsed += self.returning
            self.returning = []
            owed = [(key, lease) for key, lease in lapsed if lease.tokens >= 1]
            for at in range(0, len(owed), 1000):
                chunk = owed[at : at + 1000]
                args = [x for _, lease in chunk for x in (lease.count, lease.rate, lease.tokens)]
                with contextlib.suppress(Exception):  # not given back: the bucket refills by itself
                    await self.give_back_script(keys=[key for key, _ in chunk], args=args)

    async def spend(self, key: str, buckets: Buckets, n: float) -> bool:
        """Spend `n` more tokens of `key`, owed down to `-count`; False when Redis cannot be
        reached (the caller spends from its local buckets instead)."""
        if time.monotonic() < self.down_until:
            return False
        try:
            await self.spend_script(keys=[PREFIX + key], args=[buckets.count, buckets.rate, n])
        except Exception as problem:
            self.failed(problem)
            return False
        return True

    async def afford(self, key: str, buckets: Buckets, n: float) -> bool | None:
        """`Buckets.afford` in Redis: whether `n` tokens of `key` were there and are now spent;
        None when Redis cannot be reached."""
        if time.monotonic() < self.down_until:
            return None
        try:
            return bool(await self.spend_script(keys=[PREFIX + key], args=[buckets.count, buckets.rate, n, 1]))
        except Exception as problem:
            self.failed(problem)
            return None

    def failed(self, problem: Exception) -> None:
        log.warning("limits: Redis did not answer (%s); counting in this process for now", problem)
        self.down_until = time.monotonic() + DOWN_SECONDS

    async def close(self) -> None:
        """Both loops end for sure: one cancel, swallowed inside a Redis call, left a worker
        waiting for ever after SIGTERM (tasks.py)."""
        if self._returner is not None:
            await stop_tasks([self._returner])
        owed = [(key, lease) for key, lease in [*self.leases.items(), *self.returning] if lease.tokens >= 1]
        self.leases, self.returning = {}, []
        if owed:  # what this worker held goes back at once, not when it would have lapsed
            with contextlib.suppress(Exception):
                args = [x for _, lease in owed for x in (lease.count, lease.rate, lease.tokens)]
                await self.give_back_script(keys=[key for key, _ in owed], args=args)
        await self.sockets.close()
        await self.client.aclose()
