"""Heavy work off the event loop, outside the writer and in processes that can be stopped.

Markdown previews, report rendering, exports (the PDF above all), photo decoding and placement
hints each cost from milliseconds to minutes of CPU and up to gigabytes of memory. Run on the
event loop they stall every socket of every event (issue #21, cases 1 and 16); run inside the
writer's transaction they stall every write (case 7); run on threads they cannot be stopped, so a
job past its time kept running and kept its memory (case 2). So they all go through one `JobPool`:

- a fixed number of worker processes (`jobs_workers`, by default half the cores: see
  `worker_count`), forked from a small server process
  (multiprocessing's forkserver, which has imported the heavy modules once) so a new one starts
  in milliseconds, and never forked from the threaded server itself;
- a bounded queue (`jobs_queue`): beyond it a job is refused at once with "busy, try again"
  rather than piling up memory;
- a time limit (`jobs_timeout`) from the moment the job is asked for: a job still waiting then
  never runs, and a worker still running it is killed (SIGKILL), so its CPU and every byte it
  held are given back at once, and a fresh worker takes its place;
- an address-space limit in each worker (`jobs_memory_mb`, `RLIMIT_AS`): a job that asks for
  more gets MemoryError there, not the server's memory, and its worker is replaced;
- each worker is replaced after `RECYCLE` jobs, so fragmentation never accumulates;
- workers run at a lower CPU priority (`NICE`) than the server, so on a machine with as many
  workers as cores the event loop still gets the CPU it needs to answer and fan out.

A job is a module-level function and picklable arguments (a Board is), its answer is pickled
back. `Cache` keeps expensive outputs by the event's sequence number, so a published PDF is built
once per change, not once per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import queue as queues
import resource
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol, TypeVar

from openspace.domain.errors import BUSY, N_, DomainError, Unavailable

T = TypeVar("T")

TOO_SLOW = N_("That took too long to prepare. Please try again later.")
TOO_BIG = N_("That was too large to prepare. Please try something smaller.")
OUTCOMES = {BUSY: "busy", TOO_SLOW: "too_slow", TOO_BIG: "too_big"}  # how a job ended, for `Counts`


class Counts(Protocol):
    """Where the pool tells how its jobs went: the server hands it its metrics (metrics.JobCounts).
    Not imported here: every job worker imports this module, and metrics made at import would
    open their files in each worker under multiprocess metrics."""

    def started(self) -> None: ...
    def ended(self, job: str, outcome: str, started: bool = True) -> None: ...


class NoCounts:
    """Counts told to no one (the tests' pools, the CLI's)."""

    def started(self) -> None:
        pass

    def ended(self, job: str, outcome: str, started: bool = True) -> None:
        pass


RECYCLE = 50  # jobs per worker process before a fresh one takes its place
# the lowest priority: with as many workers as cores, PDF builds must not starve the sockets, and a
# build that waits is served from the one before (web/exports.py); at 10 (weight 110 against the
# server's 1,024) a build still held the honest clients' p99 at up to x1.9 in the abuse bench
NICE = 19
# imported once by the forkserver, so each worker starts with them loaded (and shares their pages)
PRELOAD = [
    "openspace.domain.markup",
    "openspace.domain.hints",
    "openspace.media",
    "openspace.exports.formats",
    "openspace.exports.preload",
]


def worker_count(setting: int) -> int:
    """`jobs_workers`, or for 0 half the CPU cores (at least one). On a 2-core machine two workers
    decoding photos slowed the event loop on the other even at the lowest priority (SCHED_IDLE
    measured the same): the abuse bench's upload loop held the honest clients' p99 at x2.1-x3.4
    with two workers, x1.47 with one (#21)."""
    if setting > 0:
        return setting
    return max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2) // 2)


class JobPool:
    """At most `workers` jobs at once and `queue` more waiting; each done or stopped within `timeout` s."""

    def __init__(
        self,
        workers: int = 2,
        queue: int = 16,
        timeout: float = 60.0,
        memory_mb: int = 2048,
        counts: Counts | None = None,
    ) -> None:
        self.workers, self.limit, self.timeout = workers, workers + queue, timeout
        self.counts: Counts = counts or NoCounts()
        self.memory = memory_mb * 1024 * 1024
        # one thread per worker process: it hands a job over and waits on the pipe, never the loop
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="openspace-job")
        self._idle: queues.SimpleQueue[_Worker] = queues.SimpleQueue()
        self._all: set[_Worker] = set()  # every worker alive, idle or busy
        self._lock = threading.Lock()
        self._closed = False
        self.pending = 0  # running or waiting
        self.ran = 0  # how many jobs were asked for, for tests and the bench
        self.killed = 0  # workers stopped at the time limit, or after running out of memory

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker process; Unavailable (503) when full, too slow or too large.
        Each job is told to `counts` by its function's name and how it ended, so an operator
        sees a pool that turns work away before the people asking for it say so."""
        with self._lock:
            if self.pending >= self.limit or self._closed:
                self.counts.ended(fn.__name__, "busy", started=False)
                raise Unavailable(BUSY)
            self.pending += 1
            self.ran += 1
        self.counts.started()
        deadline = time.monotonic() + self.timeout
        try:
            future = self._executor.submit(self._dispatch, fn, args, deadline)
        except BaseException:
            self._release()
            self.counts.ended(fn.__name__, "failed")
            raise
        future.add_done_callback(lambda _: self._release())
        outcome = "cancelled"  # the asker went away (its request ended) before the answer
        try:
            value: T = await asyncio.wrap_future(future)
            outcome = "done"
            return value
        except Unavailable as refused:
            outcome = OUTCOMES.get(refused.message, "failed")
            raise
        except DomainError:  # the job's own answer, a refusal in words (a preview's too-long field)
            outcome = "refused"
            raise
        except Exception:
            outcome = "failed"
            raise
        finally:
            self.counts.ended(fn.__name__, outcome)

    def warm(self) -> None:
        """Start the forkserver and the workers now, on a pool thread, rather than at the first
        job. The forkserver imports WeasyPrint, Pillow and the Markdown renderer once (`PRELOAD`):
        about a second of CPU that a server's first preview or PDF paid on the same cores as
        the event loop (#21, the abuse bench's first attack). The server calls it when it is up;
        the tests' many short-lived apps do not."""

        def start() -> None:
            while not self._closed:
                with self._lock:
                    if len(self._all) >= self.workers:
                        return
                self._idle.put(self._spawn())

        self._executor.submit(start)

    def pids(self) -> list[int]:
        """The worker processes alive now (the bench adds their memory to the server's)."""
        return [w.process.pid for w in list(self._all) if w.process.pid and w.process.is_alive()]

    def _dispatch(self, fn: Callable[..., Any], args: tuple[Any, ...], deadline: float) -> Any:
        """On a pool thread: give the job to an idle worker and wait for it until the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unavailable(TOO_SLOW)  # waited its whole time in the queue: it never runs
        payload = pickle.dumps((fn, args))  # not picklable: the caller's mistake, raised here
        worker = self._take()
        try:
            worker.conn.send_bytes(payload)
            del payload
            if not worker.conn.poll(left):
                self._kill(worker, stopped=True)
                raise Unavailable(TOO_SLOW)
            status, value = worker.conn.recv()
        except (EOFError, OSError):  # the worker died: killed by the system, or crashed
            self._kill(worker, stopped=True)
            raise Unavailable(TOO_BIG) from None
        worker.jobs += 1
        if status == "memory" or worker.jobs >= RECYCLE or self._closed:
            self._kill(worker, stopped=status == "memory")
        else:
            self._idle.put(worker)
        if status == "memory":
            raise Unavailable(TOO_BIG)
        if status == "error":
            raise value
        return value

    def _take(self) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queues.Empty:
            return self._spawn()

    def _spawn(self) -> _Worker:
        worker = _Worker(self.memory)
        with self._lock:
            self._all.add(worker)
        return worker

    def _kill(self, worker: _Worker, stopped: bool = False) -> None:
        with self._lock:
            self._all.discard(worker)
            self.killed += stopped
        worker.stop(politely=not stopped)  # a runaway is killed at once; a recycled one exits

    def _release(self) -> None:
        with self._lock:
            self.pending -= 1

    def close(self) -> None:
        """Stop every worker now: a job still running is killed with it."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        for worker in list(self._all):
            worker.stop(politely=True)
        self._all.clear()


_CONTEXT: list[Any] = []


def context() -> Any:
    """The forkserver context, preloaded once per server process."""
    if not _CONTEXT:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _CONTEXT.append(ctx)
    return _CONTEXT[0]


class _Worker:
    """One worker process and our end of its pipe."""

    def __init__(self, memory: int) -> None:
        ctx = context()
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, memory), name="openspace-job", daemon=True)
        self.process.start()
        child.close()
        self.jobs = 0

    def stop(self, politely: bool = False) -> None:
        """Kill the process; `politely`: first let it finish its loop and exit (coverage saves its data)."""
        if politely:
            with contextlib.suppress(Exception):
                self.conn.close()  # its recv() ends: it returns and exits
                self.process.join(1.0)
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.process.close()


def lower_priority() -> None:
    """Below the server's priority, really. On Linux with `sched_autogroup_enabled` (desktops,
    and every machine where the server runs in a terminal's or a script's session) a process's
    nice value only ranks it within its session: the session as a whole shares the CPU
    equally with the honest clients' and everyone else's, so a worker at nice 10 building a PDF
    still took a full core from the event loop and the load generator (#21, the abuse bench's
    PDF attack x1.3-x2.8). A session of its own, niced as a whole, makes the nice count."""
    with contextlib.suppress(OSError):
        os.setsid()  # the worker still ends with the server: its pipe closes (serve's recv)
        Path("/proc/self/autogroup").write_text(str(NICE))
    os.nice(NICE)


def serve(conn: Connection, memory: int) -> None:
    """A worker's life: limit its own memory, then run jobs one at a time until told to stop."""
    lower_priority()
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[str, Any] = ("ok", fn(*args))
        except MemoryError:
            answer = ("memory", None)
        except Exception as error:
            answer = ("error", error)
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(("memory", None))
        except Exception as error:  # an answer or error that cannot be pickled
            conn.send(("error", RuntimeError(repr(error))))
        if answer[0] == "memory":
            return
        del answer


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
        self._built_at: dict[tuple[Any, ...], float] = {}
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
        self._built_at[key] = time.monotonic()
        while len(self._items) > self.size:
            old, dropped = self._items.popitem(last=False)
            self._built_at.pop(old, None)
            self._drop(dropped)
        return value

    def recent(self, like: tuple[Any, ...], seconds: float) -> Any | None:
        """The newest entry built in the last `seconds` whose key is `like` with its seq (key[1])
        left out: (event, seq, kind, audience) matched by (event, kind, audience)."""
        now, best, newest = time.monotonic(), None, -1
        for key, value in self._items.items():
            if (key[0], *key[2:]) == like and now - self._built_at.get(key, 0.0) < seconds and key[1] > newest:
                best, newest = value, key[1]
        return best

    def _drop(self, value: Any) -> None:
        if self.evict is not None:
            self.evict(value)

    def forget(self, event_id: str) -> None:
        for key in [k for k in self._items if k and k[0] == event_id]:
            self._built_at.pop(key, None)
            self._drop(self._items.pop(key))

    def clear(self) -> None:
        self._built_at.clear()
        while self._items:
            self._drop(self._items.popitem()[1])
