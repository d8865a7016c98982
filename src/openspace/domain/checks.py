"""Parsing and permission checks shared by every rule: the one place input is checked.

Every command arrives as a name and a dict of strings (from a form post or a websocket message
alike); these helpers turn them into values or refuse with a translated, field-naming error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from openspace.domain.errors import N_, Conflict, Forbidden, Invalid, NotFound
from openspace.domain.model import Board, Change, Topic
from openspace.domain.rows import replaced

LANGUAGES = ("sv", "en")
MAX = {
    "title": 120,
    "description": 2000,
    "name": 60,
    "event_name": 120,
    "theme": 500,
    "venue": 120,
    "space_name": 60,
    "break_label": 40,
    "announcement": 200,
    "report": 10_000,
    "action": 300,
    "licence": 120,
    "webhook_url": 2000,
    "video_url": 2000,
}
MAX_CAPACITY = 10_000
MAX_SPACES = 50
MAX_SLOTS = 100
MAX_TOPICS = 500
# a person proposes a few topics in a day; beyond this a loop of proposals is a flood that
# reaches every screen (#21). The facilitator, typing in paper sheets for others, is not counted.
MAX_TOPICS_PER_PERSON = 20
MAX_EVENT_DAYS = 14
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a participant (by id), the facilitator, or both at once."""

    participant_id: str | None = None
    name: str = ""
    facilitator: bool = False
    browser: str = ""  # a hash of the browser's CSRF cookie, when it sent one
    secret: str = ""  # the server's key for this participant (tags their photos); never shown

    @property
    def key(self) -> str:
        """Whose idempotency records an action id is looked up in.

        The browser, not the role: its outbox is resent with the same ids after the person joins,
        opens the facilitator link or is logged out, and must still be applied only once. Without
        a browser (a socket from a script that never loaded a page) the role stands in.
        """
        if self.browser:
            return "b:" + self.browser
        if self.participant_id:
            return "p:" + self.participant_id
        return "f" if self.facilitator else "anon"


@dataclass(frozen=True, slots=True)
class Context:
    actor: Actor
    new_id: Callable[[], str]
    seq: int  # the sequence number this change will get if accepted
    now: str = "2026-01-01T00:00:00+00:00"  # UTC, ISO 8601: the clock, handed in like the ids


Args = Mapping[str, Any]
Rule = Callable[[Board, Args, Context], Change]


# --- parsing ---------------------------------------------------------------------------------


def text(args: Args, name: str, limit: str | None = None, *, required: bool = True) -> str:
    value = args.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(N_("This field must be text."), field=name)
    value = value.replace("\r\n", "\n").strip()
    if "\x00" in value:
        raise Invalid(N_("This field contains characters that are not allowed."), field=name)
    if required and not value:
        raise Invalid(N_("Please fill in this field."), field=name)
    maximum = MAX[limit or name]
    if len(value) > maximum:
        raise Invalid(
            N_("This is too long: at most %(max)s characters, you wrote %(length)s."),
            field=name,
            max=maximum,
            length=len(value),
        )
    return value


def integer(args: Args, name: str, low: int, high: int, *, required: bool = True) -> int | None:
    raw = args.get(name, "")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise Invalid(N_("Please fill in this field."), field=name)
        return None
    if isinstance(raw, bool):
        raise Invalid(N_("Please give a whole number."), field=name)
    try:
        value = int(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise Invalid(N_("Please give a whole number."), field=name) from None
    if not low <= value <= high:
        raise Invalid(N_("Please give a number from %(low)s to %(high)s."), field=name, low=low, high=high)
    return value


def version(args: Args) -> int | None:
    """The version the person saw; None means "whatever is there now" (a plain form post)."""
    return integer(args, "version", 1, 2**62, required=False)


def iso_day(args: Args, name: str) -> str:
    raw = text(args, name, "venue")
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise Invalid(N_("Please give a date as YYYY-MM-DD."), field=name) from None


def clock(args: Args, name: str) -> str:
    raw = text(args, name, "venue")
    if len(raw) == 4 and raw[1] == ":":
        raw = "0" + raw
    if not TIME_RE.match(raw):
        raise Invalid(N_("Please give a time as HH:MM."), field=name)
    return raw


def boolean(args: Args, name: str) -> bool:
    return str(args.get(name, "")).lower() in {"1", "true", "on", "yes"}


@cache
def timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def ref(board: Board, args: Args, name: str, kind: str) -> Any:
    """Look up an entity of this event by id; another event's ids are simply not found."""
    raw = args.get(name)
    entity = board.entities(kind).get(raw) if isinstance(raw, str) else None  # type: ignore[arg-type]
    if kind == "topics" and entity is not None and entity.status == "merged":
        entity = None  # folded into another topic: only undoing the merge brings it back
    if entity is None:
        messages = {
            "topics": N_("That topic no longer exists. It may have been withdrawn."),
            "spaces": N_("That space no longer exists."),
            "slots": N_("That time slot no longer exists."),
            "merges": N_("That merge has already been undone."),
            "announcements": N_("That announcement has already ended."),
            "photos": N_("That photo has already been removed."),
            "actions": N_("That action item has already been removed."),
        }
        raise NotFound(messages[kind], field=name)
    return entity


def check_version(entity: Topic, args: Args) -> None:
    seen = version(args)
    if seen is not None and seen != entity.version:
        raise Conflict(
            N_("Someone else changed “%(title)s” a moment ago. You now see the current version."),
            title=entity.title,
        )


def require_facilitator(ctx: Context) -> None:
    if not ctx.actor.facilitator:
        raise Forbidden(N_("Only the facilitator can do that."))


def may_edit(topic: Topic, ctx: Context) -> None:
    if ctx.actor.facilitator:
        return
    if not topic.convened_by(ctx.actor.participant_id):
        raise Forbidden(N_("Only the convener of a topic or the facilitator can change it."))
    if topic.status == "hidden":
        raise Forbidden(N_("The facilitator has hidden this topic, so it cannot be changed now."))


def require_room_for_topics(board: Board, participant_id: str) -> None:
    """A person's merged topics live on in the one they became, so they do not count twice."""
    mine = sum(1 for t in board.topics.values() if t.convener_id == participant_id and t.status != "merged")
    if mine >= MAX_TOPICS_PER_PERSON:
        raise Invalid(
            N_("You have proposed %(max)s topics, as many as one person can. Merge or withdraw one first."),
            max=MAX_TOPICS_PER_PERSON,
        )


def bump(topic: Topic, **changes: Any) -> Topic:
    return replaced(topic, version=topic.version + 1, **changes)
