"""Prometheus metrics (issue #17): what an operator watches on a running server, and `/metrics`.

Every metric is made once, here, through prometheus-client, and moved where the thing happens:
what the write path publishes is counted by kind and per commit (`Counted`), the feed and the hub
time a change from its commit to the frames written, the Redis bus times a change from its commit
to its arrival on another worker, the websocket counts catch-ups and snapshots, and the limits
count their refusals. Labels are bounded: a change's kind (a fixed set in the rules), never an
event's slug or a person, so a site with a thousand events still has a few dozen series.

Several workers (`openspace serve --workers N`) share one port, so a scrape lands on whichever
worker the kernel picks: each worker's own numbers would jump from scrape to scrape. They
therefore run in prometheus-client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, set by
`workers.py` before the workers start): each worker writes its values to memory-mapped files in
that folder and any worker's `/metrics` adds them all up (docs/deploy.md says why not one port per
worker). A single process keeps them in memory as usual.

`/metrics` is not public: it is served only when the `metrics` setting is on, and then only to a
client address on `metrics_allow` or to a request with `Authorization: Bearer <metrics_token>`
(docs/settings.md). A request that came through a proxy (it carries `X-Forwarded-For`) is never
let in by address, since behind nginx every visitor has the proxy's address.
"""

from __future__ import annotations

import asyncio
import glob
import hmac
import os
import re
import tempfile
from bisect import bisect_left
from collections import Counter as Tallied
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from openspace.guard import address_allowed
from openspace.settings import Settings

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# a websocket's fan-out is a few ms on one core; past a second something is wrong
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.06, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

CONNECTIONS = Gauge(
    "openspace_connections",
    "Open websockets on this server, by audience (public or facilitator).",
    ["audience"],
    multiprocess_mode="livesum",  # the workers' sockets added up, a dead worker's left out
)
CHANGES = Counter(
    "openspace_changes",
    "Changes committed, by kind of change (counted once, by the worker that wrote it).",
    ["kind"],
)
FANOUT = Histogram(
    "openspace_fanout_seconds",
    "From a change's commit to its frames written to every socket of its event on one worker.",
    buckets=LATENCY_BUCKETS,
)
WRITER_BATCH = Histogram(
    "openspace_writer_batch_size",
    "Changes the writer logged in one transaction (one commit, one fsync).",
    buckets=BATCH_BUCKETS,
)
COMMIT = Histogram(
    "openspace_commit_seconds",
    "From a write queued for the writer to its transaction committed (durable): the wait for the "
    "writer and the batch's whole transaction, not the network to and from the person.",
    buckets=LATENCY_BUCKETS,
)
PUT_OFF = Counter(
    "openspace_writer_put_off",
    "Jobs a batch left to its next because another worker held their event's lock (PostgreSQL).",
)
BUS_LAG = Histogram(
    "openspace_bus_lag_seconds",
    "From a change's commit on one worker to its arrival over the bus on another (wall clocks).",
    buckets=LATENCY_BUCKETS,
)
CATCHUPS = Counter("openspace_catchups", "Sockets that resumed where they were (what they missed read from the log).")
SNAPSHOTS = Counter(
    "openspace_snapshots",
    "Snapshots sent to sockets, by reason: initial (a first load), invalid (no usable resume point), gap "
    "(further behind than the log keeps).",
    ["reason"],
)
GAP_FILLS = Counter("openspace_gap_fills", "Changes the feed read from the log because the bus had not brought them.")
LIMITS = Counter("openspace_limits_hit", "Requests and sockets refused by a limit, by limit.", ["limit"])
CLOSES = Counter("openspace_socket_closes", "Websockets the server closed, by close code (4008: lagging).", ["code"])
JOBS = Counter(
    "openspace_jobs",
    "Heavy jobs asked of the job pool, by job and outcome (done, refused, busy, too_slow, too_big, failed, cancelled).",
    ["job", "outcome"],
)
ASKS_WAITING = Gauge(
    "openspace_asks_waiting",
    "Live pages' region asks waiting for their turn (serving.Turns): a hall asking faster than served.",
    multiprocess_mode="livesum",
)
JOBS_PENDING = Gauge(
    "openspace_jobs_pending",
    "Heavy jobs running or waiting in the job pool.",
    multiprocess_mode="livesum",
)


class JobCounts:
    """The job pool's jobs (jobs.Counts), counted in the server: jobs.py does not import this
    module, since every job worker imports jobs.py."""

    def started(self) -> None:
        JOBS_PENDING.inc()

    def ended(self, job: str, outcome: str, started: bool = True) -> None:
        JOBS.labels(job, outcome).inc()
        if started:
            JOBS_PENDING.dec()


class Tally:
    """The hot path's observations, kept in this process and handed to prometheus-client in bulk.

    In multiprocess mode (several workers) every increment of prometheus-client takes a lock, asks
    the kernel for the process id and writes a memory-mapped file; a histogram's observation is two
    of them. Per change on two workers that was about 23 µs, 5.7 % of the workers' Python at 2,000
    changes/s (issue #17). Here an observation is an append; `flush` adds each bucket's count and
    the sum once. It runs every FLUSH_SECONDS (`flushing`), before every scrape this process
    answers, when a worker stops, and whenever MOST_KEPT observations wait, so memory stays bounded
    even with no loop to run it. A scrape that lands on another worker may so miss up to
    FLUSH_SECONDS of this one's: far less than any scrape interval.

    It reads the histogram's bucket bounds and values (`_upper_bounds`, `_buckets`, `_sum`):
    prometheus-client has no bulk observation. tests/test_metrics.py checks that the exposition
    equals one `observe` at a time, so a release that changes them fails there, not silently."""

    def __init__(self) -> None:
        self.observed: dict[Any, list[float]] = {}
        self.counted: dict[Any, float] = {}
        self.kept = 0

    def observe(self, histogram: Any, value: float) -> None:
        self.observed.setdefault(histogram, []).append(value)
        self.kept += 1
        if self.kept >= MOST_KEPT:
            self.flush()

    def inc(self, counter: Any, amount: float = 1.0) -> None:
        self.counted[counter] = self.counted.get(counter, 0.0) + amount
        self.kept += 1
        if self.kept >= MOST_KEPT:
            self.flush()

    def flush(self) -> None:
        observed, counted, self.observed, self.counted, self.kept = self.observed, self.counted, {}, {}, 0
        for counter, amount in counted.items():
            counter.inc(amount)
        for histogram, values in observed.items():
            bounds = histogram._upper_bounds
            for bucket, n in Tallied(bisect_left(bounds, value) for value in values).items():
                histogram._buckets[bucket].inc(n)  # the first bound at or above the value, as `observe`
            histogram._sum.inc(sum(values))


FLUSH_SECONDS = 0.5
MOST_KEPT = 10_000
TALLY = Tally()
CHILDREN: dict[tuple[Any, str], Any] = {}  # (counter, label) -> its child: `labels` takes a lock and checks each time


def tallied(counter: Any, label: str) -> None:
    """One more of `counter`'s series `label`, through the tally."""
    child = CHILDREN.get((counter, label))
    if child is None:
        child = CHILDREN[(counter, label)] = counter.labels(label)
    TALLY.inc(child)


def refused(limit: str) -> None:
    """A request or socket refused by `limit`. Tallied: under a flood of refused actions, counting
    each refusal in multiprocess mode would cost the server more than refusing it."""
    tallied(LIMITS, limit)


async def flushing() -> None:
    """The tally handed over every FLUSH_SECONDS, for as long as the server runs."""
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        TALLY.flush()


class Counted:
    """The bus as the write path sees it (a Publisher), counting what it is handed after commit:
    changes by kind, once, on the worker that wrote them; and, told by the service's `on_commit`
    after each commit that logged changes, how many that one transaction wrote (the writer's batch).
    Apart from service.py, which stays the write path and nothing else."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self.batch = 0

    def publish(self, message: Any) -> None:
        change = getattr(message, "change", None)  # a Committed change; notices and reports' updates pass
        if change is not None:
            tallied(CHANGES, change.kind)
            self.batch += 1
        self.bus.publish(message)

    def hear(self, message: Any) -> None:
        self.bus.hear(message)  # written elsewhere: counted there

    def committed(self) -> None:
        if self.batch:
            TALLY.observe(WRITER_BATCH, self.batch)
            self.batch = 0


def durable(waits: list[float]) -> None:
    """Told by the service after each commit how long each of its writes waited to be durable."""
    for seconds in waits:
        TALLY.observe(COMMIT, seconds)


def exposition() -> bytes:
    """The text a scrape gets: this process's registry, or every worker's added up."""
    TALLY.flush()
    folder = os.environ.get(MULTIPROC_DIR)
    if not folder:
        return generate_latest(REGISTRY)
    reap(folder)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def share_between_workers() -> str:
    """Before the workers start: the folder they keep their values in (PROMETHEUS_MULTIPROC_DIR as
    the operator set it, or a fresh one), emptied, since values left by an earlier run would be
    added to this one's. Workers inherit it through the environment."""
    folder = os.environ.get(MULTIPROC_DIR) or tempfile.mkdtemp(prefix="openspace-metrics-")
    os.makedirs(folder, exist_ok=True)
    for path in glob.glob(os.path.join(folder, "*.db")):
        os.remove(path)
    os.environ[MULTIPROC_DIR] = folder
    return folder


def worker_stopped() -> None:
    """A worker's shutdown: its open sockets are no longer counted (its counters stay, summed)."""
    TALLY.flush()
    folder = os.environ.get(MULTIPROC_DIR)
    if folder:
        multiprocess.mark_process_dead(os.getpid(), folder)  # type: ignore[no-untyped-call]


LIVE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db$")


def reap(folder: str) -> None:
    """Forget the open sockets of workers that died (a kill -9 runs no shutdown code): uvicorn's
    supervisor starts another, and its sockets resume there and are counted there."""
    for path in glob.glob(os.path.join(folder, "gauge_live*_*.db")):
        found = LIVE_FILE.search(path)
        if found and not alive(int(found.group(1))):
            multiprocess.mark_process_dead(int(found.group(1)), folder)  # type: ignore[no-untyped-call]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def allowed(settings: Settings, client: str | None, headers: dict[str, str]) -> bool:
    """Whether this request may read /metrics: by token, or by address when not proxied."""
    token = settings.metrics_token
    given = headers.get("authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    if "x-forwarded-for" in headers or client is None:
        return False
    return address_allowed(client, settings.metrics_allow)
