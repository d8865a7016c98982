"""Reports written together (issue #16): `python -m bench.cowrite` (also run by `make bench`).

1. Typing: the real server (`python -m openspace serve`, as bench/servers.py starts it), one
   report, N authors (default 10) each typing 5 characters a second over their own websocket for
   a bounded time; every author applies the others' updates to its own pycrdt copy. Measured:
   keystroke → each other author's screen (send of `doc.push` to receipt of its `doc.update`),
   p50/p99/max, and that every copy ends with the same text holding every typed character once.
   The same typing through the bare baseline (bench/baseline.py: a frame relayed to every socket,
   nothing stored), in the same run, gives the ratio: what openspace adds on this machine now.
2. Loading: in process, a report after 20,000 updates (typed in runs at a cursor, with some
   backspacing and jumps, compacted every 200), the server restarted, then the time to read it
   cold (state + tail from SQLite, merged) and warm.
3. Memory: the resident size added by 200 open reports of about 2,000 characters typed in
   2,000 updates each, per report; and by 50 more being written (with a live document each).
Traffic only to 127.0.0.1; every phase bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

from bench import servers
from bench.wire import Browser
from openspace.cowriting import Cowriting
from openspace.domain import cowrite
from openspace.domain.rules import Actor
from openspace.live.hub import LocalHub
from openspace.service import Service
from openspace.store.sqlite import SQLiteStore

HOST = "127.0.0.1"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


class Author:
    def __init__(self, name: str, cookie: str, topic: str) -> None:
        self.name, self.cookie, self.topic = name, cookie, topic
        self.doc = cowrite.new_doc()  # a browser's copy: Yjs applies updates in order, as they arrive
        self.sent: list[float] = []  # when each of my updates left
        self.typed = ""
        self.seen: dict[str, int] = {}  # per author: how many of their updates arrived here
        self.delays: list[float] = []
        self.acked = 0

    async def run(self, url: str, origin: str, others: list[Author], rate: float, seconds: float) -> None:
        async with connect(url, additional_headers={"cookie": self.cookie, "origin": origin}) as ws:
            await ws.send(orjson.dumps({"type": "doc.sub", "topic": self.topic, "sv": ""}).decode())
            reader = asyncio.create_task(self.read(ws, others))
            rng = random.Random(self.name)
            await asyncio.sleep(rng.random() / rate)
            end = time.monotonic() + seconds
            n = 0
            while time.monotonic() < end:
                char = f"{self.name[0]}{n % 10}"[n % 2]  # letters and digits, to count them afterwards
                text = cowrite.texts_of(self.doc)["discussion"]
                at = rng.randint(0, len(text))
                update = cowrite.edit_to(self.doc, {"discussion": text[:at] + char + text[at:]})
                assert update is not None
                self.typed += char
                self.sent.append(time.monotonic())
                message = {"type": "doc.push", "topic": self.topic, "id": f"{self.name}-{n:06d}", "update": ""}
                message["update"] = base64.b64encode(update).decode()
                await ws.send(orjson.dumps(message).decode())
                n += 1
                await asyncio.sleep(1 / rate)
            for _ in range(200):  # let the last updates arrive (bounded)
                if self.acked >= n:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            reader.cancel()

    async def read(self, ws: Any, others: list[Author]) -> None:
        by_name = {a.name: a for a in others}
        async for raw in ws:
            message = orjson.loads(raw)
            kind = message.get("type")
            if kind in ("doc.state", "doc.update"):
                self.doc.apply_update(base64.b64decode(message["update"]))
                who = message.get("by")
                if kind == "doc.update" and who in by_name and who != self.name:
                    k = self.seen.get(who, 0)
                    self.seen[who] = k + 1
                    if k < len(by_name[who].sent):
                        self.delays.append(time.monotonic() - by_name[who].sent[k])
            elif kind == "doc.ack":
                self.acked += 1
            elif kind == "doc.refused":
                raise RuntimeError(f"refused: {message}")


async def typing(authors_count: int, rate: float, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = servers.start("project", Path(tmp))
        try:
            facilitator = Browser(HOST, server.port)
            slug = facilitator.new_event("Bench", "2026-06-01", "2026-06-01")
            token = facilitator.cookies["os_csrf"]
            status, _, _ = facilitator.request(
                "POST",
                f"/e/{slug}/act",
                form={"csrf": token, "_action": "topic.propose", "_return_to": "facilitate", "title": "Rapporten"},
            )
            assert status == 303, status
            state = orjson.loads(facilitator.request("GET", f"/e/{slug}/state.json")[2])
            topic = state["topics"][0]["id"]
            names = [f"{chr(65 + i)}uthor{i}" for i in range(authors_count)]
            authors = [Author(name, "os_p=" + facilitator.join(slug, name), topic) for name in names]
            url, origin = f"ws://{HOST}:{server.port}/e/{slug}/ws", f"http://{HOST}:{server.port}"
            await asyncio.gather(*(a.run(url, origin, authors, rate, seconds) for a in authors))
            final = orjson.loads(facilitator.request("GET", f"/e/{slug}/state.json")[2])
            on_server = next(r for r in final["reports"] if r["id"] == topic)["discussion"]
        finally:
            servers.stop(server)
    delays = [d * 1000 for a in authors for d in a.delays]
    texts = {cowrite.texts_of(a.doc)["discussion"] for a in authors}
    typed = sorted("".join(a.typed for a in authors))
    return {
        "authors": authors_count,
        "chars_per_second_each": rate,
        "seconds": seconds,
        "keystrokes": sum(len(a.sent) for a in authors),
        "deliveries": len(delays),
        "expected_deliveries": sum(len(a.sent) for a in authors) * (authors_count - 1),
        "p50_ms": round(statistics.median(delays), 1) if delays else None,
        "p99_ms": round(percentile(delays, 99), 1),
        "max_ms": round(max(delays), 1) if delays else None,
        "converged": len(texts) == 1 and texts == {on_server},
        "every_character_once": sorted(on_server) == typed,
    }


async def relayed(authors_count: int, rate: float, seconds: float) -> dict[str, Any]:
    """The baseline: each keystroke a frame of an update's size relayed to every author's socket
    by the bare app, nothing checked or stored; keystroke → the other authors, as above."""
    with tempfile.TemporaryDirectory() as tmp:
        server = servers.start("baseline", Path(tmp))
        sent: list[list[float]] = [[] for _ in range(authors_count)]
        delays: list[float] = []

        async def author(i: int) -> None:
            async with connect(f"ws://{HOST}:{server.port}/ws") as ws:

                async def read() -> None:
                    async for raw in ws:
                        seq = orjson.loads(raw)["seq"]
                        who, n = divmod(seq, 1_000_000)
                        if who != i and n < len(sent[who]):
                            delays.append(time.monotonic() - sent[who][n])

                reader = asyncio.create_task(read())
                rng = random.Random(i)
                await asyncio.sleep(rng.random() / rate)
                end, n = time.monotonic() + seconds, 0
                while time.monotonic() < end:
                    sent[i].append(time.monotonic())
                    await ws.send(orjson.dumps({"type": "broadcast", "seq": i * 1_000_000 + n, "size": 200}).decode())
                    n += 1
                    await asyncio.sleep(1 / rate)
                await asyncio.sleep(1.0)
                reader.cancel()

        try:
            await asyncio.gather(*(author(i) for i in range(authors_count)))
        finally:
            servers.stop(server)
    ms = [d * 1000 for d in delays]
    return {"deliveries": len(ms), "p50_ms": round(statistics.median(ms), 1), "p99_ms": round(percentile(ms, 99), 1)}


async def loading(updates: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "load.db"

        async def started() -> tuple[Service, Cowriting, SQLiteStore, LocalHub]:
            store = SQLiteStore(path)
            await store.open()
            hub = LocalHub()
            service = Service(store, hub)
            await hub.start()
            await service.start()
            return service, Cowriting(service), store, hub

        async def stopped(service: Service, cowriting: Cowriting, store: SQLiteStore, hub: LocalHub) -> None:
            await cowriting.stop()
            await service.stop()
            await hub.stop()
            await store.close()

        service, cowriting, store, hub = await started()
        event, _ = await service.create_event(
            {"name": "Bench", "starts_on": "2026-06-01", "timezone": "Europe/Stockholm", "language": "en"}
        )
        topic = (await service.execute(event.id, Actor(facilitator=True), "topic.propose", {"title": "R"}))["topic"]
        pid, _ = await service.join(event.id, "Typist")
        typist, actor, rng = cowrite.new_doc(), Actor(participant_id=pid, name="Typist"), random.Random(1)
        started_at = time.perf_counter()
        pending: list[bytes] = []
        cursor = 0
        for n in range(updates):  # as people type: runs at a cursor, some backspacing, now and then elsewhere
            text = cowrite.texts_of(typist)["discussion"]
            if rng.random() < 0.05:
                cursor = rng.randint(0, len(text))
            if cursor > 0 and rng.random() < 0.15:
                new, cursor = text[: cursor - 1] + text[cursor:], cursor - 1
            else:
                new, cursor = text[:cursor] + "abcdefghij "[n % 11] + text[cursor:], cursor + 1
            if len(new) > 9000:
                new, cursor = new[:9000], min(cursor, 9000)
            update = cowrite.edit_to(typist, {"discussion": new})
            if update is not None:
                pending.append(update)
            if len(pending) >= 50 or n == updates - 1:  # 50 at a time, as 10 authors would send them
                await asyncio.gather(*(cowriting.push(event.id, actor, topic, u) for u in pending))
                pending = []
        write_seconds = time.perf_counter() - started_at
        await stopped(service, cowriting, store, hub)
        service, cowriting, store, hub = await started()
        t0 = time.perf_counter()
        state, rseq = await cowriting.state(event.id, topic)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(20):
            await cowriting.state(event.id, topic)
        warm = (time.perf_counter() - t0) / 20
        ok = cowrite.Replica(state).texts()["discussion"] == cowrite.texts_of(typist)["discussion"]
        await stopped(service, cowriting, store, hub)
    return {
        "updates": updates,
        "rseq": rseq,
        "text_chars": len(cowrite.texts_of(typist)["discussion"]),
        "state_bytes": len(state),
        "write_seconds": round(write_seconds, 1),
        "load_cold_ms": round(cold * 1000, 1),
        "load_warm_ms": round(warm * 1000, 3),
        "same_text": ok,
    }


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def memory(reports: int, updates: int) -> dict[str, Any]:
    rng = random.Random(2)
    typist = cowrite.new_doc()  # one browser typing, with a jump now and then
    at = 0
    for n in range(updates):
        text = cowrite.texts_of(typist)["discussion"]
        at = rng.randint(0, len(text)) if rng.random() < 0.05 else min(at, len(text))
        cowrite.edit_to(typist, {"discussion": text[:at] + "abcdefghij "[n % 11] + text[at:]})
        at += 1
    state = typist.get_update()
    gc.collect()
    before = rss()
    kept = []
    for _ in range(reports):
        replica = cowrite.Replica(bytes(bytearray(state)))  # its own copy: bytes(b) is b itself
        replica.texts()  # the document read, as an open report is
        kept.append(replica)
    gc.collect()
    after = rss()
    live = []  # the reports last written (cowriting.LIVE_DOCS) keep a live document as well
    for _ in range(reports // 4):
        replica = cowrite.Replica()
        replica.take(bytes(bytearray(state)))  # holds everything: kept live
        live.append(replica)
    gc.collect()
    with_live = rss()
    return {
        "reports": reports,
        "chars_each": len(cowrite.texts_of(typist)["discussion"]),
        "state_bytes": len(state),
        "kib_per_report": round((after - before) / reports / 1024, 1),
        "kib_per_report_being_written": round((with_live - after) / (reports // 4) / 1024, 1),
    }


def measure(authors: int = 10, rate: float = 5.0, seconds: float = 20.0, updates: int = 20_000) -> dict[str, Any]:
    typed = asyncio.run(typing(authors, rate, seconds))
    baseline = asyncio.run(relayed(authors, rate, seconds))
    typed["baseline"] = baseline
    typed["p99_over_baseline"] = round(typed["p99_ms"] / baseline["p99_ms"], 1) if baseline["p99_ms"] else None
    return {
        "typing": typed,
        "loading": asyncio.run(loading(updates)),
        "memory": memory(200, 2000),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cowrite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--authors", type=int, default=10)
    parser.add_argument("--rate", type=float, default=5.0, help="characters a second per author")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--updates", type=int, default=20_000)
    args = parser.parse_args(argv)
    results = measure(args.authors, args.rate, args.seconds, args.updates)
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
