"""The load generator: one process, its own event loop, every client and the driver in it.

Started by `python -m bench` as `python -m bench.loadgen <json config>`, never inside the
server's process, so clients and server never share an event loop. The driver that sends the
actions and the listeners that receive the changes share this process, so one
`perf_counter_ns` clock stamps both the send and every arrival. It reads the server's CPU time
and memory from /proc/<pid> itself, at the edges of each phase. Every phase is bounded in count
and in time; the result is one JSON document written to the path given in the config.

Two kinds of run:

* `fanout`: N listening clients in one event (openspace) or on the bare baseline, plus driver
  connections that make the changes. Phases: idle memory, a fixed rate, bursts, a rising rate
  until deliveries/s stop growing, and (optionally, always last because it may wedge the
  server) the fixed rate again without and then with one frozen client among the listeners.
* `durable`: openspace only, many connections over many events sending actions at rising
  offered rates (open loop), counting acknowledged results per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import secrets
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import orjson

from openspace.metrics import FLUSH_SECONDS

from . import histograms
from .wire import ACK_EVERY, Browser, Listener, Recorder, open_frozen, open_listener, seqs_in

HOST = "127.0.0.1"
DESCRIPTION = (
    "How do we keep the conversation going after the event? Bring your ideas, your questions "
    "and the tools that worked for you."
)
SLOT_TIMES = (("09:00", "10:00"), ("10:15", "11:15"), ("11:30", "12:30"), ("13:30", "14:30"), ("14:45", "15:45"))
DAYS = ("2026-05-02", "2026-05-03")
DURABLE_TARGET = 2000.0  # changes/s the issue asks for; its step's p99 is the one reported
MAX_DRIVER_RATE = 9.0  # actions/s per driver connection: under openspace's limit of 10/s per connection


@dataclass
class Config:
    mode: str  # "fanout" or "durable"
    target: str  # "project" or "baseline"
    port: int
    pid: int
    out: str
    clients: int = 500
    rate: float = 20.0
    seconds: float = 20.0
    bursts: int = 3
    burst: int = 50
    burst_gap: float = 2.0
    drivers: int = 32
    participants: int = 200
    payload_bytes: int = 600
    saturation: bool = True
    sat_start: float = 20.0
    sat_steps: int = 6
    sat_seconds: float = 4.0
    frozen: bool = False
    frozen_seconds: float = 15.0
    page: bool = False
    client: str = "lite"  # "lite" (wire.Listener) or "websockets" (websockets.asyncio.client)
    ack_every: int = ACK_EVERY  # as live.js; other values show what acks cost
    description_bytes: int = 0  # 0: DESCRIPTION as is; more: a longer description, larger frames (max 2000)
    durable_conns: int = 512
    durable_events: int = 128
    durable_seconds: float = 5.0
    # past 4,000/s, until acknowledged/s stops rising (the old list stopped there: the offer, not the limit)
    durable_rates: tuple[float, ...] = (500.0, 1000.0, 2000.0, 3000.0, 4000.0, 6000.0, 8000.0, 11000.0, 15000.0)
    drain_seconds: float = 10.0
    deadline: float = 300.0
    sources: tuple[str, ...] = ()  # local addresses the clients connect from, in turn (default: 127.0.0.1)


# --- measuring the server and ourselves --------------------------------------------------------------


TICK = os.sysconf("SC_CLK_TCK")


def family(pid: int) -> list[int]:
    """The process and its descendants: `serve --workers N` is a supervisor and N workers."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        found.append(queue.pop())
        queue += parents.get(found[-1], [])
    return found


def stat_seconds(path: str) -> float:
    """utime + stime from a /proc stat file; 0 if it is gone."""
    with contextlib.suppress(OSError):
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    return 0.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of the server (all threads of all its processes: the event loop and the
    database's thread, of every worker), from /proc. Not PostgreSQL's or Redis's own."""
    return sum(stat_seconds(f"/proc/{member}/stat") for member in family(pid))


def loop_seconds(pid: int) -> float:
    """utime + stime of the server's main threads alone (each process's event loop): the rest of
    `cpu_seconds` is its other threads' (SQLite's writer and reader)."""
    return sum(stat_seconds(f"/proc/{member}/task/{member}/stat") for member in family(pid))


def rss_kib(pid: int) -> int:
    total = 0
    for member in family(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    if not total:
        raise RuntimeError("no VmRSS")
    return total


def machine_busy() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine (all cores) since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Pauses:
    """The load generator's own garbage collections (gc.callbacks): a slow change that coincides
    with one of ours was slowed here, not in the server."""

    def __init__(self) -> None:
        self.done: list[tuple[int, float]] = []  # (start ns, ms) of every collection
        self._start = 0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = perf_counter_ns()
        else:
            self.done.append((self._start, (perf_counter_ns() - self._start) / 1e6))

    def since(self, start: int) -> dict[str, Any]:
        """Ours since `start`: how many, their total and longest ms, and those over 5 ms (at ms)."""
        mine = [(at, ms) for at, ms in self.done if at >= start]
        long = [[round((at - start) / 1e6), round(ms, 1)] for at, ms in mine if ms > 5]
        return {"count": len(mine), "total_ms": round(sum(ms for _, ms in mine), 1), "long": long[:50]}


PAUSES = Pauses()


@dataclass
class Meter:
    """Server CPU, our own CPU and wall time over one phase."""

    pid: int
    wall: float = field(default_factory=time.monotonic)
    server: float = 0.0
    loop: float = 0.0
    own: float = field(default_factory=own_cpu)
    busy: float = field(default_factory=lambda: machine_busy()[0])

    def __post_init__(self) -> None:
        self.server, self.loop = cpu_seconds(self.pid), loop_seconds(self.pid)

    def read(self) -> dict[str, float]:
        """CPU as % of one core over the phase. `other_cpu_pct` is the rest of the machine's busy
        time: kernel work on behalf of the sockets, and any other program that ran meanwhile
        (which makes the phase's figures unreliable when it is large)."""
        wall = time.monotonic() - self.wall
        server, own = cpu_seconds(self.pid) - self.server, own_cpu() - self.own
        busy = machine_busy()[0] - self.busy
        return {
            "wall_s": wall,
            "server_cpu_s": server,
            "server_loop_cpu_s": loop_seconds(self.pid) - self.loop,
            "server_cpu_pct": 100 * server / wall,
            "client_cpu_pct": 100 * own / wall,
            "other_cpu_pct": 100 * (busy - server - own) / wall,
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q % of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
    }


# --- drivers: the connections that make the changes ------------------------------------------------------


class Driver:
    """A connection that sends actions (openspace) or broadcast commands (baseline) and reads results."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.pending: dict[str, tuple[int, asyncio.Future[tuple[dict[str, Any], int, int]]]] = {}
        listener.on_text = self.on_text

    def act(self, name: str, args: dict[str, Any]) -> asyncio.Future[tuple[dict[str, Any], int, int]]:
        """Send one action; the future gives (result message, send ns, result arrival ns)."""
        action_id = secrets.token_hex(16)
        future: asyncio.Future[tuple[dict[str, Any], int, int]] = asyncio.get_running_loop().create_future()
        payload = orjson.dumps({"type": "action", "id": action_id, "name": name, "args": args})
        sent = perf_counter_ns()
        self.pending[action_id] = (sent, future)
        self.listener.send(payload)
        return future

    def on_text(self, payload: bytes, now: int) -> None:
        message = orjson.loads(payload)
        if message.get("type") != "result":
            return
        sent, future = self.pending.pop(message.get("id"), (0, None))
        if future is not None and not future.done():
            future.set_result((message, sent, now))


async def bounded_gather(factories: Iterable[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    """Run coroutines at most `limit` at a time; exceptions are returned, not raised."""
    gate = asyncio.Semaphore(limit)

    async def one(factory: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await factory()

    return await asyncio.gather(*(one(f) for f in factories), return_exceptions=True)


class WebsocketsListener:
    """The same listener on `websockets.asyncio.client` (for `--client websockets`): slower, see wire.py."""

    def __init__(self, recorder: Recorder, ack_every: int) -> None:
        self.recorder = recorder
        self.ack_every = ack_every
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    async def start(self, url: str, origin: str, cookie: str) -> None:
        from websockets.asyncio.client import connect

        headers = {"cookie": cookie} if cookie else None
        ws = await connect(url, origin=origin, additional_headers=headers, compression=None, ping_interval=None)  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.run(ws))

    async def run(self, ws: Any) -> None:
        unacked = 0
        try:
            async for message in ws:
                now = perf_counter_ns()
                frame = message.encode()
                seqs = seqs_in(frame, 0, len(frame))
                for seq in seqs:
                    self.recorder.arrive(seq, now)
                if seqs:
                    self.recorder.bytes += len(message)
                    unacked += len(seqs)
                    if unacked >= self.ack_every:
                        unacked = 0
                        await ws.send(f'{{"type":"ack","seq":{seqs[-1]}}}')
        except Exception:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(ws.close_code or 1006)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()


# --- one fan-out run -------------------------------------------------------------------------------------


class Fanout:
    def __init__(self, config: Config) -> None:
        self.c = config
        self.recorder = Recorder()
        self.drivers: list[Driver] = []
        self.listeners: list[Any] = []
        self.sent: dict[int, int] = {}  # seq -> perf_counter_ns when its action/command was sent
        self.next_seq = 1  # the baseline's own numbering
        self.result_ms: list[float] = []  # openspace: action -> its result at the driver, ms
        self.refused: dict[str, int] = {}  # openspace: refusals by error code (slow_down, ...)
        self.turn = 0
        self.topics: list[str] = []
        size = config.description_bytes or len(DESCRIPTION)
        self.description = (DESCRIPTION * (size // len(DESCRIPTION) + 1))[:size].strip()
        self.path = "/ws"
        self.slug = ""
        self.facilitator = ""  # the drivers' cookie (openspace)
        self.cookies: list[str] = [""]
        self.result: dict[str, Any] = {"target": config.target, "clients": config.clients, "drivers": config.drivers}

    def source(self, i: int) -> str | None:
        """The local address of the i-th client (None: the system's choice, 127.0.0.1)."""
        return self.c.sources[i % len(self.c.sources)] if self.c.sources else None

    # setup

    async def setup(self) -> None:
        c = self.c
        if c.target == "baseline":
            for _ in range(c.drivers):
                self.drivers.append(Driver(await open_listener(HOST, c.port, "/ws", "", self.recorder, False)))
            return
        browser = Browser(HOST, c.port)
        slug = self.slug = await asyncio.to_thread(browser.new_event, "Benchmark unconference", DAYS[0], DAYS[-1])
        data = await asyncio.to_thread(browser.page_data, slug)
        path = f"/e/{slug}/ws?since={data['seq']}&epoch={data['epoch']}"
        facilitator = self.facilitator = browser.cookie_header("os_f")
        for i in range(c.drivers):
            driver = await open_listener(HOST, c.port, path, facilitator, self.recorder, False, source=self.source(i))
            self.drivers.append(Driver(driver))
        turn = iter(range(1 << 30))

        async def must(name: str, args: dict[str, Any]) -> dict[str, Any]:
            """One setup action, on the drivers in turn: openspace allows each connection 10 actions/s
            (a burst of 30), and these few per driver stay within the burst."""
            driver = self.drivers[next(turn) % len(self.drivers)]
            message, _, _ = await asyncio.wait_for(driver.act(name, args), 30)
            assert message["ok"], f"{name}: {message}"
            result: dict[str, Any] = message["result"]
            return result

        async def each(name: str, many: list[dict[str, Any]], key: str) -> list[str]:
            return [r.get(key, "") for r in await asyncio.gather(*(must(name, args) for args in many))]

        spaces = await each(
            "space.add", [{"name": f"Room {i + 1}", "capacity": 20 + 10 * i} for i in range(6)], "space"
        )
        times = [{"day": day, "start": start, "end": end} for day in DAYS for start, end in SLOT_TIMES]
        slots = await each("slot.add", times, "slot")
        proposals = [
            {"title": f"Session {i + 1}", "description": self.description, "convener_name": f"Guest {i + 1}"}
            for i in range(60)
        ]
        self.topics = await each("topic.propose", proposals, "topic")
        cells = [{"topic": t, "slot": slots[i // 6], "space": spaces[i % 6]} for i, t in enumerate(self.topics)]
        await each("topic.place", cells, "seq")
        await asyncio.sleep(3.0)  # let the drivers' token buckets refill before anything is measured
        joiners = min(c.participants, c.clients)
        with ThreadPoolExecutor(8) as pool:
            self.cookies = [
                "os_p=" + cookie
                for cookie in await asyncio.gather(
                    *(
                        asyncio.get_running_loop().run_in_executor(pool, browser.join, slug, f"Participant {i}")
                        for i in range(joiners)
                    )
                )
            ]
        data = await asyncio.to_thread(browser.page_data, slug)
        self.path = f"/e/{slug}/ws?since={data['seq']}&epoch={data['epoch']}"
        self.result["event"] = {"slug": slug, "topics": len(self.topics), "spaces": 6, "slots": 10}
        self.result["participants_joined"] = joiners
        if c.page:
            self.result["page"] = await asyncio.to_thread(page_weight, HOST, c.port, slug)

    async def current_path(self) -> str:
        """The websocket address a page loaded now would use: resuming at the current head."""
        if self.c.target == "baseline":
            return "/ws"
        data = await asyncio.to_thread(Browser(HOST, self.c.port).page_data, self.slug)
        return f"/e/{self.slug}/ws?since={data['seq']}&epoch={data['epoch']}"

    async def open_listeners(self, count: int, path: str) -> tuple[list[Any], list[BaseException]]:
        c = self.c

        async def one(i: int) -> Any:
            cookie = self.cookies[i % len(self.cookies)]
            if c.client == "websockets":
                ws = WebsocketsListener(self.recorder, c.ack_every)
                await ws.start(f"ws://{HOST}:{c.port}{path}", f"http://{HOST}:{c.port}", cookie)
                return ws
            return await open_listener(
                HOST, c.port, path, cookie, self.recorder, ack_every=c.ack_every, source=self.source(i)
            )

        opened = await bounded_gather((partial(one, i) for i in range(count)), 64)
        return [o for o in opened if not isinstance(o, BaseException)], [
            o for o in opened if isinstance(o, BaseException)
        ]

    async def connect_all(self) -> None:
        c = self.c
        start = time.monotonic()
        self.listeners, failures = await self.open_listeners(c.clients, self.path)
        self.result["connect"] = {
            "seconds": time.monotonic() - start,
            "opened": len(self.listeners),
            "failures": len(failures),
            "first_failure": repr(failures[0]) if failures else None,
        }
        if len(failures) > c.clients // 100:
            raise RuntimeError(f"{len(failures)} of {c.clients} clients failed to connect: {failures[0]!r}")

    async def quiesce(self, limit: float) -> bool:
        """Wait (bounded) until no change frame has arrived for a second: the server's backlog is gone."""
        deadline = time.monotonic() + limit
        last = -1
        while time.monotonic() < deadline:
            now = self.deliveries()
            if now == last:
                return True
            last = now
            await asyncio.sleep(1.0)
        return False

    def closed_codes(self) -> dict[str, dict[str, int]]:
        """How the server closed listeners and drivers so far: close code -> count."""
        codes: dict[str, dict[str, int]] = {"listeners": {}, "drivers": {}}
        for kind, conns in (("listeners", self.listeners), ("drivers", [d.listener for d in self.drivers])):
            for conn in conns:
                if conn.closed.done():
                    code = str(conn.closed.result())
                    codes[kind][code] = codes[kind].get(code, 0) + 1
        return codes

    async def reconnect_closed(self) -> dict[str, dict[str, int]]:
        """Replace listeners and drivers the server closed (4008 after a backlog), as live.js
        reconnects at once; returns what was closed, by close code."""
        codes = self.closed_codes()
        path = await self.current_path()
        closed = [listener for listener in self.listeners if listener.closed.done()]
        if closed:
            self.listeners = [listener for listener in self.listeners if not listener.closed.done()]
            fresh, _ = await self.open_listeners(len(closed), path)
            self.listeners += fresh
        cookie = self.facilitator if self.c.target == "project" else ""
        for i, driver in enumerate(self.drivers):
            if driver.listener.closed.done():
                fresh = await open_listener(
                    HOST, self.c.port, path, cookie, self.recorder, False, source=self.source(i)
                )
                self.drivers[i] = Driver(fresh)
        return codes

    # making changes

    def fire(self, i: int) -> asyncio.Future[Any] | None:
        """Make one change now, through the next driver in turn that is still open."""
        live = [d for d in self.drivers if not d.listener.closed.done()]
        if not live:
            return None
        driver = live[self.turn % len(live)]
        self.turn += 1
        if self.c.target == "baseline":
            seq, self.next_seq = self.next_seq, self.next_seq + 1
            self.sent[seq] = perf_counter_ns()
            driver.listener.send(b'{"type":"broadcast","seq":%d,"size":%d}' % (seq, self.c.payload_bytes))
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            done.set_result(seq)
            return done
        topic = self.topics[i % len(self.topics)]
        title = f"Session {i % 60 + 1} (sent {perf_counter_ns()})"
        args = {"topic": topic, "title": title, "description": self.description}
        return asyncio.ensure_future(self._seq_of(driver.act("topic.edit", args)))

    async def _seq_of(self, future: asyncio.Future[tuple[dict[str, Any], int, int]]) -> int | None:
        message, sent, received = await future
        self.result_ms.append((received - sent) / 1e6)
        if not message.get("ok"):
            code = message.get("error", {}).get("code", "?")
            self.refused[code] = self.refused.get(code, 0) + 1
            return None
        seq = int(message["result"]["seq"])
        self.sent[seq] = sent
        return seq

    async def offer(self, rate: float, seconds: float) -> list[asyncio.Future[Any]]:
        """Open loop: one change every 1/rate s, whether or not earlier ones are done."""
        loop = asyncio.get_running_loop()
        start, futures = loop.time(), []
        for i in range(max(1, int(rate * seconds))):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            fired = self.fire(self.turn)
            if fired is not None:
                futures.append(fired)
        return futures

    async def settle(self, futures: list[asyncio.Future[Any]], timeout: float) -> list[int]:
        """Wait (bounded) for the changes' results and for every listener to have them; their seqs."""
        deadline = time.monotonic() + timeout
        done, pending = await asyncio.wait(futures, timeout=timeout) if futures else (set(), set())
        for future in pending:
            future.cancel()
        seqs = sorted(f.result() for f in done if not f.cancelled() and f.exception() is None and f.result())
        expected = self.live_listeners()
        while time.monotonic() < deadline:
            if all(self.recorder.arrivals.get(s, (0, 0, 0))[0] >= expected for s in seqs):
                break
            await asyncio.sleep(0.05)
        return seqs

    def live_listeners(self) -> int:
        return sum(1 for listener in self.listeners if not listener.closed.done())

    def latencies(self, seqs: list[int], expected: int) -> tuple[list[float], int]:
        """Per change: ms from send to its arrival at the last listener; and how many never got everywhere."""
        latencies, missing = [], 0
        for seq in seqs:
            count, last, _ = self.recorder.arrivals.get(seq, (0, 0, 0))
            if count < expected:
                missing += 1
                latencies.append(float("inf"))
            else:
                latencies.append((last - self.sent[seq]) / 1e6)
        return latencies, missing

    def spread(self, seq: int) -> list[float | None]:
        count, last, first = self.recorder.arrivals.get(seq, (0, 0, 0))
        if not count:
            return [None, None]
        return [round((first - self.sent[seq]) / 1e6, 2), round((last - self.sent[seq]) / 1e6, 2)]

    def deliveries(self) -> int:
        return sum(seen[0] for seen in self.recorder.arrivals.values()) + self.recorder.other_deliveries

    # phases

    async def phase_rate(self, name: str, rate: float, seconds: float) -> dict[str, Any]:
        expected = self.live_listeners()
        before, meter = self.deliveries(), Meter(self.c.pid)
        self.result_ms, self.refused = [], {}
        started = perf_counter_ns()
        futures = await self.offer(rate, seconds)
        seqs = await self.settle(futures, self.c.drain_seconds)
        usage = meter.read()
        delivered = self.deliveries() - before
        latencies, missing = self.latencies(seqs, expected)
        first = self.sent[seqs[0]] if seqs else 0
        series = [  # per change: sent at (ms into the phase), to the first client, to the last (ms)
            [round((self.sent[s] - first) / 1e6, 1), *self.spread(s)] for s in seqs
        ]
        phase = {
            "series": series,
            "rate": rate,
            "offered": len(futures),
            "changes": len(seqs),
            "missing": missing,
            "listeners": expected,
            "closed_during": expected - self.live_listeners(),
            "closed": self.closed_codes(),
            **summary(latencies),
            **usage,
            "deliveries": delivered,
            "cpu_us_per_delivery": 1e6 * usage["server_cpu_s"] / delivered if delivered else float("nan"),
            "result": summary(self.result_ms),  # openspace only: action -> result (commit) at the driver
            "refused": dict(self.refused),
            "our_gc": PAUSES.since(started),
        }
        self.result[name] = phase
        return phase

    async def phase_bursts(self) -> None:
        c = self.c
        expected = self.live_listeners()
        before, meter = self.deliveries(), Meter(c.pid)
        all_seqs: list[int] = []
        completions = []
        for _ in range(c.bursts):
            start = perf_counter_ns()
            futures = [f for f in (self.fire(self.turn) for _ in range(c.burst)) if f is not None]
            seqs = await self.settle(futures, c.drain_seconds)
            all_seqs += seqs
            lasts = [self.recorder.arrivals.get(s, (0, 0, 0))[1] for s in seqs]
            completions.append((max(lasts) - start) / 1e6 if lasts and len(seqs) == c.burst else float("inf"))
            await asyncio.sleep(c.burst_gap)
        usage = meter.read()
        latencies, missing = self.latencies(all_seqs, expected)
        delivered = self.deliveries() - before
        self.result["bursts"] = {
            "bursts": c.bursts,
            "size": c.burst,
            "changes": len(all_seqs),
            "missing": missing,
            "closed_during": expected - self.live_listeners(),
            **summary(latencies),
            "completion_max_ms": max(completions),
            **usage,
            "deliveries": delivered,
        }

    async def phase_saturation(self) -> None:
        """Double the rate until deliveries/s grow by less than 10 % (or the backlog will not drain)."""
        c = self.c
        steps: list[dict[str, Any]] = []
        rate = c.sat_start
        ceiling = MAX_DRIVER_RATE * len(self.drivers)  # openspace refuses more than 10 actions/s per connection
        for _ in range(c.sat_steps):
            rate = min(rate, ceiling)
            self.refused = {}
            counted: dict[str, Any] = {}

            async def sample(counted: dict[str, Any] = counted) -> None:
                await asyncio.sleep(min(1.0, c.sat_seconds / 4))  # the window starts once the rate is on
                counted["n0"], counted["meter"] = self.deliveries(), Meter(c.pid)

            sampler = asyncio.create_task(sample())
            futures = await self.offer(rate, c.sat_seconds)
            await sampler
            usage = counted["meter"].read()
            per_second = (self.deliveries() - counted["n0"]) / usage["wall_s"]
            expected = self.live_listeners()
            seqs = await self.settle(futures, c.drain_seconds)
            drained = all(self.recorder.arrivals.get(s, (0, 0, 0))[0] >= expected for s in seqs)
            steps.append(
                {
                    "rate": rate,
                    "deliveries_per_s": per_second,
                    "drained": drained,
                    "closed": self.closed_codes(),
                    "refused": dict(self.refused),
                    **usage,
                }
            )
            best = max(s["deliveries_per_s"] for s in steps[:-1]) if len(steps) > 1 else 0.0
            drivers_left = sum(1 for d in self.drivers if not d.listener.closed.done())
            if not drained or self.live_listeners() < expected or drivers_left < len(self.drivers):
                break  # past saturation: the server has started to close clients (see "closed")
            if best and per_second < 1.1 * best:
                break
            if rate >= ceiling:
                steps[-1]["at_ceiling"] = True  # still growing: saturation is above what the drivers offer
                break
            rate *= 2
            await asyncio.sleep(0.5)
        self.result["saturation"] = {
            "steps": steps,
            "deliveries_per_s": max(s["deliveries_per_s"] for s in steps),
        }

    async def phase_frozen(self) -> None:
        """The fixed rate twice, back to back: without (control), then with one client that never reads.

        Back to back, because p99 over a few hundred changes moves by tens of percent between
        phases anyway; the frozen client is not counted, only what it does to the others is.
        """
        c = self.c
        await self.phase_rate("control", c.rate, c.frozen_seconds)
        await asyncio.sleep(1.0)
        cookie = self.cookies[0] if c.target == "project" else ""
        # connected up to date, as a page just loaded would be: no catch-up to send it
        sock = await open_frozen(HOST, c.port, await self.current_path(), cookie)
        try:
            phase = await self.phase_rate("frozen", c.rate, c.frozen_seconds)
            phase["frozen_closed_with"] = await close_code(sock, 10.0)
        finally:
            sock.close()

    async def run(self) -> None:
        c = self.c
        await self.setup()
        gc.collect()
        gc.freeze()  # our own garbage collector must not pause the clients in the middle of a phase
        await asyncio.sleep(1.0)
        rss_before = rss_kib(c.pid)
        await self.connect_all()
        await asyncio.sleep(2.0)  # let handshakes finish on the server's side
        rss_after = rss_kib(c.pid)
        gc.collect()
        gc.freeze()  # and the thousands of listeners: a full collection over them paused us ~100 ms
        self.result["memory"] = {
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "per_connection_kib": (rss_after - rss_before) / max(1, len(self.listeners)),
        }
        await self.settle(await self.offer(c.rate, 1.0), c.drain_seconds)  # warm up, not measured
        counted = sum(seen[0] for seen in self.recorder.arrivals.values())
        self.result["frame_bytes"] = self.recorder.bytes / counted if counted else 0
        await self.phase_rate("rate", c.rate, c.seconds)
        if c.bursts:
            await self.phase_bursts()
        if c.saturation:
            await asyncio.sleep(1.0)
            await self.phase_saturation()
            self.result["saturation"]["quiet_after"] = await self.quiesce(60.0)
            self.result["saturation"]["reconnected"] = await self.reconnect_closed()
        if c.frozen:
            await asyncio.sleep(1.0)
            await self.phase_frozen()

    def close(self) -> None:
        for listener in [*self.listeners, *(d.listener for d in self.drivers)]:
            with contextlib.suppress(Exception):
                listener.close()


async def close_code(sock: socket.socket, timeout: float) -> int | None:
    """Read what the frozen client was sent (bounded) and return the close code at its end, if any."""
    loop = asyncio.get_running_loop()
    # open the window wide again: with a closed window the server's TCP only probes, ever more rarely
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    deadline, tail = loop.time() + timeout, b""
    while loop.time() < deadline:
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), max(0.01, deadline - loop.time()))
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        tail = (tail + chunk)[-64:]
        if tail[-4:-2] == b"\x88\x02":  # the close frame came last: nothing more will
            break
    at = tail.rfind(b"\x88\x02")  # an unmasked close frame with a two-byte code
    return int.from_bytes(tail[at + 2 : at + 4], "big") if at >= 0 and len(tail) >= at + 4 else None


# --- the participant page's weight -------------------------------------------------------------------


def page_weight(host: str, port: int, slug: str) -> dict[str, Any]:
    """GET the participant page and everything it loads (CSS, icon, JS modules and their imports),
    with Accept-Encoding: gzip, counting each body as it came over the wire (http.client does not
    decompress)."""
    import posixpath
    import re

    browser = Browser(host, port)
    browser.csrf(f"/e/{slug}")  # a returning visitor: the CSRF cookie is already set
    gzip = {"Accept-Encoding": "gzip"}
    items: list[dict[str, Any]] = []

    def fetch(path: str) -> bytes:
        status, response, body = browser.request("GET", path, headers=gzip)
        _, _, plain = browser.request("GET", path)
        items.append(
            {
                "path": path,
                "status": status,
                "bytes": len(body),
                "uncompressed": len(plain),
                "encoding": response.headers.get("content-encoding", ""),
            }
        )
        return plain

    html = fetch(f"/e/{slug}").decode()
    queue = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    seen: set[str] = set()
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        body = fetch(path)
        if path.endswith(".js"):
            base = path.rsplit("/", 1)[0]
            for module in re.findall(r'(?:import|from)\s*["\'](\.\.?/[^"\']+)["\']', body.decode()):
                queue.append(posixpath.normpath(f"{base}/{module}"))
    return {
        "total_bytes": sum(i["bytes"] for i in items),
        "total_uncompressed": sum(i["uncompressed"] for i in items),
        "items": items,
    }


# --- durable changes ------------------------------------------------------------------------------------------


async def durable(c: Config) -> dict[str, Any]:
    """Many concurrent actions through the real path at rising offered rates; acknowledged results/s.
    (`target` "baseline": the same actions to the bare app's durable writes, bench/pgbare.py.)

    openspace allows one connection 10 actions/s, so the load comes from many connections, each
    at most MAX_DRIVER_RATE/s, spread over many events (a few connections each) so that each
    change is fanned out to a few sockets only and the figure is the write path's: one
    `BEGIN IMMEDIATE` ... `COMMIT` (synchronous=FULL) per batch, then the result to the sender.
    """
    recorder = Recorder()
    per_event = max(1, c.durable_conns // c.durable_events)
    drivers: list[tuple[Driver, str]] = []

    async def one_event(e: int) -> list[tuple[Driver, str]]:
        if c.target == "baseline":  # bench/pgbare.py: its events and their topic made at its start
            path = f"/d/e{e:04d}"
            conns = [Driver(await open_listener(HOST, c.port, path, "", recorder, False)) for _ in range(per_event)]
            return [(conn, f"t{e:04d}") for conn in conns]
        browser = Browser(HOST, c.port)
        slug = await asyncio.to_thread(browser.new_event, f"Durable {e}", DAYS[0], DAYS[0])
        data = await asyncio.to_thread(browser.page_data, slug)
        path = f"/e/{slug}/ws?since={data['seq']}&epoch={data['epoch']}"
        cookie = browser.cookie_header("os_f")
        conns = [Driver(await open_listener(HOST, c.port, path, cookie, recorder, False)) for _ in range(per_event)]
        proposed = conns[0].act("topic.propose", {"title": "Durable", "convener_name": "Bench"})
        message, _, _ = await asyncio.wait_for(proposed, 30)
        return [(conn, message["result"]["topic"]) for conn in conns]

    for group in await bounded_gather((partial(one_event, e) for e in range(c.durable_events)), 8):
        if isinstance(group, BaseException):
            raise group
        drivers += group
    gc.collect()
    gc.freeze()  # our own collector must not pause the drivers in the middle of a step
    await asyncio.sleep(3.0)  # token buckets full again
    loop = asyncio.get_running_loop()
    ceiling = MAX_DRIVER_RATE * len(drivers)
    steps: list[dict[str, Any]] = []
    for rate in c.durable_rates:
        rate = min(rate, ceiling)
        latencies: list[float] = []
        refused: dict[str, int] = {}
        before = await asyncio.to_thread(commit_histogram, c)  # the server's own figure, where it serves one
        meter, start = Meter(c.pid), loop.time()
        futures = []
        for i in range(int(rate * c.durable_seconds)):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            driver, topic = drivers[i % len(drivers)]
            args = {"topic": topic, "title": f"Durable {i}", "description": DESCRIPTION}
            futures.append(driver.act("topic.edit", args))
        done, pending = await asyncio.wait(futures, timeout=c.drain_seconds)
        for future in pending:
            future.cancel()
        usage = meter.read()
        after = None
        if before:  # each worker hands its tally over every FLUSH_SECONDS (metrics.Tally): wait for the last
            await asyncio.sleep(2 * FLUSH_SECONDS)
            after = await asyncio.to_thread(commit_histogram, c)
        commits = histograms.summary(histograms.minus(after, before)) if after else None
        for future in done:
            message, sent, received = future.result()
            if message.get("ok"):
                latencies.append((received - sent) / 1e6)
            else:
                code = message.get("error", {}).get("code", "?")
                refused[code] = refused.get(code, 0) + 1
        steps.append(
            {
                "offered_per_s": rate,
                "results": len(latencies),
                "per_second": len(latencies) / usage["wall_s"],
                "unanswered": len(pending),
                "refused": refused,
                **summary(latencies),
                **usage,
                **({"commit": commits} if commits else {}),
            }
        )
        # the real ceiling (#17): keep raising the offer while acknowledged/s still rises; stop once
        # the server no longer keeps up with the offer *and* did no better than its best step so far
        before = max(step["per_second"] for step in steps[:-1]) if len(steps) > 1 else 0.0
        stalled = steps[-1]["per_second"] < 0.9 * rate and steps[-1]["per_second"] < 1.05 * before
        if rate >= ceiling or len(pending) > 0.5 * len(futures) or stalled:
            break
        await asyncio.sleep(2.0)
    for driver, _ in drivers:
        driver.listener.close()
    best = max(steps, key=lambda step: step["per_second"])
    at_target = next((step for step in steps if step["offered_per_s"] >= DURABLE_TARGET), best)
    return {
        "connections": len(drivers),
        "events": c.durable_events,
        "offer_ceiling": ceiling,  # what the connections may offer at most (10 actions/s each)
        "steps": steps,
        "per_second": best["per_second"],
        "at_target": at_target,
    }


def commit_histogram(c: Config) -> histograms.Histogram | None:
    """The server's `openspace_commit_seconds` now (a write queued → committed, #17); None where it
    serves no metrics (SQLite as the bench runs it). The client's action → result adds the sockets
    and this process's own turn on a busy machine; this is the commit alone."""
    try:
        return histograms.read(c.port, ("openspace_commit_seconds",)).get("commit_seconds")
    except OSError:
        return None


# --- entry ---------------------------------------------------------------------------------------------------------


def raise_nofile() -> None:
    """Thousands of sockets need thousands of descriptors: raise the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def main_async(c: Config) -> dict[str, Any]:
    if c.mode == "durable":
        return {"durable": await durable(c)}
    run = Fanout(c)
    try:
        await run.run()
    finally:
        run.close()
        await asyncio.sleep(0.2)
    return run.result


def main() -> None:
    c = Config(**orjson.loads(sys.argv[1]))
    raise_nofile()
    gc.set_threshold(50_000, 20, 100)  # as the server (openspace.cli.settle_heap): short, rare pauses
    try:
        import uvloop  # the same loop uvicorn[standard] gives the server: the client should not be the bottleneck

        runner: Callable[[Awaitable[dict[str, Any]]], dict[str, Any]] = uvloop.run  # type: ignore[assignment]
    except ImportError:  # pragma: no cover
        runner = asyncio.run  # type: ignore[assignment]

    async def bounded() -> dict[str, Any]:
        return await asyncio.wait_for(main_async(c), c.deadline)

    result = runner(bounded())
    result["config"] = asdict(c)
    Path(c.out).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
