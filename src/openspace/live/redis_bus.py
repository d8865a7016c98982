"""The Redis backend of the bus: committed changes between server processes over Redis pub/sub.

redis-py's own asyncio client is used directly (encode/broadcaster breaks with redis-py 8).
Pub/sub delivers at most once: a subscriber that restarts, loses its connection or falls past
Redis's output buffer limit misses messages without being told. That is safe here because the
feed numbers every change and fills holes from the change log, and because after every
(re)subscription the bus asks the feed to `resync` with the store. A report's updates and
presence (cowriting.py) travel the same channel; a lost one shows as a hole in the report's
`rseq`, and after a resubscription every report's screens are told to catch up (`doc.resync`).
The subscriber's socket has no read timeout (an idle event is not an error); a PING every
`HEALTH_SECONDS` proves the link, and silence for three of them drops the connection and starts
over, so a cut cable is noticed even without a TCP reset.

A process's own messages reach its listeners at once, as with the memory bus, and are skipped
when they come back from Redis (each message names its origin).

Stopping does not trust a single cancel: on Python 3.11 redis-py's writes can swallow one
(tasks.py says how, and why that hung the Redis-restart test), so each loop honours a
swallowed cancel and `stop()` cancels until its tasks have ended.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import time
from typing import Any

import orjson
import redis.asyncio as redis

from openspace import metrics
from openspace.broadcast import Committed, DocPresence, DocUpdate, Message, Notice
from openspace.domain.model import Change
from openspace.live.bus import Listener, Resync, about
from openspace.tasks import honour_cancel, stop_tasks

log = logging.getLogger(__name__)

CHANNEL = "openspace:bus"
HEALTH_SECONDS = 2.0  # a PING this often; three without an answer and the connection is dropped
RETRY_SECONDS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)  # waits between reconnection attempts, then the last again
MAX_OUTBOX = 100_000  # messages waiting to be sent; past this the oldest go (the feeds refill from the log)
PACKED = 256 * 1024  # bytes of messages published as one (`pack`)


def encode(origin: str, message: Message) -> bytes:
    if isinstance(message, Committed):
        body: dict[str, Any] = {
            "o": origin,
            "e": message.event_id,
            "s": message.seq,
            "k": message.change.kind,
            "p": message.patch,
            "at": message.at,
        }
    elif isinstance(message, DocUpdate):
        u = base64.b64encode(message.update).decode()
        body = {"o": origin, "e": message.event_id, "t": message.topic_id, "r": message.rseq, "u": u, "b": message.by}
    elif isinstance(message, DocPresence):
        body = {"o": origin, "e": message.event_id, "t": message.topic_id, "w": message.who, "f": message.field}
        body["v"] = message.viewer
    else:
        body = {"o": origin, "e": message.event_id, "n": message.what, "w": message.subject}
    return orjson.dumps(body)


def decode(raw: bytes) -> tuple[str, Message]:
    return from_body(orjson.loads(raw))


def pack(raws: list[bytes]) -> list[bytes]:
    """Messages as few Redis messages, each a JSON array of them up to `PACKED` bytes: a process
    publishes everything waiting in one go, and every subscriber, itself too, read each message
    alone, a tenth of the event loop at 2,000 changes/s (issue #17). All from one process, so
    the first bytes of a pack still tell whose it is (`is_own`)."""
    packs: list[bytes] = []
    start = size = 0
    for i, raw in enumerate(raws):
        if i > start and size + len(raw) > PACKED:
            packs.append(b"[" + b",".join(raws[start:i]) + b"]")
            start, size = i, 0
        size += len(raw) + 1
    if raws:
        packs.append(b"[" + b",".join(raws[start:]) + b"]")
    return packs


def unpack(data: bytes) -> list[tuple[str, Message]]:
    """A pack's messages in the order published (a single message, as older processes sent it)."""
    body = orjson.loads(data)
    return [from_body(part) for part in body] if isinstance(body, list) else [from_body(body)]


def from_body(body: dict[str, Any]) -> tuple[str, Message]:
    if "n" in body:
        return body["o"], Notice(body["e"], body["n"], body.get("w", ""))
    if "u" in body:
        return body["o"], DocUpdate(body["e"], body["t"], body["r"], base64.b64decode(body["u"]), body["b"])
    if "w" in body:
        return body["o"], DocPresence(body["e"], body["t"], body["w"], body["f"], body["v"])
    patch = body["p"]
    return body["o"], Committed(body["e"], body["s"], Change.from_patch(body["k"], patch), patch, body.get("at", 0.0))


class RedisBus:
    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self.origin = secrets.token_hex(8)  # this process, to skip its own messages coming back
        # encode() writes the origin first and `pack` puts it first in the pack: our own are known
        # by their first bytes, and skipped without parsing (with two workers, half of all heard)
        self._own = b'[{"o":"' + self.origin.encode() + b'"'
        self.listeners: list[Listener] = []
        self.resyncs: list[Resync] = []
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.subscribed = asyncio.Event()  # readiness: set while the subscription stands
        self.received = 0
        self.reconnects = 0
        self.sending = False  # a pipeline is on its way to Redis
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def ready(self) -> bool:
        return self.subscribed.is_set()

    def publish(self, message: Message) -> None:
        self._deliver(message)
        if self.outbox.qsize() >= MAX_OUTBOX:
            self.outbox.get_nowait()
        self.outbox.put_nowait(encode(self.origin, message))

    def hear(self, message: Message) -> None:
        self._deliver(message)

    def is_own(self, raw: bytes) -> bool:
        """Published by this process (its listeners had it at once), told without parsing it."""
        return raw.startswith(self._own)

    def subscribe(self, listener: Listener, resync: Resync | None = None) -> None:
        self.listeners.append(listener)
        if resync is not None:
            self.resyncs.append(resync)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="openspace-bus-listen"),
            asyncio.create_task(self._send(), name="openspace-bus-send"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await stop_tasks(tasks)
        self.listeners.clear()
        self.resyncs.clear()

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait, bounded, until what was published has reached Redis: a short-lived command (such as
        `openspace retention`) must not stop with its notices still queued. Whether it did."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.outbox.qsize() or self.sending:
                    await asyncio.sleep(0.01)
                return True
        return False

    def _deliver(self, message: Message) -> None:
        for listener in self.listeners:
            try:
                listener(message)
            except Exception:
                log.exception("a bus subscriber failed", extra=about(message))

    async def _send(self) -> None:
        """One publishing connection; whatever waits goes out in one pipeline."""
        attempt = 0
        while True:
            client = redis.Redis.from_url(self.url, socket_timeout=10, socket_connect_timeout=5)
            try:
                while True:
                    honour_cancel()
                    waiting = [await self.outbox.get()]
                    self.sending = True
                    while not self.outbox.empty() and len(waiting) < 1000:
                        waiting.append(self.outbox.get_nowait())
                    async with client.pipeline(transaction=False) as pipe:
                        for packed in pack(waiting):
                            pipe.publish(self.channel, packed)
                        await pipe.execute()
                    self.sending = False
                    attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:  # those messages are lost; the other processes' feeds refill them
                self.sending = False
                log.warning("publishing on the bus failed (%s); reconnecting", error)
                honour_cancel()
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _listen(self) -> None:
        attempt = 0
        while True:
            client = redis.Redis.from_url(self.url, socket_timeout=None, socket_connect_timeout=5)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                attempt = 0
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("the bus subscription dropped (%s); reconnecting", error)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await client.aclose()
            self.reconnects += 1
            honour_cancel()
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            attempt += 1

    async def _read(self, pubsub: Any) -> None:
        heard = pinged = time.monotonic()
        while True:
            honour_cancel()
            now = time.monotonic()
            if now - heard > 3 * HEALTH_SECONDS:
                raise ConnectionError("no answer from Redis")
            if now - pinged >= HEALTH_SECONDS:
                await pubsub.ping()
                pinged = now
            message = await pubsub.get_message(timeout=HEALTH_SECONDS / 2)
            if message is None:
                continue
            heard = time.monotonic()
            kind = message["type"]
            if kind == "subscribe":
                self.subscribed.set()
                for resync in self.resyncs:  # anything published while we were away is in the log
                    resync()
            elif kind == "message" and not self.is_own(message["data"]):
                for origin, decoded in unpack(message["data"]):
                    if origin == self.origin:
                        continue
                    self.received += 1
                    if isinstance(decoded, Committed) and decoded.at:
                        metrics.TALLY.observe(metrics.BUS_LAG, max(0.0, time.time() - decoded.at))
                    self._deliver(decoded)
