"""Rules for running the marketplace: phases, pitching, self-placement, interest, pins,
suggested agendas, announcements and the bell (merging duplicates is in merging.py).

Pure like rules.py: the clock arrives as `ctx.now` (UTC, ISO 8601), ids through `ctx.new_id`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from openspace.domain.attendance import vacate
from openspace.domain.checks import (
    Args,
    Context,
    Rule,
    boolean,
    bump,
    integer,
    ref,
    require_facilitator,
    text,
)
from openspace.domain.errors import N_, Conflict, Forbidden, Invalid, NotFound
from openspace.domain.model import PHASES, Announcement, Board, Change, EntityKind, Event, Interest, Topic
from openspace.domain.rows import as_row

OPEN_FOR_PROPOSALS = ("marketplace",)


# --- phases ----------------------------------------------------------------------------------


def proposals_open(board: Board) -> bool:
    return board.event.phase in OPEN_FOR_PROPOSALS


def require_open_marketplace(board: Board, ctx: Context) -> None:
    """Outside the marketplace only the facilitator changes the agenda."""
    if not ctx.actor.facilitator and not proposals_open(board):
        raise Forbidden(N_("The marketplace is closed: only the facilitator changes the agenda now."))


def set_phase(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    phase = str(args.get("phase", ""))
    if phase not in PHASES:
        raise Invalid(N_("Unknown phase."), field="phase")
    return Change("event.phase", event=replace(board.event, phase=phase))


def set_options(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    return Change("event.options", event=replace(board.event, self_placement=boolean(args, "self_placement")))


# --- the pitch queue -------------------------------------------------------------------------


def convener_or_facilitator(topic: Topic, ctx: Context) -> None:
    if not ctx.actor.facilitator and not topic.convened_by(ctx.actor.participant_id):
        raise Forbidden(N_("Only the convener of a topic or the facilitator can change it."))


def open_topic(board: Board, args: Args) -> Topic:
    topic: Topic = ref(board, args, "topic", "topics")
    if topic.status != "open":
        raise NotFound(N_("That topic no longer exists. It may have been withdrawn."), field="topic")
    return topic


def join_queue(board: Board, args: Args, ctx: Context) -> Change:
    """Proposers line up in the order they ask: the change's sequence number is the ticket."""
    topic = open_topic(board, args)
    convener_or_facilitator(topic, ctx)
    require_open_marketplace(board, ctx)
    if topic.queued_seq is not None:
        return Change("pitch.joined", result={"unchanged": True})
    return Change("pitch.joined", upserts=(replace(topic, queued_seq=ctx.seq),))


def leave_queue(board: Board, args: Args, ctx: Context) -> Change:
    topic: Topic = ref(board, args, "topic", "topics")
    convener_or_facilitator(topic, ctx)
    if topic.queued_seq is None:
        return Change("pitch.left", result={"unchanged": True})
    event = replace(board.event, spotlight=None) if board.event.spotlight == topic.id else None
    return Change("pitch.left", upserts=(replace(topic, queued_seq=None),), event=event)


def spotlight(board: Board, args: Args, ctx: Context) -> Change:
    """Show one topic in large type on the projector while its convener pitches it; "" clears."""
    require_facilitator(ctx)
    if not args.get("topic"):
        return Change("pitch.spotlight", event=replace(board.event, spotlight=None))
    topic = open_topic(board, args)
    return Change("pitch.spotlight", event=replace(board.event, spotlight=topic.id))


def after_placing(board: Board, topic: Topic) -> tuple[Topic, Event | None]:
    """A placed topic has been pitched: it leaves the queue and the spotlight."""
    event = replace(board.event, spotlight=None) if board.event.spotlight == topic.id else None
    return replace(topic, queued_seq=None), event


def check_self_placement(board: Board, topic: Topic, ctx: Context, *, swapping: bool) -> None:
    """A convener may put their own topic into a free cell, as on a paper wall, when allowed."""
    if ctx.actor.facilitator:
        return
    if not topic.convened_by(ctx.actor.participant_id):
        raise Forbidden(N_("Only the facilitator can do that."))
    if not board.event.self_placement:
        raise Forbidden(N_("The facilitator places the topics in this event."))
    require_open_marketplace(board, ctx)
    if topic.pinned:
        raise Forbidden(N_("The facilitator has pinned this topic to its place."))
    if swapping:
        raise Conflict(N_("That cell is taken. Choose a free one."))


# --- interest --------------------------------------------------------------------------------


def mark_interest(board: Board, args: Args, ctx: Context) -> Change:
    """Mark or unmark "I want to go": counts for everyone, names for no one."""
    if ctx.actor.participant_id is None:
        raise Forbidden(N_("Please join the event with your name first."))
    topic = open_topic(board, args)
    key = f"{topic.id}|{ctx.actor.participant_id}"
    wanted = boolean(args, "on")
    if wanted == (key in board.interests):
        return Change("topic.interest", result={"on": wanted, "unchanged": True})
    if wanted:
        row = Interest(id=key, topic_id=topic.id, participant_id=ctx.actor.participant_id)
        return Change("topic.interest", upserts=(replace(topic, interest=topic.interest + 1), row), result={"on": True})
    return Change(
        "topic.interest",
        upserts=(replace(topic, interest=topic.interest - 1),),
        deletes=(("interests", key),),
        result={"on": False},
    )


# --- pins ------------------------------------------------------------------------------------


def pin(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    topic = open_topic(board, args)
    return Change("topic.pinned", upserts=(bump(topic, pinned=boolean(args, "pinned")),))


# --- a suggested agenda, accepted -----------------------------------------------------------


def apply_plan(board: Board, args: Args, ctx: Context) -> Change:
    """Accept a previewed agenda: every placement in one change, or none if the board moved on.

    The plan carries the version of each topic as previewed; if any topic changed since, or a
    target cell is now held by a topic the plan does not move, nothing is applied.
    """
    require_facilitator(ctx)
    try:
        plan = orjson.loads(str(args.get("plan", "")))
        moves = {str(t): (str(v[0]), str(v[1]), int(v[2])) for t, v in plan.items()}
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError, IndexError):
        raise Invalid(N_("That suggestion could not be read. Ask for a new one."), field="plan") from None
    changed: dict[str, Topic] = {}
    for topic_id, (slot_id, space_id, seen) in moves.items():
        topic = board.topics.get(topic_id)
        if topic is None or topic.version != seen or topic.status != "open" or topic.pinned:
            raise Conflict(N_("The board changed since this suggestion was made. Ask for a new one."))
        if slot_id not in board.slots or space_id not in board.spaces or board.slots[slot_id].label:
            raise Conflict(N_("The board changed since this suggestion was made. Ask for a new one."))
        changed[topic_id] = bump(topic, slot_id=slot_id, space_id=space_id, queued_seq=None)
    taken: dict[tuple[str | None, str | None], str] = {}
    for topic in board.topics.values():
        if topic.placed and topic.id not in changed:
            taken[(topic.slot_id, topic.space_id)] = topic.id
    for topic in changed.values():
        cell = (topic.slot_id, topic.space_id)
        if cell in taken:
            raise Conflict(N_("The board changed since this suggestion was made. Ask for a new one."))
        taken[cell] = topic.id
    if not changed:
        return Change("agenda.applied", result={"placed": 0, "unchanged": True})
    ended: list[tuple[EntityKind, str]] = []
    for topic_id, topic in changed.items():
        if topic.slot_id != board.topics[topic_id].slot_id:  # another time: as `topic.place` does
            changed[topic_id], rows = vacate(board, topic)
            ended.extend(rows)
    event = replace(board.event, spotlight=None) if board.event.spotlight in changed else None
    return Change(
        "agenda.applied",
        upserts=tuple(changed.values()),
        deletes=tuple(ended),
        event=event,
        result={"placed": len(changed)},
    )


# --- announcements and the bell --------------------------------------------------------------


def at(now: str, minutes: int) -> str:
    return (datetime.fromisoformat(now) + timedelta(minutes=minutes)).isoformat(timespec="seconds")


def announce(board: Board, args: Args, ctx: Context) -> Change:
    """A banner on every screen until it expires or is withdrawn; expired ones are tidied away."""
    require_facilitator(ctx)
    message = text(args, "text", "announcement")
    minutes = integer(args, "minutes", 1, 24 * 60, required=False) or 15
    audience = "online" if boolean(args, "online_only") else ""  # for those following from elsewhere (#18)
    row = Announcement(
        id=ctx.new_id(), text=message, created_at=ctx.now, expires_at=at(ctx.now, minutes), audience=audience
    )
    expired: tuple[tuple[EntityKind, str], ...] = tuple(
        ("announcements", a.id) for a in board.announcements.values() if a.expires_at <= ctx.now
    )
    return Change("announcement.made", upserts=(row,), deletes=expired, result={"announcement": row.id})


def end_announcement(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    row: Announcement = ref(board, {"announcement": args.get("announcement")}, "announcement", "announcements")
    return Change("announcement.ended", deletes=(("announcements", row.id),))


def bell(board: Board, args: Args, ctx: Context) -> Change:
    """Start a countdown shown on the projector and phones ("closing circle in 10 minutes"); 0 stops."""
    require_facilitator(ctx)
    minutes = integer(args, "minutes", 0, 180) or 0
    until = at(ctx.now, minutes) if minutes else ""
    return Change("bell.set", event=replace(board.event, bell_until=until))


# --- undoing a withdrawal ----------------------------------------------------------------------


def withdrawn(board: Board, topic: Topic) -> dict[str, Any]:
    """What undoing a withdrawal puts back (#15): the topic as it was and who had marked it.
    A withdrawal's result carries it to the web layer, which seals it for the undo (never to a
    screen: who marked what is private, live/ws.py leaves it out of a socket's answer)."""
    marked = sorted(i.participant_id for i in board.interests.values() if i.topic_id == topic.id)
    row = as_row(topic)
    if topic.convener_id:  # a participant's name is kept by their login, erasable (me.forget), not here
        row["convener_name"] = ""
    return {"topic": row, "marked": marked}


def restore(board: Board, args: Args, ctx: Context) -> Change:
    """Undo a withdrawal: the topic back with its marks and its place in the pitch queue, in its
    cell if that is still free (else waiting to be placed). Internal: `rows` is what `withdrawn`
    made, handed back sealed by the server (web/routes.py), never what a client typed."""
    rows = args.get("rows")
    if not isinstance(rows, dict) or not isinstance(rows.get("topic"), dict):
        raise NotFound(N_("That can no longer be undone."))
    topic = Topic(**rows["topic"])
    if topic.id in board.topics:
        return Change("topic.restored", result={"unchanged": True, "topic": topic.id})
    convener_or_facilitator(topic, ctx)
    require_open_marketplace(board, ctx)
    slot, space = board.slots.get(topic.slot_id or ""), board.spaces.get(topic.space_id or "")
    if slot is None or space is None or slot.label or board.occupant(slot.id, space.id) is not None:
        topic = replace(topic, slot_id=None, space_id=None)
    if topic.convener_id and topic.convener_id == ctx.actor.participant_id:  # their name as it is now
        topic = replace(topic, convener_name=ctx.actor.name)
    marks = tuple(Interest(f"{topic.id}|{who}", topic.id, who) for who in rows.get("marked", []))
    topic = bump(topic, interest=len(marks), headcount=0, online=0, arrived=0, left=0, dots=0)
    return Change("topic.restored", upserts=(topic, *marks), result={"topic": topic.id})


INTERNAL: dict[str, Rule] = {"topic.restore": restore}  # only from the server's own edges

COMMANDS: dict[str, Rule] = {
    "event.phase": set_phase,
    "event.options": set_options,
    "pitch.join": join_queue,
    "pitch.leave": leave_queue,
    "pitch.spotlight": spotlight,
    "topic.interest": mark_interest,
    "topic.pin": pin,
    "agenda.apply": apply_plan,
    "announce": announce,
    "announce.end": end_announcement,
    "bell.set": bell,
}
