"""What the server itself bounds before the app sees a request (issue #21, cases 12 and 13).

- **Header timeout.** uvicorn closes an idle keep-alive connection, but a client that sends a
  request's headers one byte at a time (slowloris) is held for ever: 300 such connections were
  still open after 60 s. `HeaderTimeout` gives every request `header_timeout` seconds from its
  first byte (or from the connection, or the previous response) to the end of its headers.
- **Allowed hosts.** A page on another site can make a browser resolve its own name to
  127.0.0.1 (DNS rebinding) and then talk to a server on the laptop as if same-origin: Host and
  Origin both say the attacker's name. Only names the server is known by are answered, on
  HTTP and on websocket upgrades alike (Starlette's TrustedHostMiddleware checks both).
- **Bytes in.** A client that sends without end (a loop of 48 MB photo posts, refused or not)
  costs the server the reading: in the abuse bench 285 MB/s over loopback held every fan-out to
  2,000 phones 13 times as long. Each address may send `limit_bytes_address`; past it, its
  connections are read only as fast as that budget refills, and TCP holds the sender back.
- **Penalised addresses wait.** An address refused at the door (`PenaltyBox` below) has what
  it sends next read only when its penalty ends, or after `TARPIT` seconds, whichever is first:
  a loop of refused requests then gets a few answers a second instead of 1,500.
- **The door.** An address refused `limit_refusals_address` times lately is answered a bare 429
  (`PenaltyBox`) before anything is parsed, until its budget refills.
- **Connections** are bounded by uvicorn's `limit_concurrency` (`max_connections`): beyond it new
  requests get 503 rather than memory.
- **Live pages take turns** (`Turns`, issue #20). After a change every open page asks for its
  regions at once; a few asks start each time the event loop comes round, so an action never
  queues behind a hall's asks; past `WAITING` waiting asks, 503.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from openspace import i18n, links, metrics
from openspace.domain.errors import BUSY
from openspace.limits import TOO_MANY_REFUSALS, Buckets
from openspace.security import LANG_COOKIE
from openspace.settings import Settings

SMALL = 256 * 1024  # a request (headers and body) this large is never held back
TARPIT = 2.0  # seconds at most that a penalised address's request waits before it is read
PER_TURN = 8  # live pages' asks started each time the event loop comes round (`Turns`)
WAITING = 4096  # asks that may wait for their turn; past it a live page is told to ask again later


class HeldFlow(FlowControl):
    """uvicorn's flow control, which resumes reading as soon as the app has taken a chunk of
    the body; while the connection is `held` (its address owes bytes) it waits instead."""

    held = False

    def resume_reading(self) -> None:
        if not self.held:
            super().resume_reading()


class HeaderTimeout(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose headers do not arrive in time."""

    header_timeout: float = 10.0
    ingress: Buckets | None = None  # bytes by client address, shared by this process's connections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._throttle: asyncio.TimerHandle | None = None
        self._request_bytes = 0  # received since the last response
        self._waiting: bytes | None = None  # held back while its address is penalised
        self._tarpit: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._waiting is not None:  # arrived before the pause took hold: after what waits
            self._waiting += data
            return
        wait = self._penalty() if self._request_bytes == 0 else 0.0  # only where a request begins
        if wait > 0:
            # an address refused at the door (PenaltyBox below) was answered a 429 at once, and
            # a loop of one got 1,500 a second, each a request through uvicorn and the app: now
            # what it sends waits (at most TARPIT seconds, within the header and keep-alive
            # timeouts) before it is read, and then meets the door if the penalty still holds
            self._waiting = data
            self.transport.pause_reading()
            self._tarpit = self.loop.call_later(min(wait, TARPIT), self._let_in)
            return
        self._read(data)

    def _penalty(self) -> float:
        runtime = getattr(getattr(self.app, "state", None), "runtime", None)
        if runtime is None or self.client is None:
            return 0.0
        return float(runtime.limits.penalty(self.client[0]))

    def _let_in(self) -> None:
        self._tarpit = None
        data, self._waiting = self._waiting or b"", None
        if self.transport.is_closing():
            return
        if not self.flow.read_paused:  # uvicorn's own flow control may want it paused still
            self.transport.resume_reading()
        self._read(data)

    def _read(self, data: bytes) -> None:
        self._request_bytes += len(data)
        super().data_received(data)
        if self.ingress is None or self.client is None or self.transport.is_closing():
            return
        wait = self.ingress.spend(self.client[0], len(data))
        # only a connection sending a large body waits: the same address's pages, forms and
        # idle keep-alive connections are read at once (paused, they would time out and close)
        if wait > 0 and self._request_bytes > SMALL and self._throttle is None:
            self.flow.held = True
            self.flow.pause_reading()
            self._throttle = self.loop.call_later(wait, self._read_again)

    def _read_again(self) -> None:
        self._throttle = None
        self.flow.held = False
        if not self.transport.is_closing():
            self.flow.resume_reading()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow: HeldFlow = HeldFlow(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self._request_bytes = 0
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        for timer in (self._throttle, self._tarpit):
            if timer is not None:
                timer.cancel()
        self._throttle = self._tarpit = None
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def http_protocol(settings: Settings) -> type[HeaderTimeout]:
    """The protocol class with this server's header timeout and byte budget (uvicorn makes one
    instance per connection; the budget is the class's, so every connection of an address shares it)."""
    spec = settings.limit_bytes_address.strip()
    ingress = Buckets(spec, name="bytes_address") if spec and spec != "0" else None
    fields = {"header_timeout": float(settings.header_timeout), "ingress": ingress}
    return type("HeaderTimeoutProtocol", (HeaderTimeout,), fields)


def allowed_hosts(settings: Settings) -> list[str]:
    """`allowed_hosts` when set; else the names this server is reached by: its public URL's host,
    the LAN address (what the links carry), the machine's name, the listening address, localhost."""
    if settings.allowed_hosts.strip():
        return [h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()]
    names = {"localhost", "127.0.0.1"}
    if settings.public_url:
        names.add((urlsplit(settings.public_url).hostname or "").lower())
    if settings.host not in ("0.0.0.0", "::", ""):
        names.add(settings.host.lower())
    else:
        names.add(links.lan_address() or "127.0.0.1")
        hostname = socket.gethostname().lower()
        names |= {hostname, f"{hostname}.local"}
    return sorted(n for n in names if n)


class PenaltyBox:
    """ASGI middleware: an address whose requests were refused `limit_refusals_address` times
    lately is answered 429 at the door, before any parsing, page or database work, until its
    refusal budget refills. A flood of refused requests (5,446 refused `/new` posts in 10 s in the
    abuse bench) then costs the server almost nothing. Counted in each process."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and runtime is not None and client:
            if runtime.limits.penalised(client[0]):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1013})
                    return
                await refuse_at_door(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def refuse_at_door(scope: Scope, receive: Receive, send: Send) -> None:
    """A short 429 in the person's language (their cookie, else their browser's), nothing else read."""
    await short_answer(scope, receive, send, TOO_MANY_REFUSALS, 429, "10")


async def short_answer(scope: Scope, receive: Receive, send: Send, message: str, status: int, wait: str) -> None:
    """`message` translated, alone, with the status and how many seconds to wait before asking again."""
    request = HTTPConnection(scope)
    language = i18n.choose_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"), "")
    with i18n.speaking(language):
        text = i18n.gettext(message)
    await PlainTextResponse(text, status, headers={"retry-after": wait})(scope, receive, send)


class Turns:
    """ASGI middleware: live pages' asks (`X-Regions`, web/regions.py) take turns with everything else.

    After a change every open page asks for its regions within `PACE_MS` (static/js/regions.js).
    Each ask is a few tenths of a millisecond, and it runs to its end without waiting on anything,
    so the 2,000 asks of a hall that are ready together ran back to back: the event loop was held
    300-580 ms at a time, and the facilitator's next action waited for it (p99 530-640 ms,
    bench/hall.py). Here at most `PER_TURN` asks start each time the loop comes round; the others
    wait, parked, in the order they came, while the loop reads sockets, fires timers and runs
    whatever else is ready. Past `WAITING` waiting asks, a page is told to ask again later.
    Counted in each process."""

    def __init__(self, app: ASGIApp, per_turn: int = PER_TURN, waiting: int = WAITING) -> None:
        self.app, self.per_turn, self.limit = app, per_turn, waiting
        self.started = 0  # asks started since the loop last came round
        self.queue: deque[asyncio.Future[None]] = deque()
        self.ticking = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(name == b"x-regions" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        if self.started >= self.per_turn or self.queue:
            if len(self.queue) >= self.limit:
                await short_answer(scope, receive, send, BUSY, 503, "2")  # regions.js asks again later
                return
            turn = asyncio.get_running_loop().create_future()
            self.queue.append(turn)
            metrics.ASKS_WAITING.inc()
            self.tick()
            await turn  # counted as started when handed over; one given up is passed over
        else:
            self.started += 1
            self.tick()
        await self.app(scope, receive, send)

    def tick(self) -> None:
        """Hand on turns once everything ready now has run (a callback scheduled now runs then)."""
        if not self.ticking:
            self.ticking = True
            asyncio.get_running_loop().call_soon(self.come_round)

    def come_round(self) -> None:
        self.ticking, self.started = False, 0
        while self.queue and self.started < self.per_turn:
            turn = self.queue.popleft()
            metrics.ASKS_WAITING.dec()
            if not turn.done():
                self.started += 1
                turn.set_result(None)
        if self.queue or self.started:
            self.tick()
