"""Heavy work off the event loop and outside the writer: one bounded pool for every costly job.

Markdown previews, report rendering, exports (the PDF above all), photo decoding and placement
hints each cost from milliseconds to minutes of CPU. Run on the event loop they stall every
socket of every event (issue #21, cases 1 and 16); run inside the writer's transaction they
stall every write (case 7); run on asyncio's default thread pool they are unbounded in number
and share it with everything else (case 2). So they all go through one `JobPool`:

- a fixed number of worker threads (`jobs_workers`), so at most that many run at once;
- a bounded queue (`jobs_queue`): beyond it a job is refused at once with "busy, try again"
  rather than piling up memory;
- a time limit (`jobs_timeout`) on waiting for the answer: the person is told to try again and
  the slot is given back when the thread ends (a thread cannot be killed, so the limits on input
  size are what bound the work itself).

`Cache` keeps expensive outputs by the event's sequence number, so a published PDF is built once
per change, not once per request.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from openspace.domain.errors import N_, Unavailable

T = TypeVar("T")

BUSY = N_("The server is busy with other work. Please try again in a moment.")
TOO_SLOW = N_("That took too long to prepare. Please try again later.")


class JobPool:
    """At most `workers` jobs at once and `queue` more waiting; each answered within `timeout` s."""

    def __init__(self, workers: int = 2, queue: int = 16, timeout: float = 60.0) -> None:
        self.workers, self.limit, self.timeout = workers, workers + queue, timeout
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="openspace-job")
        self._lock = threading.Lock()
        self.pending = 0  # running or waiting, until its thread is done (even after a timeout)
        self.ran = 0  # how many jobs were started, for tests and the bench

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on a worker thread; Unavailable (503) when full or too slow."""
        with self._lock:
            if self.pending >= self.limit:
                raise Unavailable(BUSY)
            self.pending += 1
            self.ran += 1
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            future.cancel()  # still waiting: never runs; running: finishes, then frees its place
            raise Unavailable(TOO_SLOW) from None

    def _release(self) -> None:
        with self._lock:
            self.pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Cache:
    """A few expensive outputs by key (event, seq, format, audience), the oldest forgotten first.

    A key holds the event's sequence number, so a change makes a new key and the old entry simply
    ages out; `forget` drops an event's entries at once (it was deleted, or its data erased).
    Concurrent requests for the same missing key share one build.
    """

    def __init__(self, size: int = 8, evict: Callable[[Any], None] | None = None) -> None:
        self.size, self.evict = size, evict
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._building: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self.builds = 0

    async def get(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        waiting = self._building.get(key)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            self.builds += 1
            value = await build()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._building.pop(key, None)
        future.set_result(value)
        self._items[key] = value
        while len(self._items) > self.size:
            self._drop(self._items.popitem(last=False)[1])
        return value

    def _drop(self, value: Any) -> None:
        if self.evict is not None:
            self.evict(value)

    def forget(self, event_id: str) -> None:
        for key in [k for k in self._items if k and k[0] == event_id]:
            self._drop(self._items.pop(key))

    def clear(self) -> None:
        while self._items:
            self._drop(self._items.popitem()[1])
