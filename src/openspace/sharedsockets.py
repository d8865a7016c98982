"""Open sockets counted in Redis, so that a person's or an address's sockets are limited at the
same total whichever workers they land on (issue #21). Part of `sharedlimits.Shared`, which owns
the connection and knows when Redis is down.

Sockets come and go in crowds: when a hall's wifi drops, hundreds close and open again in the same
moment. The opens and the closes of one turn of the event loop each go to Redis as one call
(`gathered.Gathered`), so a crowd costs a few round trips, not one each queued for a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any

from openspace.gathered import Gathered
from openspace.tasks import honour_cancel, stop_tasks

SOCKET_TTL = 60  # seconds a shared socket count lasts without its worker refreshing it
KEY = "openspace:limit:sockets:"

# A sorted set per key whose members are sockets, scored by when they lapse; a worker refreshes
# its sockets every SOCKET_TTL / 3 s, so the sockets of a worker that died lapse by themselves.
# ARGV: the ttl, the number of requests, then for each its member, its number of keys and each
# key's limit; KEYS: every request's keys in order. Requests are taken in order, as one at a time
# would be: one over a limit on any of its keys is counted on none (0), else on all (1).
OPEN_MANY = """
local clock = redis.call('TIME')
local now, ttl = tonumber(clock[1]), tonumber(ARGV[1])
local answers, swept = {}, {}
local k, a = 1, 3
for r = 1, tonumber(ARGV[2]) do
  local member, n = ARGV[a], tonumber(ARGV[a + 1])
  local ok = 1
  for i = 0, n - 1 do
    local key = KEYS[k + i]
    if not swept[key] then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
      swept[key] = true
    end
    if redis.call('ZCARD', key) >= tonumber(ARGV[a + 2 + i]) then
      ok = 0
      break
    end
  end
  if ok == 1 then
    for i = 0, n - 1 do
      redis.call('ZADD', KEYS[k + i], now + ttl, member)
      redis.call('EXPIRE', KEYS[k + i], ttl)
    end
  end
  answers[r] = ok
  k, a = k + n, a + 2 + n
end
return answers
"""
REFRESH = """
local clock = redis.call('TIME')
local until_ = tonumber(clock[1]) + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', until_, ARGV[1 + i])
  redis.call('EXPIRE', key, tonumber(ARGV[1]))
end
return 1
"""

Opening = tuple[str, list[str], list[int]]  # a socket's member, its keys, each key's limit
Shutting = tuple[str, list[str]]  # a socket's member and its keys


class Sockets:
    """This worker's sockets in Redis: counted as they open, refreshed while open (a worker that
    dies leaves nothing counted for long), given back as they close."""

    def __init__(self, client: Any, down: Callable[[], bool], failed: Callable[[Exception], None]) -> None:
        self.client = client
        self.down, self.failed = down, failed
        self.open_script = client.register_script(OPEN_MANY)
        self.refresh_script = client.register_script(REFRESH)
        self.origin = secrets.token_hex(6)  # this worker, in the names of its sockets
        self.opened: dict[str, list[str]] = {}  # this worker's sockets in Redis: member -> keys
        self.opening: Gathered[Opening, bool] = Gathered(self._open_many)
        self.shutting: Gathered[Shutting, None] = Gathered(self._shut_many)
        self._keeper: asyncio.Task[None] | None = None

    async def open(self, counts: list[tuple[str, int]]) -> str | None:
        """Count one socket under each (key, limit): its name in Redis, "" when over a limit, None
        when Redis cannot be reached (count it locally)."""
        if self.down():
            return None
        member = f"{self.origin}:{secrets.token_hex(6)}"
        keys = [KEY + key for key, _ in counts]
        try:
            if not await self.opening.ask((member, keys, [n for _, n in counts])):
                return ""
        except Exception as problem:
            self.failed(problem)
            return None
        self.opened[member] = keys
        if self._keeper is None:
            self._keeper = asyncio.create_task(self.keep(), name="openspace-limits")
        return member

    async def _open_many(self, asked: list[Opening]) -> list[bool]:
        args: list[Any] = [SOCKET_TTL, len(asked)]
        for member, keys, limits in asked:
            args += [member, len(keys), *limits]
        answers = await self.open_script(keys=[key for _, keys, _ in asked for key in keys], args=args)
        return [bool(int(n)) for n in answers]

    async def shut(self, member: str) -> None:
        keys = self.opened.pop(member, [])
        if keys:
            with contextlib.suppress(Exception):  # not given back: it lapses after SOCKET_TTL
                await self.shutting.ask((member, keys))

    async def _shut_many(self, asked: list[Shutting]) -> list[None]:
        async with self.client.pipeline(transaction=False) as pipe:
            for member, keys in asked:
                for key in keys:
                    pipe.zrem(key, member)
            await pipe.execute()
        return [None] * len(asked)

    async def keep(self) -> None:
        """Refresh this worker's open sockets in Redis, so they do not lapse while open."""
        while True:
            honour_cancel()  # a cancel that redis-py's wait_for swallowed (tasks.py)
            await asyncio.sleep(SOCKET_TTL / 3)
            pairs = [(key, member) for member, keys in list(self.opened.items()) for key in keys]
            for at in range(0, len(pairs), 1000):
                chunk = pairs[at : at + 1000]
                with contextlib.suppress(Exception):
                    await self.refresh_script(keys=[k for k, _ in chunk], args=[SOCKET_TTL, *(m for _, m in chunk)])

    async def close(self) -> None:
        """This worker's sockets are given back at once, not when they would have lapsed."""
        if self._keeper is not None:
            await stop_tasks([self._keeper])
        left, self.opened = list(self.opened.items()), {}
        for at in range(0, len(left), 1000):
            with contextlib.suppress(Exception):
                await self._shut_many(left[at : at + 1000])
