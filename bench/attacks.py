"""The hostile client of the "abuse under load" phase (bench/abuse.py): one attack, one address.

Started as `python -m bench.attacks <json>` by the honest load generator, in a process of its own
(so its CPU is not counted against the honest clients' event loop), from its own loopback
address (127.0.0.66 by default), so the server sees it as one client apart from the honest ones,
as it would on the internet. Each attack is the issue's (#21) case as a script: it runs until its
time is up, every loop and connection bounded, then writes what it did (requests by answer) as
JSON. Traffic only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import os
import re
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import uvloop

from .wire import Browser, Recorder, handshake, open_listener

HOST = "127.0.0.1"
READY = "ready"  # said on stdout once the attack's files are made and its clock starts
PARALLEL = 8  # the attacker's concurrent loops (the preview attack used eight)


class Attack:
    """What an attack needs: where, as whom, until when; and the tally of what it got back."""

    def __init__(self, config: dict[str, Any], fixtures: dict[str, Any] | None = None) -> None:
        self.port: int = config["port"]
        self.slug: str = config["slug"]
        self.topic: str = config["topic"]
        self.source: str = config.get("source", "127.0.0.66")
        self.started = time.monotonic()
        self.end = self.started + float(config["seconds"])
        self.answers: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.notes: dict[str, Any] = {}
        self.fixtures = fixtures or {}  # what the attack made before its clock started (PREPARE)

    def browser(self) -> Browser:
        return Browser(HOST, self.port, self.source)

    def going(self) -> bool:
        return time.monotonic() < self.end

    def count(self, what: str | int) -> None:
        with self.lock:
            self.answers[str(what)] += 1

    def loop(self, step: Callable[[Browser], None], setup: Callable[[Browser], None] | None = None) -> None:
        """PARALLEL loops of `step` until the time is up, each with its own browser (cookies)."""

        def one() -> None:
            browser = self.browser()
            if setup is not None:
                setup(browser)
            while self.going():
                try:
                    step(browser)
                except (OSError, http.client.HTTPException) as problem:
                    self.count(type(problem).__name__)
                    time.sleep(0.05)

        with ThreadPoolExecutor(PARALLEL) as pool:
            for future in [pool.submit(one) for _ in range(PARALLEL)]:
                future.result()

    def joined(self, browser: Browser, name: str = "Mallory") -> None:
        """Join the event in this browser (the attacker's participant cookie)."""
        browser.csrf(f"/e/{self.slug}")
        browser.cookies["os_p"] = browser.join(self.slug, name)

    def act(self, browser: Browser, action: str, back: str = "participant", **args: str) -> int:
        token = browser.cookies.get("os_csrf") or browser.csrf(f"/e/{self.slug}")
        form = {"csrf": token, "_action": action, "_return_to": back, **args}
        status, _, _ = browser.request("POST", f"/e/{self.slug}/act", form=form)
        self.count(status)
        return status


# --- the attacks ---------------------------------------------------------------------------------------------


def previews(a: Attack) -> None:
    """Case 1: report previews of "![" * 4999 in three fields, no join, eight loops."""
    bomb = "![" * 4999

    def step(b: Browser) -> None:
        a.act(b, "", "report", topic=a.topic, _preview="1", discussion=bomb, insights=bomb, recommendations=bomb)

    a.loop(step)


def pdf(a: Attack) -> None:
    """Case 2: the published proceedings as PDF, eight requests at a time, again and again."""

    def step(b: Browser) -> None:
        status, _, body = b.request("GET", f"/e/{a.slug}/export/pdf")
        a.count(status)
        if status == 200:
            a.notes["pdf_bytes"] = len(body)
            a.notes.setdefault("first_pdf_s", round(time.monotonic() - a.started, 2))

    a.loop(step)


def act_flood(a: Attack) -> None:
    """Case 3: proposals as fast as eight loops of one joined participant can post them."""
    n = iter(range(1 << 30))
    a.loop(lambda b: a.act(b, "topic.propose", title=f"Flood {next(n)}"), setup=a.joined)


def rename(a: Attack) -> None:
    """Case 4: a participant with many long topics renames themself without pause."""
    b = a.browser()
    a.joined(b)
    description = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40)[:2000]
    proposed = 0
    while (
        a.going()
        and proposed < 100
        and a.act(b, "topic.propose", title=f"Long {proposed}", description=description) == 303
    ):
        proposed += 1
    a.notes["topics"] = proposed
    n = 0
    while a.going():
        n += 1
        if a.act(b, "me.rename", name=f"Mallory {n}") == 429:
            time.sleep(0.05)


def revisions(a: Attack) -> None:
    """Case 6: a report saved again and again, a new text each time."""
    b = a.browser()
    a.joined(b)
    n = 0
    while a.going():
        n += 1
        text = f"Version {n}: " + "Vi pratade om bibliotekets framtid. " * 50
        if a.act(b, "report.save", "report", topic=a.topic, base="0", discussion=text) == 429:
            time.sleep(0.05)


def noise_png(side: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG", compress_level=1)
    return out.getvalue()


def thin_png() -> bytes:
    """1 × 39,999,999 pixels: under the total-pixel check, 1.5 GB to resize before #21."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00\x00" * 39_999_999, 9)  # each row: filter byte + one grey pixel
    header = struct.pack(">IIBBBBB", 1, 39_999_999, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def upload_files() -> dict[str, Any]:
    """The uploads' files and the posts' bodies, made before the attack starts: making them took
    the attacker more than a core for two seconds, and joining 50 MB of body for every post 0.8 of
    a core in bursts, which a real attacker does once, on a machine of its own."""
    files = [("noise.png", noise_png(1800)), ("thin.png", thin_png())]
    boundary = uuid.uuid4().hex
    bodies = []
    for name, data, count in ((*files[0], 5), (*files[1], 1)):  # five noise photos, or the thin PNG
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="{name}"\r\n'
        part = head.encode() + b"Content-Type: image/png\r\n\r\n" + data + b"\r\n"
        bodies.append(part * count + f"--{boundary}--\r\n".encode())
    return {"sizes": [len(data) for _, data in files], "boundary": boundary, "bodies": bodies}


def uploads(a: Attack) -> None:
    """Case 8: posts of five big noise photos, and of the 1 × 39,999,999 PNG, in turn, as fast as allowed."""
    boundary, bodies = a.fixtures["boundary"], a.fixtures["bodies"]
    a.notes["file_bytes"] = a.fixtures["sizes"]
    posts = iter(range(1 << 30))

    def step(b: Browser) -> None:
        token = b.cookies.get("os_csrf") or b.csrf(f"/e/{a.slug}")
        csrf = f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'.encode()
        photos = bodies[next(posts) % 2]  # five noise photos in one post, the thin PNG in the next
        conn = http.client.HTTPConnection(HOST, a.port, timeout=60, source_address=(a.source, 0))
        try:
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": b.origin}
            headers |= {"Cookie": b.cookie_header(), "Content-Length": str(len(csrf) + len(photos))}
            conn.request("POST", f"/e/{a.slug}/sessions/{a.topic}/photos", body=(csrf, photos), headers=headers)
            response = conn.getresponse()
            page = response.read()
            a.count(response.status)
            said = re.search(rb'role="alert"[^>]*>\s*<p>([^<]+)', page)
            if said:  # why it was refused, once per reason
                a.notes.setdefault("refusals", {}).setdefault(said.group(1).decode().strip()[:80], response.status)
        finally:
            conn.close()

    a.loop(step, setup=a.joined)


def new_events(a: Attack) -> None:
    """Case 11: events created at /new without pause."""

    def step(b: Browser) -> None:
        token = b.cookies.get("os_csrf") or b.csrf("/new")
        form = {"csrf": token, "name": "Spam", "starts_on": "2026-05-02", "ends_on": "", "timezone": "UTC"}
        status, _, _ = b.request("POST", "/new", form={**form, "language": "en"})
        a.count(status)

    a.loop(step)


def joins(a: Attack) -> None:
    """Case 11: joins without pause (each one a fresh participant's budget, were joins free)."""

    def step(b: Browser) -> None:
        token = b.cookies.get("os_csrf") or b.csrf(f"/e/{a.slug}")
        status, _, _ = b.request("POST", f"/e/{a.slug}/join", form={"csrf": token, "name": "Sybil"})
        b.cookies.pop("os_p", None)
        a.count(status)

    a.loop(step)


async def sockets(a: Attack) -> None:
    """Case 3: as many websockets as the server lets one address open, all of them reading."""
    recorder, opened = Recorder(), []
    while a.going() and len(opened) < 1000:
        try:
            opened.append(await open_listener(HOST, a.port, f"/e/{a.slug}/ws", "", recorder, False, 5.0, 64, a.source))
            a.count("open")
        except (OSError, ConnectionError, TimeoutError) as problem:
            a.count(re.sub(r"\W+", " ", str(problem))[:40] or type(problem).__name__)
            await asyncio.sleep(0.2)
    await asyncio.sleep(max(0.0, a.end - time.monotonic()))
    a.notes["deliveries"] = recorder.other_deliveries
    for listener in opened:
        listener.close()


async def catch_up(a: Attack) -> None:
    """Case 5: sockets resuming from 0 (the whole log), which never read a byte."""
    browser = a.browser()
    _, _, body = browser.request("GET", f"/e/{a.slug}")
    epoch = re.search(rb'"epoch":\s*"([^"]+)"', body)
    path = f"/e/{a.slug}/ws?since=0&epoch={epoch.group(1).decode() if epoch else ''}"
    held: list[socket.socket] = []
    while a.going() and len(held) < 64:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.bind((a.source, 0))
        sock.settimeout(5)
        try:
            sock.connect((HOST, a.port))
            request, _ = handshake(HOST, a.port, path, "")
            sock.sendall(request)
            held.append(sock)
            a.count("open")
        except OSError as problem:
            a.count(type(problem).__name__)
            sock.close()
        await asyncio.sleep(0.1)
    await asyncio.sleep(max(0.0, a.end - time.monotonic()))
    for sock in held:
        sock.close()


async def slowloris(a: Attack) -> None:
    """Case 12: 300 connections that send their headers one byte every two seconds."""
    loop = asyncio.get_running_loop()

    async def one() -> None:
        sock = socket.socket()
        sock.setblocking(False)
        sock.bind((a.source, 0))
        try:
            await loop.sock_connect(sock, (HOST, a.port))
            await loop.sock_sendall(sock, f"GET /e/{a.slug} HTTP/1.1\r\nHost: {HOST}:{a.port}\r\n".encode())
            while a.going():
                await asyncio.sleep(2.0)
                await loop.sock_sendall(sock, b"X")
            a.count("held to the end")
        except OSError:
            a.count("closed by the server")
        finally:
            sock.close()

    await asyncio.gather(*(one() for _ in range(300)))


THREADED: dict[str, Callable[[Attack], None]] = {
    "previews": previews,
    "pdf": pdf,
    "act_flood": act_flood,
    "rename": rename,
    "revisions": revisions,
    "uploads": uploads,
    "new_events": new_events,
    "joins": joins,
}
ASYNC = {"sockets": sockets, "catch_up": catch_up, "slowloris": slowloris}
PREPARE: dict[str, Callable[[], dict[str, Any]]] = {"uploads": upload_files}
ATTACKS = ("previews", "pdf", "act_flood", "sockets", "rename", "catch_up", "revisions", "uploads", "slowloris")
ATTACKS += ("new_events", "joins")


def main() -> None:
    config = orjson.loads(sys.argv[1])
    name = config["attack"]
    fixtures = PREPARE[name]() if name in PREPARE else {}
    attack = Attack(config, fixtures)  # its time counts from here, after the preparation
    print(READY, flush=True)  # the honest side measures from a moment after this
    started = time.monotonic()
    try:
        if name in ASYNC:
            # on uvloop, as the honest clients: on asyncio's own loop reading the 512 sockets' frames
            # took the attacker 33 us each, a third of a core taken from the server and the honest
            # clients on this machine, which a real attacker's machine would not share with them
            uvloop.run(asyncio.wait_for(ASYNC[name](attack), float(config["seconds"]) + 30))
        else:
            THREADED[name](attack)
    except Exception as problem:  # the attack's own failure is reported, not hidden
        attack.notes["failed"] = repr(problem)[:200]
    result = {"attack": name, "seconds": time.monotonic() - started, "answers": dict(attack.answers), **attack.notes}
    result["requests"] = sum(attack.answers.values())
    Path(config["out"]).write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
