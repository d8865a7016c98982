"""Webhooks as rules: which changes go out, what their JSON says, how it is signed.

Pure like the rest of the domain: the payload is made from the board as the change left it, in
the same transaction that writes the change (so the outbox row and the change commit together),
and signing is arithmetic on bytes. Resolving names, refusing private addresses and posting are
I/O and live in `openspace.live.webhooks`.

The signature follows the Standard Webhooks specification (standardwebhooks.com): the headers
`webhook-id`, `webhook-timestamp` and `webhook-signature`, the signature being
``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`` under the endpoint's secret, which is
``whsec_`` followed by the base64 of its key. The id stays the same on every retry, so a receiver
that has seen it can drop a repeat (delivery is at least once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from openspace.domain.checks import Args, text
from openspace.domain.errors import N_, Invalid
from openspace.domain.model import Announcement, Board, Change, Topic

SECRET_PREFIX = "whsec_"
MAX_URL = 2000
MAX_WEBHOOKS = 10  # per event

# what a facilitator may subscribe to, and the changes each covers
KINDS: dict[str, tuple[str, ...]] = {
    "topic.placed": ("topic.placed", "topic.swapped"),
    "phase.changed": ("event.phase",),
    "announcement": ("announcement.made",),
    "bell": ("bell.set",),
    "report.published": ("report.locked", "proceedings.published"),
}
KIND_LABELS: dict[str, str] = {
    "topic.placed": N_("Topic placed or moved"),
    "phase.changed": N_("Phase changed"),
    "announcement": N_("Announcement"),
    "bell": N_("Bell"),
    "report.published": N_("Report published"),
}
# a phase as people read it (the same words as on the screens' banner)
PHASE_TEXT: dict[str, str] = {
    "opening": N_("Opening"),
    "marketplace": N_("Marketplace open: propose your topics"),
    "closed": N_("Marketplace closed"),
    "sessions": N_("Sessions running"),
    "closing": N_("Closing"),
}
KIND_OF_CHANGE: dict[str, str] = {change: kind for kind, changes in KINDS.items() for change in changes}


@dataclass(frozen=True, slots=True)
class Notice:
    """What one change tells the endpoints subscribed to `kind`: the data, and a line for people
    (`message`, an untranslated template, and its `params`), which chat tools show as the text."""

    kind: str
    data: dict[str, Any]
    message: str
    params: dict[str, Any]


def valid_url(raw: str, *, allow_http: bool = False) -> str:
    """An endpoint's address: https (http only where the operator allows private targets), with a
    host and no user name or password in it. Whether the host is a public address is checked
    when it is resolved, at registration and again before every delivery."""
    url = raw.strip()
    if not url or len(url) > MAX_URL or any(c.isspace() for c in url):
        raise Invalid(N_("Please give the endpoint's full https address."), field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid(N_("Please give the endpoint's full https address."), field="url") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname or port == 0:
        raise Invalid(N_("Please give the endpoint's full https address."), field="url")
    if parts.username is not None or parts.password is not None:
        raise Invalid(N_("Put no user name or password in the address."), field="url")
    return url


def chosen_kinds(args: Args) -> tuple[str, ...]:
    """The kinds ticked on the form (`kind_<name>`) or given as a space-separated `kinds`."""
    named = set(str(args.get("kinds", "")).split())
    named |= {kind for kind in KINDS if str(args.get(f"kind_{kind}", "")).lower() in {"1", "on", "true", "yes"}}
    unknown = named - set(KINDS)
    if unknown:
        raise Invalid(N_("Unknown kind of change."), field="kinds")
    if not named:
        raise Invalid(N_("Choose at least one kind of change."), field="kinds")
    return tuple(kind for kind in KINDS if kind in named)


def chosen_format(args: Args) -> str:
    """The body's shape: Standard Webhooks' JSON, or only {"text": …} for chat tools, whose
    incoming webhooks refuse fields they do not know (Mattermost refuses a `type`)."""
    shape = str(args.get("format", "standard") or "standard")
    if shape not in ("standard", "chat"):
        raise Invalid(N_("Unknown message shape."), field="format")
    return shape


def endpoint_url(args: Args, *, allow_http: bool = False) -> str:
    return valid_url(text(args, "url", "webhook_url"), allow_http=allow_http)


def _session(board: Board, topic: Topic) -> dict[str, Any]:
    slot = board.slots.get(topic.slot_id or "")
    space = board.spaces.get(topic.space_id or "")
    return {
        "id": topic.id,
        "title": topic.title,
        "day": slot.day if slot else None,
        "start": slot.start if slot else None,
        "end": slot.end if slot else None,
        "space": space.name if space else None,
        "video_url": (space.video_url or None) if space else None,
    }


def notices(board: Board, change: Change) -> list[Notice]:
    """What `change` (already applied to `board`) tells the world, if anything.

    Only what every participant may see goes out: a hidden topic is never named, and an
    announcement for online participants only goes out as such (a receiver that reaches people
    in the room may choose to drop it by its `audience`).
    """
    kind = KIND_OF_CHANGE.get(change.kind)
    if kind is None:
        return []
    event = board.event
    base: dict[str, Any] = {"event": {"slug": event.slug, "name": event.name, "timezone": event.timezone}}
    found: list[Notice] = []
    if kind == "topic.placed":
        for entity in change.upserts:
            if isinstance(entity, Topic) and entity.status == "open" and entity.placed:
                session = _session(board, entity)
                found.append(
                    Notice(
                        kind,
                        {**base, "topic": session},
                        N_("“%(title)s”: %(day)s %(start)s–%(end)s in %(space)s"),
                        {k: session[k] for k in ("title", "day", "start", "end", "space")},
                    )
                )
    elif kind == "phase.changed":
        text = PHASE_TEXT.get(event.phase, event.phase)
        found.append(Notice(kind, {**base, "phase": event.phase}, text, {}))
    elif kind == "announcement":
        for entity in change.upserts:
            if isinstance(entity, Announcement):
                row = {"text": entity.text, "expires_at": entity.expires_at, "audience": entity.audience or "everyone"}
                message = N_("To those online: %(text)s") if entity.audience == "online" else "%(text)s"
                found.append(Notice(kind, {**base, "announcement": row}, message, {"text": entity.text}))
    elif kind == "bell":
        if event.bell_until:
            found.append(
                Notice(
                    kind,
                    {**base, "until": event.bell_until},
                    N_("The bell: back at %(until)s (UTC)"),
                    {"until": event.bell_until[11:16]},
                )
            )
    elif change.kind == "report.locked":
        for entity in change.upserts:
            if isinstance(entity, Topic) and entity.status == "open":
                report = board.reports.get(entity.id)
                if report is not None and report.locked:
                    data = {**base, "topic": _session(board, entity)}
                    found.append(Notice(kind, data, N_("Report finished: “%(title)s”"), {"title": entity.title}))
    elif event.published:  # proceedings.published, and not withdrawn
        found.append(Notice(kind, {**base, "proceedings": True}, N_("The proceedings are published."), {}))
    return found


def new_secret(raw: bytes) -> str:
    """An endpoint's secret from 24 random bytes (the caller brings the randomness)."""
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header's value for one delivery attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def backoff(attempts: int, first: float, cap: float) -> float:
    """Seconds to wait after the `attempts`-th failed try: doubling from `first`, at most `cap`."""
    return float(min(cap, first * 2 ** max(0, attempts - 1)))
