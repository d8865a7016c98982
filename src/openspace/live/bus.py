"""The bus: how a committed change travels from the process that wrote it to every process.

It is transport only, apart from fan-out (which sockets of this process get a change: hub.py)
and from ordering (feed.py), as in encode/broadcaster and Litestar's channels: the write path
publishes a :class:`~openspace.broadcast.Committed` change or a :class:`~openspace.broadcast.Notice`
after commit, and each process's subscriber receives it. Delivery may be at most once and, across
processes, late: the subscriber (the feed) numbers what it sees and fills any gap from the store's
change log, so a lost message costs a read, never a change.

:class:`MemoryBus` is the backend for one process: `publish` calls the subscribers at once, so a
change costs no more than when the write path called the hub itself. The Redis backend
(redis_bus.py) carries messages between processes; `open_bus` picks one from a URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from openspace.broadcast import Message

log = logging.getLogger(__name__)

Listener = Callable[[Message], None]
Resync = Callable[[], None]  # messages may have been missed (a reconnect): check the change log


class Bus(Protocol):
    def publish(self, message: Message) -> None:
        """Send a message to every subscriber of every process; never blocks."""

    def hear(self, message: Message) -> None:
        """Hand a message to this process's listeners only (broadcast.Publisher.hear)."""

    def subscribe(self, listener: Listener, resync: Resync | None = None) -> None:
        """Call `listener` for every message from now on, and `resync` after any may have been lost."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class MemoryBus:
    """Delivers in-process, at once, in publishing order. Nothing is ever lost, so no resync."""

    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    def hear(self, message: Message) -> None:
        self.publish(message)  # one process: its listeners are everyone's

    def publish(self, message: Message) -> None:
        for listener in self.listeners:
            try:
                listener(message)
            except Exception:  # one subscriber's bug must not stop the others nor the write path
                log.exception("a bus subscriber failed", extra=about(message))

    def subscribe(self, listener: Listener, resync: Resync | None = None) -> None:
        self.listeners.append(listener)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.listeners.clear()


def about(message: Message) -> dict[str, object]:
    """What a log line may say about a message: its event and seq, never its patch (names, texts)."""
    return {"event_id": message.event_id, "seq": getattr(message, "seq", None)}


def open_bus(url: str) -> Bus:
    """The bus named by `url`: empty or ``memory://`` for one process, ``redis://…`` between processes."""
    if url in ("", "memory://"):
        return MemoryBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from openspace.live.redis_bus import RedisBus  # only a server that uses Redis imports its client

        bus: Bus = RedisBus(url)
        return bus
    raise ValueError(f"unknown bus URL scheme: {url.split(':', 1)[0]!r} (use memory:// or redis://)")
