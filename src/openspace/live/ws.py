"""The websocket endpoint: resume, catch up, go live, and take actions.

A client connects to `/e/<slug>/ws?since=N` with the last sequence number it applied. It gets the
changes after N, in order (catchup.py: from the frames just published, or the change log), or a
snapshot flagged with its reason when N is missing, malformed, in the future, or older than the
log keeps. See docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected, WebSocketState

from openspace import i18n, logs, metrics
from openspace.domain.errors import N_, DomainError, Invalid, SlowDown
from openspace.domain.projection import Audience
from openspace.domain.rules import Actor
from openspace.limits import address
from openspace.live import cowrite
from openspace.live.catchup import catch_up
from openspace.live.frames import EXTENSION, text_frame
from openspace.live.hub import Client
from openspace.rooms import Viewer
from openspace.runtime import Runtime, runtime_of
from openspace.security import LANG_COOKIE, SECURITY_HEADERS, origin_ok

log = logging.getLogger(__name__)

ACTIONS_PER_SECOND = 10  # a person taps far slower; a script floods faster
ACTION_BURST = 30  # an outbox resent after reconnecting may hold a few dozen at once
CLOSE_POLICY = 1008
CLOSE_UNSUPPORTED = 1003
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
MAX_BAD_MESSAGES = 10
MAX_SLOW_DOWNS = 200  # within SLOW_WINDOW seconds: a flood, not an outbox being resent
SLOW_WINDOW = 10.0
FINISH_SECONDS = 5.0
DENIAL_HEADERS = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}


async def endpoint(ws: WebSocket) -> None:
    runtime = runtime_of(ws)
    settings = runtime.settings
    if not origin_ok(ws.headers, ws.url.scheme, settings.public_url):
        await ws.send_denial_response(PlainTextResponse("Forbidden origin", 403, headers=DENIAL_HEADERS))
        return
    event = await runtime.event(ws.path_params["slug"])  # from memory: no read on the upgrade
    logs.EVENT.set(ws.path_params["slug"])
    if event is None:
        await ws.send_denial_response(PlainTextResponse("No such event", 404, headers=DENIAL_HEADERS))
        return
    actor = await runtime.actor(ws, event)
    i18n.set_language(i18n.choose_language(ws.cookies.get(LANG_COOKIE), None, event.language))
    audience: Audience = "facilitator" if actor.facilitator else "public"
    counted = await runtime.limits.open_socket(ws, actor)  # per person and per address (issue #21)
    if counted is None:
        await ws.send_denial_response(PlainTextResponse("Too many connections", 429, headers=DENIAL_HEADERS))
        return
    try:
        await ws.accept()
        await serve(runtime, ws, event.id, event.slug, actor, audience)
    finally:
        await runtime.limits.close_socket(counted)


async def serve(runtime: Runtime, ws: WebSocket, event_id: str, slug: str, actor: Actor, audience: Audience) -> None:
    """One accepted socket: catch up, go live, read its messages until it goes."""

    async def close(code: int) -> None:
        if ws.application_state == WebSocketState.CONNECTED:
            await ws.close(code)

    frames = ws.scope.get("extensions", {}).get(EXTENSION)  # pre-framed writes, under our uvicorn protocol
    client = Client(audience, ws.send_text, close, frames["write"] if frames else None, address(ws))
    connection = Connection(runtime, ws, client, event_id, actor)
    runtime.hub.register(event_id, client)
    connections = metrics.CONNECTIONS.labels(audience)
    connections.inc()
    try:
        board = await runtime.service.board(event_id)
        drain = frames["drain"] if frames else None
        await client.go_live(await catch_up(runtime, ws, board, audience, client.write, drain))
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                await ws.close(CLOSE_UNSUPPORTED)
                break
            if not await connection.read(text):
                await ws.close(CLOSE_POLICY)
                break
    except (WebSocketDisconnect, WebSocketDisconnected, ConnectionError):
        pass  # gone, or stopped reading during its catch-up (and cut off): it resumes when back
    except TimeoutError:  # its catch-up took longer than catchup_timeout: come back later
        await close(CLOSE_TRY_AGAIN)
    except Exception:
        log.exception("websocket of event %s failed", slug)
        await close(CLOSE_INTERNAL)
    finally:
        runtime.hub.unregister(event_id, client)
        connections.dec()
        await connection.finish()


class TokenBucket:
    """Actions per connection: `rate` a second on average, up to `burst` at once."""

    __slots__ = ("burst", "rate", "stamp", "tokens")  # two per socket, thousands of sockets

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


Action = tuple[str, str, dict[str, Any]]  # id, name, args


class Connection:
    """One client's messages. Acks and pings are answered as they are read; actions run in order
    on a task of their own. An action waits for the writer (and so, under load, for a fan-out),
    and its acks must not wait behind it: a busy facilitator would fall `max_lag` changes behind
    on paper and be closed for lagging although their screen was up to date.

    Most sockets are phones that only listen, thousands at a time, so what actions need (their
    queue and task, the slow-down record) is made on the first action: an idle connection costs
    no more than before.
    """

    __slots__ = (
        "actor",
        "bad",
        "bucket",
        "client",
        "doc_bucket",
        "event_id",
        "queue",
        "runtime",
        "slow",
        "viewers",
        "worker",
        "ws",
    )

    def __init__(self, runtime: Runtime, ws: WebSocket, client: Client, event_id: str, actor: Actor) -> None:
        # who is fixed at connect; a name changed since is read by the service at each action,
        # and a new facilitator link closes facilitator connections (4001) to sign in again
        self.runtime, self.ws, self.client, self.event_id, self.actor = runtime, ws, client, event_id, actor
        self.bucket = TokenBucket(ACTIONS_PER_SECOND, ACTION_BURST)
        self.queue: asyncio.Queue[Action | Callable[[], Awaitable[None]] | None] | None = None
        self.worker: asyncio.Task[None] | None = None
        self.bad = 0
        self.slow: deque[float] | None = None  # when the recent slow-downs were sent
        self.viewers: dict[str, Viewer] | None = None  # the reports this socket follows (live/cowrite.py)
        self.doc_bucket: TokenBucket | None = None  # made at the first report edit: most sockets never write one

    def may_push(self) -> bool:
        """Within this socket's rate of report edits (live/cowrite.py)."""
        if self.doc_bucket is None:
            self.doc_bucket = TokenBucket(cowrite.PUSHES_PER_SECOND, cowrite.PUSH_BURST)
        return self.doc_bucket.take()

    async def send(self, text: str) -> None:
        """A reply, as a pre-built frame when the server offers that (frames.py), like the fan-out."""
        if self.client.write is None:
            await self.ws.send_text(text)
        elif not self.client.write(text_frame(text)):
            raise ConnectionError("the socket is closing")

    async def finish(self) -> None:
        """Let actions already read be answered (their changes saved), for a few seconds at most."""
        cowrite.leave_all(self)
        if self.worker is not None and self.queue is not None:
            self.queue.put_nowait(None)
            await asyncio.wait({self.worker}, timeout=FINISH_SECONDS)
            self.worker.cancel()

    async def read(self, text: str) -> bool:
        """Take one client message; False when the connection should be closed for abuse."""
        answer = await self.take(text)
        self.bad += answer is False
        if answer is None:
            now = time.monotonic()
            if self.slow is None:
                self.slow = deque()
            self.slow.append(now)
            while self.slow[0] < now - SLOW_WINDOW:
                self.slow.popleft()
        return self.bad <= MAX_BAD_MESSAGES and (self.slow is None or len(self.slow) <= MAX_SLOW_DOWNS)

    async def take(self, text: str) -> bool | None:
        """True when fine, False when malformed, None when over the rate."""
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            await self.refuse(None, Invalid(N_("The server could not read that message.")))
            return False
        kind = message.get("type")
        if kind == "ack":
            seq = message.get("seq")
            if isinstance(seq, int):
                self.client.ack(seq)
            return True
        if kind == "ping":
            await self.send('{"type":"pong"}')
            return True
        if isinstance(kind, str) and kind.startswith("doc."):
            return await cowrite.take(self, message)
        action_id, name, args = message.get("id"), message.get("name"), message.get("args", {})
        if kind != "action" or not isinstance(action_id, str) or not 8 <= len(action_id) <= 64:
            await self.refuse(None, Invalid(N_("The server could not read that message.")))
            return False
        if not isinstance(name, str) or not isinstance(args, dict):
            await self.refuse(action_id, Invalid(N_("The server could not read that message.")))
            return False
        if any(not isinstance(v, str | int | bool | None) for v in args.values()):
            await self.refuse(action_id, Invalid(N_("The server could not read that message.")))
            return False
        try:
            if not self.bucket.take():
                metrics.refused("socket_actions")
                raise SlowDown(N_("Too many actions at once. Please slow down."))
            await self.runtime.limits.action(
                self.ws, self.event_id, self.actor, name
            )  # shared with forms, other sockets
        except SlowDown as refusal:
            await self.refuse(action_id, refusal)
            return None
        self.enqueue((action_id, name, args))
        return True

    def enqueue(self, action: Action | Callable[[], Awaitable[None]]) -> None:
        """An action, or a report's update (live/cowrite.py), to run in order on the worker."""
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.worker = asyncio.create_task(self.perform(self.queue), name="openspace-actions")
        self.queue.put_nowait(action)

    async def perform(self, queue: asyncio.Queue[Action | Callable[[], Awaitable[None]] | None]) -> None:
        while (action := await queue.get()) is not None:
            try:
                await (action() if callable(action) else self.answer(*action))
            except (WebSocketDisconnect, WebSocketDisconnected, OSError):
                pass  # gone before its answer: the change is saved, and the outbox asks again
            except Exception:
                log.exception("%s on event %s failed", "an update" if callable(action) else action[1], self.event_id)

    async def answer(self, action_id: str, name: str, args: dict[str, Any]) -> None:
        try:
            result = await self.runtime.service.execute(self.event_id, self.actor, name, args, action_id)
        except DomainError as error:
            await self.refuse(action_id, error)
            return
        result = {k: v for k, v in result.items() if k != "withdrawn"}  # who had marked it is private (#15)
        await self.send(orjson.dumps({"type": "result", "id": action_id, "ok": True, "result": result}).decode())

    async def refuse(self, action_id: str | None, error: DomainError) -> None:
        reply: dict[str, Any] = {
            "type": "result" if action_id else "error",
            "ok": False,
            "error": error.to_dict(i18n.gettext),
        }
        if action_id:
            reply["id"] = action_id
        await self.send(orjson.dumps(reply).decode())


ROUTES = [WebSocketRoute("/e/{slug}/ws", endpoint, name="live")]
