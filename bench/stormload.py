"""The storms' load generator: `python -m bench.stormload <json config>`, started by bench/storms.py.

One process and one event loop for every phone and the facilitator, never the server's, as
bench/loadgen.py (whose setup, drivers and meters it reuses). Every phone checks what it is
sent, change by change: each sequence number once (else a duplicate) and each the next one
(else out of order); a phone short of the last change at the end lost some. Three runs:

* `reconnect`: N phones connected and up to date all drop at once (a reset each); during an
  outage the facilitator makes `changes` changes; then every phone comes back within `spread`
  seconds, resuming with `since` and `epoch` as live.js does, while the facilitator goes on
  acting. Measured: when the last phone had every change of the outage, the time to each 101,
  the facilitator's action → result, the server's CPU per phone, and snapshots (there should
  be none: the outage is within the log).
* `join`: N phones within `spread` seconds each GET the page, POST the join, GET the page again
  and open its socket, resuming at the page's `seq`; a phone is in once its socket answers a
  ping (the catch-up, if any, came before the pong). Measured: first GET → in, failures, the
  facilitator's action → result meanwhile, the server's CPU per phone.
* `silent`: N phones whose link dies without a reset: they stop reading and writing, their
  sockets left open. Each keeps live.js's timers (ping every PING_EVERY_MS, dropped after
  SILENT_AFTER_MS of silence, back after its backoff) and counts from the death of its link to
  being back and up to date; the server's side is watched through the old socket's TCP state.
* `hall`: N open pages asking for their regions after each change (bench/hall.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import random
import re
import socket
import struct
import sys
import time
from functools import partial
from pathlib import Path
from time import perf_counter_ns
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from .hall import hall
from .loadgen import HOST, Config, Fanout, Meter, bounded_gather, raise_nofile, summary
from .wire import Listener, Recorder, handshake

LIVE_JS = Path(__file__).resolve().parent.parent / "static" / "js" / "live.js"


def live_js_timers() -> dict[str, int]:
    """live.js's own constants, so that the silent phase keeps the promise the page makes."""
    text = LIVE_JS.read_text()
    names = ("PING_EVERY_MS", "SILENT_AFTER_MS", "BACKOFF_MIN_MS")
    return {name: int(re.search(rf"const {name} = (\d+);", text).group(1)) for name in names}  # type: ignore[union-attr]


class Phone(Listener):
    """A phone's socket that checks the order of what it gets and notes when it had `target`."""

    def __init__(self, request: bytes, accept: bytes, since: int, target: int) -> None:
        super().__init__(request, accept, Recorder(), counted=False)  # counts its own, below
        self.seq, self.target = since, target
        self.started = perf_counter_ns()
        self.upgraded_at = self.caught_at = self.pong_at = self.heard_at = 0
        self.duplicates = self.out_of_order = self.snapshots = 0
        self.on_text = self.text
        if since >= target:
            self.caught_at = -1  # nothing to wait for: set once upgraded

    def data_received(self, data: bytes) -> None:
        now = perf_counter_ns()
        self.heard_at = now
        if not self.upgraded:
            super().data_received(data)
            if self.upgraded:
                self.upgraded_at = now
                if self.caught_at == -1:
                    self.caught_at = now
            return
        super().data_received(data)

    def changes(self, seqs: list[int], now: int, length: int) -> None:
        for seq in seqs:
            if seq <= self.seq:
                self.duplicates += 1
                continue
            if seq != self.seq + 1:
                self.out_of_order += 1
            self.seq = seq
        if self.caught_at <= 0 and self.seq >= self.target:
            self.caught_at = now
        super().changes(seqs, now, length)

    def text(self, payload: bytes, now: int) -> None:
        if payload.startswith(b'{"type":"snapshot"'):
            self.snapshots += 1
            self.seq = int(orjson.loads(payload)["seq"])
            if self.caught_at <= 0 and self.seq >= self.target:
                self.caught_at = now
        elif payload == b'{"type":"pong"}':
            self.pong_at = now


async def open_phone(port: int, path: str, cookie: str, since: int, target: int, timeout: float = 60.0) -> Phone:
    request, accept = handshake(HOST, port, path, cookie)
    started = perf_counter_ns()
    loop = asyncio.get_running_loop()
    _, phone = await asyncio.wait_for(
        loop.create_connection(lambda: Phone(request, accept, since, target), HOST, port), timeout
    )
    phone.started = started
    await asyncio.wait_for(asyncio.shield(phone.opened), timeout)
    return phone


class PhoneBrowser:
    """A phone's browser (asyncio, 2,000 at once; loadgen.Browser is the setup's, blocking): its
    cookies, and one connection its requests share (HTTP/1.1 keeps a connection open between
    requests, as every browser does), or a new connection each when `keep` is false
    (`Connection: close`, the bench's way until 2026-12-06, kept for comparison)."""

    def __init__(self, port: int, keep: bool = True) -> None:
        self.port, self.keep = port, keep
        self.cookies: dict[str, str] = {}
        self.headers: dict[str, str] = {}  # sent with every request (a live page's X-Regions: bench/hall.py)
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.wire = 0  # the last answer's body as sent (compressed), bytes

    async def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request; the answer's status and body (gunzipped), its cookies kept."""
        if self.streams is None:
            self.streams = await asyncio.wait_for(asyncio.open_connection(HOST, self.port), 30)
        reader, writer = self.streams
        body = urlencode(form).encode() if form is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}", f"Origin: http://{HOST}:{self.port}"]
        head += ["Accept-Encoding: gzip", "Connection: " + ("keep-alive" if self.keep else "close")]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if form is not None:
            head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        top = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        lines = top[:-4].decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "set-cookie":
                key, _, rest = value.strip().partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
            headers[name.lower()] = value.strip()
        if "content-length" not in headers:
            raise RuntimeError(f"{method} {path}: an answer without Content-Length")
        content = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 30)
        self.wire = len(content)
        if not self.keep or headers.get("connection") == "close":
            self.close()
        if headers.get("content-encoding") == "gzip":
            content = gzip.decompress(content)
        return int(lines[0].split()[1]), content

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


PAGE_DATA = re.compile(rb'<script type="application/json" id="os-data">(.*?)</script>', re.S)


class Storm:
    def __init__(self, c: dict[str, Any]) -> None:
        self.c = c
        self.config = Config(
            mode="fanout",
            target=c["target"],
            port=c["port"],
            pid=c["pid"],
            out=c["out"],
            clients=c["clients"],
            drivers=c.get("drivers", 8),
            participants=c.get("participants", 200),
            payload_bytes=c.get("payload_bytes", 600),
        )
        self.run = Fanout(self.config)
        self.project = c["target"] == "project"
        self.result: dict[str, Any] = {"target": c["target"], "clients": c["clients"]}

    async def setup(self) -> None:
        await self.run.setup()
        if not self.project:  # the bare app answers no action: its floor is a command's echo at its sender
            for driver in self.run.drivers:
                driver.listener.changes = partial(self.echo, driver.listener.changes)  # type: ignore[method-assign]
        gc.collect()
        gc.freeze()

    def echo(self, changes: Any, seqs: list[int], now: int, length: int) -> None:
        for seq in seqs:
            if seq in self.run.sent:
                self.run.result_ms.append((now - self.run.sent[seq]) / 1e6)
        changes(seqs, now, length)

    def ws_base(self) -> str:
        return f"/e/{self.run.slug}/ws" if self.project else "/ws"

    async def head_and_epoch(self) -> tuple[int, str]:
        if not self.project:
            return self.run.next_seq - 1, "bare"
        browser = PhoneBrowser(self.c["port"], keep=False)
        _, body = await browser.request("GET", f"/e/{self.run.slug}")
        data = orjson.loads(PAGE_DATA.search(body).group(1))  # type: ignore[union-attr]
        return int(data["seq"]), str(data["epoch"])

    async def made(self, futures: list[asyncio.Future[Any]]) -> list[int]:
        done, pending = await asyncio.wait(futures, timeout=30) if futures else (set(), set())
        for future in pending:
            future.cancel()
        return sorted(f.result() for f in done if not f.cancelled() and f.exception() is None and f.result())

    async def acting(self, rate: float, stop: asyncio.Event) -> list[int]:
        """The facilitator at `rate` changes a second until `stop`; their seqs once all answered."""
        futures, loop = [], asyncio.get_running_loop()
        start, i = loop.time(), 0
        while not stop.is_set():
            fired = self.run.fire(self.run.turn)
            if fired is not None:
                futures.append(fired)
            i += 1
            delay = start + i / rate - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        return await self.made(futures)

    def cookie(self, i: int) -> str:
        return self.run.cookies[i % len(self.run.cookies)] if self.project else ""

    async def reconnect(self) -> dict[str, Any]:
        c, n = self.c, self.c["clients"]
        head, epoch = await self.head_and_epoch()
        base = self.ws_base()

        path = f"{base}?since={head}&epoch={quote(epoch)}"
        opened = await bounded_gather(
            (partial(open_phone, c["port"], path, self.cookie(i), head, head) for i in range(n)), 64
        )
        phones = [p for p in opened if isinstance(p, Phone)]
        if len(phones) < n:
            failed = next(p for p in opened if not isinstance(p, Phone))
            raise RuntimeError(f"{n - len(phones)} phones failed to connect: {failed!r}")
        await asyncio.sleep(2.0)
        for phone in phones:  # the access point reboots: every phone at once
            assert phone.transport is not None
            phone.transport.abort()
        await asyncio.sleep(0.5)
        self.run.result_ms = []
        outage = await self.made(await self.run.offer(c["changes"] / c["outage"], c["outage"]))
        target = outage[-1] if outage else head
        self.result["outage"] = {"changes": len(outage), "result": summary(self.run.result_ms)}
        self.run.result_ms = []
        stop = asyncio.Event()
        acting = asyncio.create_task(self.acting(c["storm_rate"], stop))
        meter, t0 = Meter(c["pid"]), perf_counter_ns()

        async def back(i: int, old: Phone) -> Phone:
            await asyncio.sleep(i * c["spread"] / n)
            path = f"{base}?since={old.seq}&epoch={quote(epoch)}"
            return await open_phone(c["port"], path, self.cookie(i), old.seq, target)

        came = await asyncio.gather(*(back(i, p) for i, p in enumerate(phones)), return_exceptions=True)
        back_phones = [p for p in came if isinstance(p, Phone)]
        deadline = time.monotonic() + c["deadline"]
        while time.monotonic() < deadline and any(p.caught_at <= 0 and not p.closed.done() for p in back_phones):
            await asyncio.sleep(0.02)
        usage = meter.read()
        stop.set()
        made = await acting
        final = made[-1] if made else target
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(p.seq < final and not p.closed.done() for p in back_phones):
            await asyncio.sleep(0.05)
        caught = [(p.caught_at - t0) / 1e6 for p in back_phones if p.caught_at > 0]
        self.result["storm"] = {
            "phones": n,
            "failures": n - len(back_phones),
            "first_failure": next((repr(p) for p in came if not isinstance(p, Phone)), None),
            "outage_changes": target - head,
            "last_caught_up_ms": max(caught) if len(caught) == len(back_phones) else float("inf"),
            "caught_up": summary(caught),
            "not_caught_up": len(back_phones) - len(caught),
            "to_101": summary([(p.upgraded_at - p.started) / 1e6 for p in back_phones]),
            "own_catch_up": summary([(p.caught_at - p.upgraded_at) / 1e6 for p in back_phones if p.caught_at > 0]),
            "lost": sum(1 for p in back_phones if p.seq < final),
            "duplicates": sum(p.duplicates for p in back_phones),
            "out_of_order": sum(p.out_of_order for p in back_phones),
            "snapshots": sum(p.snapshots for p in back_phones),
            "closed": sum(1 for p in back_phones if p.closed.done()),
            "facilitator": {"changes": len(made), **summary(self.run.result_ms)},
            "cpu_ms_per_phone": 1e3 * usage["server_cpu_s"] / n,
            **usage,
        }
        for phone in back_phones:
            phone.close()
        return self.result

    async def join(self) -> dict[str, Any]:
        c, n = self.c, self.c["clients"]
        page = f"/e/{self.run.slug}" if self.project else f"/e/{c['page_bytes']}"
        base = self.ws_base()
        phones: list[Phone] = []
        sizes: list[int] = []  # the joined page, uncompressed: the bare app renders one as large
        wire: list[int] = []  # and as sent, gzipped

        async def one(i: int) -> tuple[float, float]:
            await asyncio.sleep(i * c["spread"] / n)
            t0, browser = perf_counter_ns(), PhoneBrowser(c["port"], keep=c.get("keep_alive", True))
            cookies = browser.cookies
            try:
                status, _ = await browser.request("GET", page)
                assert status == 200, f"GET {page}: {status}"
                form = {"csrf": cookies.get("os_csrf", ""), "name": f"Phone {i}"}
                status, _ = await browser.request("POST", f"{page}/join", form)
                assert status == 303 and "os_p" in cookies, f"join: {status}"
                t1 = perf_counter_ns()
                status, body = await browser.request("GET", page)
                assert status == 200, f"GET {page} joined: {status}"
            finally:
                browser.close()
            data = orjson.loads(PAGE_DATA.search(body).group(1))  # type: ignore[union-attr]
            sizes.append(len(body))
            wire.append(browser.wire)
            path = f"{base}?since={data['seq']}&epoch={quote(str(data['epoch']))}"
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            phone = await open_phone(c["port"], path, cookie, int(data["seq"]), int(data["seq"]))
            phones.append(phone)
            phone.send(b'{"type":"ping"}')
            for _ in range(3000):
                if phone.pong_at or phone.closed.done():
                    break
                await asyncio.sleep(0.01)
            assert phone.pong_at, "no pong"
            return (phone.pong_at - t0) / 1e6, (t1 - t0) / 1e6

        self.run.result_ms = []
        stop = asyncio.Event()
        acting = asyncio.create_task(self.acting(c["storm_rate"], stop))
        meter = Meter(c["pid"])
        outcomes = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
        usage = meter.read()
        stop.set()
        made = await acting
        good = [o for o in outcomes if isinstance(o, tuple)]
        bad = [o for o in outcomes if not isinstance(o, tuple)]
        self.result["join"] = {
            "phones": n,
            "failures": len(bad),
            "first_failure": repr(bad[0]) if bad else None,
            "in": summary([g[0] for g in good]),
            "get_and_join": summary([g[1] for g in good]),
            "snapshots": sum(p.snapshots for p in phones),
            "page_bytes": max(sizes, default=0),
            "page_wire_bytes": max(wire, default=0),
            "facilitator": {"changes": len(made), **summary(self.run.result_ms)},
            "cpu_ms_per_phone": 1e3 * usage["server_cpu_s"] / n,
            "loop_cpu_ms_per_phone": 1e3 * usage["server_loop_cpu_s"] / n,
            **usage,
        }
        for phone in phones:
            phone.close()
        return self.result

    async def silent(self) -> dict[str, Any]:
        """Phones whose link dies (no reset): live.js's timers notice, and they come back."""
        c, n = self.c, self.c["clients"]
        timers = live_js_timers()
        head, epoch = await self.head_and_epoch()
        base = self.ws_base()
        path = f"{base}?since={head}&epoch={quote(epoch)}"
        phones = [await open_phone(c["port"], path, self.cookie(i), head, head) for i in range(n)]
        stop = asyncio.Event()
        acting = asyncio.create_task(self.acting(2.0, stop))  # changes keep coming meanwhile
        await asyncio.sleep(random.uniform(1.0, 2.0))

        async def one(i: int, phone: Phone) -> dict[str, float]:
            # live.js pings every PING_EVERY_MS, at its own phase; the link dies at a random moment
            last_heard = phone.heard_at or perf_counter_ns()
            assert phone.transport is not None
            phone.transport.pause_reading()  # nothing reaches the phone any more, and nothing leaves it
            died = perf_counter_ns()
            server_side = asyncio.create_task(server_let_go(phone, 90.0, died))  # watched from the death on
            phase = random.uniform(0, timers["PING_EVERY_MS"] / 1e3)
            await asyncio.sleep(phase)
            while (perf_counter_ns() - last_heard) / 1e6 <= timers["SILENT_AFTER_MS"]:
                await asyncio.sleep(timers["PING_EVERY_MS"] / 1e3)
            dropped = perf_counter_ns()
            await asyncio.sleep(timers["BACKOFF_MIN_MS"] / 1e3 * random.uniform(0.5, 1.5))
            since = phone.seq
            latest = max(self.run.sent) if self.run.sent else head
            back = await open_phone(
                c["port"], f"{base}?since={since}&epoch={quote(epoch)}", self.cookie(i), since, latest
            )
            for _ in range(3000):
                if back.caught_at > 0:
                    break
                await asyncio.sleep(0.01)
            server_gone = await server_side
            back.close()
            return {
                "detected_s": (dropped - died) / 1e9,
                "back_s": (back.caught_at - died) / 1e9 if back.caught_at > 0 else float("inf"),
                "server_closed_s": server_gone,
            }

        got = await asyncio.gather(*(one(i, p) for i, p in enumerate(phones)))
        stop.set()
        await acting
        for phone in phones:
            phone.close()
        self.result["silent"] = {
            "phones": n,
            "promise_s": (timers["SILENT_AFTER_MS"] + timers["PING_EVERY_MS"]) / 1e3,
            "detected": summary([g["detected_s"] for g in got]),
            "back": summary([g["back_s"] for g in got]),
            "server_closed": summary([g["server_closed_s"] for g in got]),
        }
        return self.result


async def server_let_go(phone: Phone, limit: float, since_ns: int) -> float:
    """Seconds from `since_ns` until the server closed its side of the dead socket (its TCP state
    leaves ESTABLISHED), watched without reading, bounded by `limit`."""
    assert phone.transport is not None
    sock: socket.socket = phone.transport.get_extra_info("socket")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        state = struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]
        if state != 1:  # TCP_ESTABLISHED
            return (perf_counter_ns() - since_ns) / 1e9
        await asyncio.sleep(0.25)
    return float("inf")


async def main_async(c: dict[str, Any]) -> dict[str, Any]:
    storm = Storm(c)
    await storm.setup()
    if c["mode"] == "hall":
        return await hall(storm)
    return await getattr(storm, c["mode"])()


def main() -> None:
    c = orjson.loads(sys.argv[1])
    raise_nofile()
    gc.set_threshold(50_000, 20, 100)
    import uvloop

    result = uvloop.run(asyncio.wait_for(main_async(c), c.get("limit", 300.0)))
    Path(c["out"]).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
