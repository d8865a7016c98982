"""Things held open while they last, counted per key (issue #21): a person's or an address's
websockets (`Counter`), and photo uploads, each read into memory (`Slots`). Unlike the token
buckets of `limits.py`, which refill with time, these are given back when the thing ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from openspace import metrics
from openspace.domain.errors import N_, Unavailable

UPLOADS_BUSY = N_("Many photos are being sent right now. Please try again in a moment.")


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
                metrics.refused(self.name)
            return False
        self.open[key] = self.open.get(key, 0) + 1
        return True

    def release(self, key: str) -> None:
        left = self.open.get(key, 0) - 1
        if left > 0:
            self.open[key] = left
        else:
            self.open.pop(key, None)


class Slots:
    """Things that hold memory while they last (photo uploads, read into memory): at most `total`
    at once in this process and `per_key` per key (a person). The rest wait their turn, first come
    first served, for up to `wait` seconds and at most `queue` of them; past that, Unavailable (503)
    before anything was read. A slot is handed to the waiter it frees, never raced for.
    """

    def __init__(self, total: int, per_key: int, name: str, wait: float = 60.0, queue: int = 64) -> None:
        self.total, self.name, self.wait, self.queue = total, name, wait, queue
        self.held = Counter(per_key)  # per key; the total is their sum
        self._waiting: deque[tuple[str, asyncio.Future[None]]] = deque()

    def _free(self, key: str) -> bool:
        return sum(self.held.open.values()) < self.total and self.held.open.get(key, 0) < self.held.limit

    def _give_back(self, key: str) -> None:
        self.held.release(key)
        for waiter in list(self._waiting):  # the first waiters whose key now has room
            wkey, future = waiter
            if future.done():
                self._waiting.remove(waiter)
            elif self._free(wkey):
                self._waiting.remove(waiter)
                self.held.acquire(wkey)
                future.set_result(None)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        # every waiter could not be served when it came and is served as soon as it can be, so
        # a key with room now is not jumping anyone's turn
        if self._free(key):
            self.held.acquire(key)
        else:
            await self._wait_for_turn(key)
        try:
            yield
        finally:
            self._give_back(key)

    async def _wait_for_turn(self, key: str) -> None:
        if len(self._waiting) >= self.queue:
            metrics.refused(self.name)
            raise Unavailable(UPLOADS_BUSY)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (key, future)
        self._waiting.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(future), self.wait)
        except BaseException as ended:
            with contextlib.suppress(ValueError):
                self._waiting.remove(waiter)
            if future.done() and not future.cancelled():
                self._give_back(key)  # handed over just as the wait ended: passed on
            future.cancel()
            if isinstance(ended, TimeoutError):
                metrics.refused(self.name)
                raise Unavailable(UPLOADS_BUSY) from None
            raise
