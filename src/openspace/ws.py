"""The websocket endpoint: resume, catch up, go live, and take actions.

A client connects to `/e/<slug>/ws?since=N` with the last sequence number it applied. It gets the
changes after N from the change log, in order, or a snapshot flagged with its reason when N is
missing, malformed, in the future, or older than the log keeps. See docs/protocol.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import orjson
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from . import i18n
from .errors import N_, DomainError, Invalid, SlowDown
from .hub import Client
from .model import Board
from .projection import Audience, change_frame, snapshot_frame
from .rules import Actor
from .runtime import Runtime, runtime_of
from .security import LANG_COOKIE, SECURITY_HEADERS, origin_ok

log = logging.getLogger(__name__)

ACTIONS_PER_SECOND = 10  # a person taps far slower; a script floods faster
ACTION_BURST = 30  # an outbox resent after reconnecting may hold a few dozen at once
CLOSE_POLICY = 1008
CLOSE_UNSUPPORTED = 1003
CLOSE_INTERNAL = 1011
MAX_BAD_MESSAGES = 10
MAX_SLOW_DOWNS = 200  # a flood, not an outbox being resent
DENIAL_HEADERS = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}


def parse_since(raw: str | None, head: int, epoch: str | None, expected_epoch: str) -> int | None:
    """A usable resume point, or None (then the client gets a snapshot).

    The epoch names the database and the event the number belongs to: a number from another
    event, or from before a restore, must not be taken as a position in this log.
    """
    if raw is None or not raw.isdigit() or len(raw) > 18 or epoch != expected_epoch:
        return None
    since = int(raw)
    return since if since <= head else None


async def catch_up(runtime: Runtime, ws: WebSocket, board: Board, audience: Audience) -> int:
    """Send what the client missed up to `board.seq`; return the last sequence number sent."""
    raw_since = ws.query_params.get("since")
    expected = runtime.epoch(board.event.id)
    since = parse_since(raw_since, board.seq, ws.query_params.get("epoch"), expected)
    if since is not None and since < board.seq:
        changes = await runtime.store.changes_since(board.event.id, since, board.seq)
        if changes is not None:
            for seq, change in changes:
                await ws.send_text(change_frame(seq, change, audience))
            return board.seq
    if since is None or since < board.seq:
        reason = "initial" if raw_since is None else ("invalid" if since is None else "gap")
        await ws.send_text(snapshot_frame(board, audience, reason, expected))
    return board.seq


async def endpoint(ws: WebSocket) -> None:
    runtime = runtime_of(ws)
    settings = runtime.settings
    if not origin_ok(ws.headers, ws.url.scheme, settings.public_url):
        await ws.send_denial_response(PlainTextResponse("Forbidden origin", 403, headers=DENIAL_HEADERS))
        return
    event = await runtime.service.event(ws.path_params["slug"])
    if event is None:
        await ws.send_denial_response(PlainTextResponse("No such event", 404, headers=DENIAL_HEADERS))
        return
    actor = await runtime.actor(ws, event)
    i18n.set_language(i18n.choose_language(ws.cookies.get(LANG_COOKIE), None, event.language))
    audience: Audience = "facilitator" if actor.facilitator else "public"
    await ws.accept()

    async def close(code: int) -> None:
        if ws.application_state == WebSocketState.CONNECTED:
            await ws.close(code)

    client = Client(audience, ws.send_text, close)
    bucket = TokenBucket(ACTIONS_PER_SECOND, ACTION_BURST)
    session = Session(actor)
    runtime.hub.register(event.id, client)
    try:
        board = await runtime.service.board(event.id)
        await client.go_live(await catch_up(runtime, ws, board, audience))
        bad = slow = 0
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                await ws.close(CLOSE_UNSUPPORTED)
                break
            answer = await handle(runtime, ws, client, event.id, session, text, bucket)
            bad += answer is False
            slow += answer is None
            if bad > MAX_BAD_MESSAGES or slow > MAX_SLOW_DOWNS:
                await ws.close(CLOSE_POLICY)
                break
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("websocket of event %s failed", event.slug)
        await close(CLOSE_INTERNAL)
    finally:
        runtime.hub.unregister(event.id, client)


class TokenBucket:
    """Actions per connection: `rate` a second on average, up to `burst` at once."""

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


class Session:
    """Who is on this connection: fixed at connect, renamed by their own rename. A new facilitator
    link closes facilitator connections (4001), which then sign in again from their cookies."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor


async def handle(
    runtime: Runtime, ws: WebSocket, client: Client, event_id: str, session: Session, text: str, bucket: TokenBucket
) -> bool | None:
    """Answer one client message: True when fine, False when malformed, None when over the rate."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        await send_error(ws, None, Invalid(N_("The server could not read that message.")))
        return False
    if not isinstance(message, dict):
        await send_error(ws, None, Invalid(N_("The server could not read that message.")))
        return False
    kind = message.get("type")
    if kind == "ack":
        seq = message.get("seq")
        if isinstance(seq, int):
            client.ack(seq)
        return True
    if kind == "ping":
        await ws.send_text('{"type":"pong"}')
        return True
    if kind != "action":
        await send_error(ws, message.get("id"), Invalid(N_("The server could not read that message.")))
        return False
    if not bucket.take():
        await send_error(ws, message.get("id"), SlowDown(N_("Too many actions at once. Please slow down.")))
        return None
    action_id, name, args = message.get("id"), message.get("name"), message.get("args", {})
    if not isinstance(action_id, str) or not 8 <= len(action_id) <= 64 or not isinstance(name, str):
        await send_error(ws, None, Invalid(N_("The server could not read that message.")))
        return False
    if not isinstance(args, dict) or any(not isinstance(v, str | int | bool | None) for v in args.values()):
        await send_error(ws, action_id, Invalid(N_("The server could not read that message.")))
        return False
    try:
        result = await runtime.service.execute(event_id, session.actor, name, args, action_id)
    except DomainError as error:
        await send_error(ws, action_id, error)
        return True
    if name in ("me.rename", "me.forget"):  # this connection speaks under the new name from now on
        session.actor = replace(session.actor, name=result.get("name", ""))
    await ws.send_text(orjson.dumps({"type": "result", "id": action_id, "ok": True, "result": result}).decode())
    return True


async def send_error(ws: WebSocket, action_id: Any, error: DomainError) -> None:
    reply = {"type": "result" if action_id else "error", "ok": False, "error": error.to_dict(i18n.gettext)}
    if action_id:
        reply["id"] = action_id
    await ws.send_text(orjson.dumps(reply).decode())


ROUTES = [WebSocketRoute("/e/{slug}/ws", endpoint)]
