"""Delivering webhooks: the worker that empties the outbox, and the guard on where it may post.

The write path only writes outbox rows (`openspace.outward.notify`, in the change's own
transaction). This worker runs beside it: it reads due rows, posts each on a thread of its own
pool (a dead or slow endpoint ties up one of those threads, never the event loop, the writer or
the screens) and records the outcome through the writer. A row stays pending until an endpoint
answers 2xx, so a crash or `kill -9` between posting and recording means the same message (the
same `webhook-id`) is posted again after restart: at least once, never lost.

Server-side request forgery: an endpoint's host is resolved and *every* address checked before
each post; loopback, private, link-local, multicast and other non-public addresses are refused
unless the operator allows them (`webhook_allow_private`). The post then goes to the address
that was checked (no second lookup a DNS rebinding could answer differently), with the host's
name for TLS and the Host header, and a redirect is an answer, never followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import ipaddress
import logging
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from openspace.domain import webhooks
from openspace.outward import Delivery, Outward, body_of
from openspace.tasks import honour_cancel, stop_tasks

log = logging.getLogger(__name__)

USER_AGENT = "openspace-webhooks/1"
MAX_ANSWER = 64 * 1024  # read and dropped: enough to let the connection end cleanly
IDLE_SECONDS = 60.0  # the longest sleep with nothing due: other workers' commits do not wake this one
BUSY_SECONDS = 0.5  # due, but claimed by another worker's transaction that has not committed yet


class Refused(Exception):
    """The endpoint's address is not one this server may post to."""


def public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(url: str, allow_private: bool) -> tuple[str, int, list[str]]:
    """The host, port and every address the host has; Refused if any one is not allowed (a name
    with one public and one private address could be steered to the private one)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise Refused(f"cannot resolve {host}: {error.strerror}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Refused(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            if not public(address):
                raise Refused(f"{host} resolves to a non-public address ({address})")
    return host, port, addresses


def check(url: str, allow_private: bool) -> None:
    """For the form: refuse an endpoint that would be refused at delivery."""
    resolve(url, allow_private)


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the host's name for SNI and certificate checks."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class _PinnedPlain(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, body: bytes, headers: dict[str, str], allow_private: bool, timeout: float) -> int:
    """POST once; the status code, or an OSError / Refused. Runs on a delivery thread."""
    host, port, addresses = resolve(url, allow_private)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = _Pinned(host, port, addresses[0], timeout, ssl.create_default_context())
    else:
        connection = _PinnedPlain(host, port, addresses[0], timeout)
    try:
        connection.request("POST", path, body=body, headers={**headers, "user-agent": USER_AGENT})
        answer = connection.getresponse()
        answer.read(MAX_ANSWER)
        return int(answer.status)
    finally:
        connection.close()


@dataclass(frozen=True)
class Policy:
    allow_private: bool = False
    timeout: float = 10.0
    first_retry: float = 5.0  # seconds; doubles on each failure
    max_retry: float = 3600.0
    attempts: int = 8  # then the row is marked failed, and shown so in the delivery log
    concurrency: int = 4

    @property
    def lease(self) -> float:
        """How long a claimed message is this worker's alone: longer than a post can take (a
        connect and a read, each within `timeout`), so no other worker posts it meanwhile, yet
        short, since a worker killed mid-post leaves the message to others only after it."""
        return 2 * self.timeout + 5.0


class DeliveryWorker:
    """Empties the outbox: woken after every commit, and by the earliest retry that falls due."""

    def __init__(self, outward: Outward, policy: Policy) -> None:
        self.outward = outward
        self.policy = policy
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._pool = ThreadPoolExecutor(policy.concurrency, thread_name_prefix="openspace-webhooks")

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="openspace-webhooks")

    async def stop(self) -> None:
        """Cancel for sure (tasks.py): the loop's reads wait in psycopg's pool under
        `wait_for`, which on Python 3.11 can swallow a cancel."""
        await stop_tasks([t for t in (self._task, *self._inflight.values()) if t is not None])
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _loop(self) -> None:
        while True:
            honour_cancel()
            self._wake.clear()
            try:
                wait = await self._start_due()
            except Exception:  # a failed read must not end deliveries for good
                log.exception("webhook worker")
                wait = self.policy.first_retry
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _start_due(self) -> float:
        """Start posting what is due, as far as threads are free; the seconds until it is worth
        looking again (woken sooner by a commit or a finished delivery).

        Looking is a read, since most commits queue nothing; only when something is due does the
        worker claim it, through the writer, so that on several workers each message is posted by
        one of them (store/outbound.py's claim and its lease)."""
        free = self.policy.concurrency - len(self._inflight)
        if free <= 0:
            return IDLE_SECONDS
        nxt = await self.outward.next_due()
        if nxt is None or nxt > time.time():
            return IDLE_SECONDS if nxt is None else min(IDLE_SECONDS, nxt - time.time())
        due = [d for d in await self.outward.claim(free, self.policy.lease) if d.id not in self._inflight]
        for delivery in due:
            task = asyncio.create_task(self._deliver(delivery))
            self._inflight[delivery.id] = task
            task.add_done_callback(functools.partial(self._done, delivery.id))
        return 0.0 if due else BUSY_SECONDS  # none: another worker's claim holds them, for now

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)
        self._wake.set()

    async def _deliver(self, delivery: Delivery) -> None:
        policy = self.policy
        body = body_of(delivery)
        headers = webhooks.headers(delivery.secret, delivery.id, int(time.time()), body)
        status: int | None = None
        error = ""
        loop = asyncio.get_running_loop()
        try:
            status = await loop.run_in_executor(
                self._pool, post, delivery.url, body, headers, policy.allow_private, policy.timeout
            )
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except Refused as refused:
            error = f"refused: {refused}"
        except (OSError, http.client.HTTPException) as failure:
            error = f"{type(failure).__name__}: {failure}"[:300]
        delivered = not error
        tries = delivery.attempts + 1
        give_up = not delivered and tries >= policy.attempts
        next_at = time.time() + webhooks.backoff(tries, policy.first_retry, policy.max_retry)
        try:
            await self.outward.record(
                delivery.id, delivered=delivered, give_up=give_up, status=status, error=error, next_at=next_at
            )
        except Exception:  # not recorded: the row stays pending and is sent again (at least once)
            log.exception("webhook delivery %s could not be recorded", delivery.id)
