"""The report messages of the websocket (issue #16; docs/protocol.md, "Reports written together").

A page showing a report subscribes to it (`doc.sub`, with its document's state vector) and gets
what it lacks (`doc.state`), then every update to that report (`doc.update`, numbered `rseq`)
until it leaves or the socket closes. It sends its own typing as `doc.push`, answered
`doc.ack` once durable (or `doc.refused`), and says where it types with `doc.presence`. Only
sockets that subscribed to a report hear of it, and only while their audience may see its topic.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import TYPE_CHECKING, Any

import orjson

from openspace import i18n
from openspace.domain.errors import N_, DomainError, Invalid, NotFound, SlowDown
from openspace.domain.harvest import FIELDS
from openspace.rooms import Viewer, b64

if TYPE_CHECKING:
    from openspace.live.ws import Connection

PUSHES_PER_SECOND = 20  # a browser sends its typing at most every 50 ms
PUSH_BURST = 60  # an offline phone's pending updates, resent at once
MAX_VIEWED = 4  # reports one socket follows at once
PRESENCE_EVERY = 0.5  # seconds between two "is writing" notes from one socket


def decode(raw: Any) -> bytes | None:
    if not isinstance(raw, str) or len(raw) > 96 * 1024:
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


async def take(conn: Connection, message: dict[str, Any]) -> bool | None:
    """One `doc.*` message: True when fine, False when malformed, None when over the rate."""
    kind, topic_id = message.get("type"), message.get("topic")
    cowriting = conn.runtime.cowriting
    if not isinstance(topic_id, str) or not 1 <= len(topic_id) <= 64:
        await conn.refuse(None, Invalid(N_("The server could not read that message.")))
        return False
    viewers = conn.viewers if conn.viewers is not None else {}
    conn.viewers = viewers
    if kind == "doc.sub":
        vector = decode(message.get("sv")) if message.get("sv") else b""
        if vector is None or (topic_id not in viewers and len(viewers) >= MAX_VIEWED):
            await conn.refuse(None, Invalid(N_("The server could not read that message.")))
            return False
        if not cowriting.visible(conn.event_id, topic_id, conn.client.audience):
            await reply(conn, {"type": "doc.refused", "topic": topic_id, "error": gone().to_dict(i18n.gettext)})
            return True
        viewer = viewers.get(topic_id)
        if viewer is None:  # in the room before the state is read: nothing falls between
            viewer = viewers[topic_id] = Viewer(
                topic_id, conn.event_id, conn.client.audience, conn.actor.name, conn.send
            )
            cowriting.join(viewer)
        try:
            update, head = await cowriting.state(conn.event_id, topic_id, vector or None)
        except DomainError as error:
            await reply(conn, {"type": "doc.refused", "topic": topic_id, "error": error.to_dict(i18n.gettext)})
            return True
        viewer.put(orjson.dumps({"type": "doc.state", "topic": topic_id, "rseq": head, "update": b64(update)}).decode())
        return True
    if kind == "doc.unsub":
        viewer = viewers.pop(topic_id, None)
        if viewer is not None:
            cowriting.leave(viewer)
        return True
    if kind == "doc.presence":
        viewer = viewers.get(topic_id)
        field = message.get("field")
        now = time.monotonic()
        if viewer is not None and field in FIELDS and now - viewer.last_presence >= PRESENCE_EVERY:
            viewer.last_presence = now
            cowriting.presence(viewer, str(field))
        return True
    if kind == "doc.push":
        push_id, data = message.get("id"), decode(message.get("update"))
        if not isinstance(push_id, str) or not 8 <= len(push_id) <= 64 or data is None:
            await conn.refuse(None, Invalid(N_("The server could not read that message.")))
            return False
        if not conn.may_push():
            slow = SlowDown(N_("Too many actions at once. Please slow down."))
            await reply(
                conn,
                {
                    "type": "doc.refused",
                    "topic": topic_id,
                    "id": push_id,
                    "error": slow.to_dict(i18n.gettext),
                    "retry": True,
                },
            )
            return None
        conn.enqueue(lambda: push(conn, topic_id, push_id, data))
        return True
    await conn.refuse(None, Invalid(N_("The server could not read that message.")))
    return False


async def push(conn: Connection, topic_id: str, push_id: str, update: bytes) -> None:
    try:
        rseq = await conn.runtime.cowriting.push(conn.event_id, conn.actor, topic_id, update)
    except DomainError as error:
        await reply(
            conn, {"type": "doc.refused", "topic": topic_id, "id": push_id, "error": error.to_dict(i18n.gettext)}
        )
        return
    await reply(conn, {"type": "doc.ack", "topic": topic_id, "id": push_id, "rseq": rseq})


def gone() -> DomainError:
    return NotFound(N_("That topic no longer exists. It may have been withdrawn."))


async def reply(conn: Connection, message: dict[str, Any]) -> None:
    await conn.send(orjson.dumps(message).decode())


def leave_all(conn: Connection) -> None:
    for viewer in (conn.viewers or {}).values():
        conn.runtime.cowriting.leave(viewer)
    conn.viewers = None
