"""Hybrid open space (#18): people who follow from elsewhere, counted apart from those in the room.

A space may carry a call link (any https address: Jitsi, BigBlueButton, Zoom, Teams, a Matrix
room) and may be virtual, with no room at all. A check-in says whether the person is here or
following online; the topic keeps the two counts apart (`headcount` for the room, which is what
capacity and crowding are about, and `online`), so a screen can say "12 here + 5 online".

Pure like the other rules: no I/O, the clock handed in.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from openspace.domain import owned
from openspace.domain.checks import Args, boolean, text
from openspace.domain.errors import N_, Invalid
from openspace.domain.model import Board, Space, Topic


def call_link(args: Args, current: str = "") -> str:
    """The space's call link from the form: "" removes it; otherwise a full https address with a
    host and no credentials (a link shown to everyone must not carry a password in its user part,
    and only https opens safely from a projector's QR code)."""
    if "video_url" not in args:
        return current
    url = text(args, "video_url", required=False)
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        raise Invalid(N_("Please give the call's full https address."), field="video_url") from None
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in url):
        raise Invalid(N_("Please give the call's full https address."), field="video_url")
    if parts.username is not None or parts.password is not None:
        raise Invalid(N_("Put no user name or password in the address."), field="video_url")
    return url


def with_call(space: Space, args: Args) -> Space:
    """The space with the hybrid fields from a form: its call link and whether it is online only
    (fields not in the form are kept). A virtual space has no room, so no places."""
    virtual = boolean(args, "virtual") if "virtual" in args else space.virtual
    return replace(space, video_url=call_link(args, space.video_url), virtual=virtual,
                   capacity=None if virtual else space.capacity)  # fmt: skip


def wants_online(board: Board, topic: Topic, args: Args) -> bool:
    """A check-in is online when the person says so, and always in a virtual space."""
    space = board.spaces.get(topic.space_id or "")
    return boolean(args, "online") or (space is not None and space.virtual)


def counted(topic: Topic, online: bool, step: int) -> dict[str, int]:
    """The counter a check-in moves: the room's or the online one, never below zero."""
    if online:
        return {"online": max(0, topic.online + step)}
    return {"headcount": max(0, topic.headcount + step)}


def following_online(board: Board, participant_id: str | None) -> bool:
    """Whether a person follows from elsewhere now: their latest check-in (by slot) was online.
    What announcements for online participants only go by."""
    return owned.of(board, participant_id).online_now  # everyone's latest check-in, found once per board


def split(topic: Topic) -> tuple[int, int]:
    """Here and online, for screens and the proceedings."""
    return topic.headcount, topic.online
