"""The load generator's side of the wire: a lean websocket client and a few plain HTTP calls.

Why not `websockets.asyncio.client.connect` for the thousands of listening sockets? On the
two-core machine this benchmark is meant for, the server gets one core and the load generator
the other. 2,000 clients at 20 changes/s are 40,000 frames/s to receive, and the library's
client (a reader task, an assembler and a `recv()` wake-up per message) spends tens of µs per
frame: the client, not the server, would set the latency (measure it: `--client websockets`).
`Listener` speaks the same RFC 6455 (handshake, masked client frames, pong, close) as an
`asyncio.Protocol` with a tiny frame parser, and time-stamps a frame the moment its bytes arrive.
The server sends only unfragmented text frames, never compressed (per-message deflate is off).

A client frame must be masked; a zero masking key is legal and leaves the payload as is, which
keeps sending acks as cheap as the browser's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import os
import random
import re
import socket
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any, cast
from urllib.parse import urlencode

import orjson

CHANGE_PREFIX = b'{"type":"change","seq":'  # orjson keeps key order: every change frame starts so
BATCH_PREFIX = b'{"type":"batch","changes":['  # several changes in one frame (a burst), each as above
ACK_EVERY = 64  # like live.js: acknowledge after 64 unacknowledged changes, or after 1-2 s
ACK_AFTER_S = 1.0


def seqs_in(frame: bytes, start: int, end: int) -> list[int]:
    """The sequence numbers of a change or batch frame's changes (empty for any other frame)."""
    if frame.startswith(CHANGE_PREFIX, start):
        digits = start + len(CHANGE_PREFIX)
        return [int(frame[digits : frame.index(b",", digits)])]
    if not frame.startswith(BATCH_PREFIX, start):
        return []
    found, at = [], start
    while (at := frame.find(CHANGE_PREFIX, at, end)) >= 0:
        digits = at + len(CHANGE_PREFIX)
        found.append(int(frame[digits : frame.index(b",", digits)]))
        at = digits
    return found


GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING = 0x1, 0x8, 0x9


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, masked (with a zero key) client frame."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + b"\x00\x00\x00\x00" + payload


def handshake(host: str, port: int, path: str, cookie: str) -> tuple[bytes, bytes]:
    """The upgrade request (Origin = the server's own origin, as a browser sends it) and the accept value."""
    key = base64.b64encode(os.urandom(16))
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
        f"Origin: http://{host}:{port}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), accept


class Recorder:
    """Arrivals of change frames at the listeners: per sequence number, how many and when the last.

    All listeners live in this one process, so `perf_counter_ns` is one clock for the driver's
    send time and every arrival; within one thread it never goes back, so the latest arrival of
    a change is simply the one recorded last.
    """

    def __init__(self) -> None:
        self.arrivals: dict[int, list[int]] = {}  # seq -> [listeners that got it, ns of the last, of the first]
        self.other_deliveries = 0  # change frames that reached a driver (they are clients too)
        self.bytes = 0  # payload bytes of the change frames the listeners got (for the frame size)

    def arrive(self, seq: int, now: int) -> None:
        seen = self.arrivals.get(seq)
        if seen is None:
            self.arrivals[seq] = [1, now, now]
        else:
            seen[0] += 1
            seen[1] = now


class Listener(asyncio.Protocol):
    """One websocket client: records every change's arrival and acks like live.js (every 64 changes,
    or 1-2 s after the first unacknowledged one)."""

    def __init__(
        self, request: bytes, accept: bytes, recorder: Recorder, counted: bool = True, ack_every: int = ACK_EVERY
    ) -> None:
        self.request = request
        self.ack_every = ack_every
        self.accept = accept
        self.recorder = recorder
        self.counted = counted  # False for drivers: their deliveries count, their latency does not
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.buffer = b""
        self.unacked = 0
        self.last_seq = 0
        self.ack_timer: asyncio.TimerHandle | None = None
        self.on_text: Callable[[bytes, int], None] | None = None  # non-change frames (results)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(1006)

    def send(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(payload))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(b"\x03\xe8", OP_CLOSE))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        now = perf_counter_ns()
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            head = data[:end]
            if not head.startswith(b"HTTP/1.1 101") or self.accept not in head:
                self.opened.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded = True
            self.opened.set_result(None)
            data = data[end + 4 :]
        self.frames(data, now)

    def frames(self, data: bytes, now: int) -> None:
        n, i = len(data), 0
        while n - i >= 2:
            length, header = data[i + 1] & 0x7F, 2
            if length == 126:
                if n - i < 4:
                    break
                length, header = int.from_bytes(data[i + 2 : i + 4], "big"), 4
            elif length == 127:
                if n - i < 10:
                    break
                length, header = int.from_bytes(data[i + 2 : i + 10], "big"), 10
            start, end = i + header, i + header + length
            if end > n:
                break
            opcode = data[i] & 0x0F
            seqs = seqs_in(data, start, end) if opcode == OP_TEXT else []
            if seqs:
                self.changes(seqs, now, length)
            elif opcode == OP_TEXT:
                if self.on_text is not None:
                    self.on_text(data[start:end], now)
            elif opcode == OP_PING:  # uvicorn pings every 20 s and closes a client that stays silent
                assert self.transport is not None
                self.transport.write(client_frame(data[start:end], 0xA))
            elif opcode == OP_CLOSE:
                code = int.from_bytes(data[start : start + 2], "big") if length >= 2 else 1005
                if not self.closed.done():
                    self.closed.set_result(code)
                self.close()
                return
            i = end
        if i < n:
            self.buffer = data[i:]

    def changes(self, seqs: list[int], now: int, length: int) -> None:
        if self.counted:
            for seq in seqs:
                self.recorder.arrive(seq, now)
            self.recorder.bytes += length
        else:
            self.recorder.other_deliveries += len(seqs)
        self.last_seq = seqs[-1]
        self.unacked += len(seqs)
        if self.unacked >= self.ack_every:
            self.ack()
        elif self.ack_timer is None:
            delay = ACK_AFTER_S * (1 + random.random())
            self.ack_timer = asyncio.get_running_loop().call_later(delay, self.ack)

    def ack(self) -> None:
        if self.ack_timer is not None:
            self.ack_timer.cancel()
            self.ack_timer = None
        self.unacked = 0
        self.send(b'{"type":"ack","seq":%d}' % self.last_seq)


async def open_listener(
    host: str,
    port: int,
    path: str,
    cookie: str,
    recorder: Recorder,
    counted: bool = True,
    timeout: float = 15.0,
    ack_every: int = ACK_EVERY,
    source: str | None = None,
) -> Listener:
    """`source`: the local address to connect from (127.x.y.z), so the server sees several clients."""
    request, accept = handshake(host, port, path, cookie)
    loop = asyncio.get_running_loop()
    local = (source, 0) if source else None
    _, protocol = await asyncio.wait_for(
        loop.create_connection(
            lambda: Listener(request, accept, recorder, counted, ack_every), host, port, local_addr=local
        ),
        timeout,
    )
    await asyncio.wait_for(asyncio.shield(protocol.opened), timeout)
    return protocol


async def open_frozen(host: str, port: int, path: str, cookie: str, timeout: float = 15.0) -> socket.socket:
    """A client that completes the upgrade and then never reads again, like a phone whose wifi stalled.

    Its receive buffer is made as small as the kernel allows before connecting, so the TCP window
    closes after a few KiB and everything else the server sends piles up on the server's side.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.setblocking(False)
    await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
    request, accept = handshake(host, port, path, cookie)
    await loop.sock_sendall(sock, request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)
        if not chunk:
            raise ConnectionError("the frozen client was refused")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101") or accept not in head:
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return sock


# --- plain HTTP, as a browser does it, without redirects --------------------------------------------------


class Browser:
    """Cookies and requests against one server; bodies are returned exactly as sent (no decoding)."""

    def __init__(self, host: str, port: int, source: str | None = None) -> None:
        self.host, self.port, self.source = host, port, source  # source: the address to connect from
        self.cookies: dict[str, str] = {}

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cookie_header(self, *names: str) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items() if not names or k in names)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPResponse, bytes]:
        local = (self.source, 0) if self.source else None
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30, source_address=local)
        try:
            sent = {"Origin": self.origin, **(headers or {})}
            if self.cookies:
                sent["Cookie"] = self.cookie_header()
            body = None
            if form is not None:
                body = urlencode(form)
                sent["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            for line in response.headers.get_all("set-cookie") or []:
                name, _, rest = line.partition("=")
                value = rest.split(";", 1)[0]
                if "max-age=0" in line.lower() or not value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
            return response.status, response, raw
        finally:
            conn.close()

    def csrf(self, path: str) -> str:
        status, _, _ = self.request("GET", path)
        assert status == 200, f"GET {path}: {status}"
        return self.cookies["os_csrf"]

    def new_event(self, name: str, starts_on: str, ends_on: str) -> str:
        """POST /new as the form does; returns the slug (the response set the facilitator cookie `os_f`)."""
        token = self.csrf("/new")
        form = {"csrf": token, "name": name, "starts_on": starts_on, "ends_on": ends_on}
        status, response, body = self.request(
            "POST", "/new", form={**form, "timezone": "Europe/Stockholm", "language": "en"}
        )
        match = re.search(r"/e/([a-z0-9]+)/ready", response.getheader("location") or "")
        assert status == 303 and match and "os_f" in self.cookies, f"POST /new: {status} {body[:300]!r}"
        return match.group(1)

    def join(self, slug: str, name: str) -> str:
        """POST /e/<slug>/join; returns the participant's `os_p` cookie value."""
        token = self.cookies.get("os_csrf") or self.csrf(f"/e/{slug}")
        form = {"csrf": token, "name": name}
        conn_cookies = {"os_csrf": token}
        joiner = Browser(self.host, self.port, self.source)
        joiner.cookies = dict(conn_cookies)
        status, _, body = joiner.request("POST", f"/e/{slug}/join", form=form)
        assert status == 303 and "os_p" in joiner.cookies, f"join: {status} {body[:300]!r}"
        return joiner.cookies["os_p"]

    def page_data(self, slug: str) -> dict[str, Any]:
        status, _, body = self.request("GET", f"/e/{slug}")
        match = re.search(rb'<script type="application/json" id="os-data">(.*?)</script>', body, re.S)
        assert status == 200 and match, f"GET /e/{slug}: {status}"
        data: dict[str, Any] = orjson.loads(match.group(1))
        return data
