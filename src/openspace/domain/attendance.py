"""The law of two feet: who is in which session now, as counts on every screen.

One Attendance row per person per slot, so checking in elsewhere in the same slot moves the
person (bumblebees and butterflies are welcome). Rows are private; topics carry the public
counters: `headcount` (here now, and at the slot's end), `arrived` and `left` (the flow), and
the slot counts its `moves`. A check-in is possible while the slot runs (from a few minutes
before it starts); when it ends, the check-ins end with it and the counts remain as history.
Pure like rules.py: the clock is `ctx.now`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from openspace.domain import hybrid
from openspace.domain.checks import Args, Context, Rule, ref
from openspace.domain.errors import N_, Forbidden, Invalid
from openspace.domain.model import Attendance, Board, Change, Entity, EntityKind, Event, Slot, Topic

EARLY_MINUTES = 15  # people drift in before a session starts: let them check in


def window(event: Event, slot: Slot) -> tuple[datetime, datetime]:
    """A slot's start and end as instants, from its wall-clock times in the event's zone."""
    zone = ZoneInfo(event.timezone)
    start = datetime.fromisoformat(f"{slot.day}T{slot.start}").replace(tzinfo=zone)
    end = datetime.fromisoformat(f"{slot.day}T{slot.end}").replace(tzinfo=zone)
    return start, end


def is_open(event: Event, slot: Slot, now: str) -> bool:
    start, end = window(event, slot)
    return start - timedelta(minutes=EARLY_MINUTES) <= datetime.fromisoformat(now) < end


def is_over(event: Event, slot: Slot, now: str) -> bool:
    return datetime.fromisoformat(now) >= window(event, slot)[1]


def participant(ctx: Context) -> str:
    if ctx.actor.participant_id is None:
        raise Forbidden(N_("Please join the event with your name first."))
    return ctx.actor.participant_id


def vacate(board: Board, topic: Topic) -> tuple[Topic, tuple[tuple[EntityKind, str], ...]]:
    """A session that moves to another slot, leaves the grid, is hidden or is merged away: the
    people checked in are not there any more (they were at the old time and place), so its
    check-ins end and its count is zero. `topic` is the topic as it will be after the change."""
    rows: tuple[tuple[EntityKind, str], ...] = tuple(
        ("attendance", a.id) for a in board.attendance.values() if a.topic_id == topic.id
    )
    return (replace(topic, headcount=0, online=0) if rows or topic.headcount or topic.online else topic), rows


def session(board: Board, args: Args) -> tuple[Topic, Slot]:
    topic: Topic = ref(board, args, "topic", "topics")
    if topic.status != "open" or topic.slot_id is None or topic.space_id is None:
        raise Invalid(N_("This topic is not on the agenda, so there is nowhere to check in."), field="topic")
    return topic, board.slots[topic.slot_id]


def check_in(board: Board, args: Args, ctx: Context) -> Change:
    """ "I'm here": counted in this session, and out of any other in the same slot."""
    person = participant(ctx)
    topic, slot = session(board, args)
    if not is_open(board.event, slot, ctx.now):
        raise Invalid(
            N_("You can check in while the session runs, %(start)s–%(end)s on %(day)s."),
            start=slot.start,
            end=slot.end,
            day=slot.day,
        )
    key = f"{slot.id}|{person}"
    online = hybrid.wants_online(board, topic, args)  # here in the room, or following from elsewhere
    current = board.attendance.get(key)
    if current is not None and current.topic_id == topic.id:
        if current.online == online:
            return Change("attendance.checked_in", result={"topic": topic.id, "unchanged": True})
        switched = replace(topic, **hybrid.counted(topic, current.online, -1))  # type: ignore[arg-type]
        switched = replace(switched, **hybrid.counted(switched, online, +1))  # type: ignore[arg-type]
        row = replace(current, online=online)
        return Change("attendance.checked_in", upserts=(switched, row), result={"topic": topic.id, "moved_from": None})
    upserts: list[Entity] = []
    deletes: list[tuple[EntityKind, str]] = []
    moved_from = None
    if current is not None:
        previous = board.topics.get(current.topic_id)
        if previous is not None:
            less = hybrid.counted(previous, current.online, -1)
            upserts.append(replace(previous, **less, left=previous.left + 1))  # type: ignore[arg-type]
            moved_from = previous.id
        upserts.append(replace(slot, moves=slot.moves + 1))
    # walking early to the next slot's session: out of the one still running, counted once
    for row in board.attendance.values():
        other_slot = board.slots.get(row.slot_id)
        if row.participant_id == person and row.slot_id != slot.id and other_slot is not None:
            if not is_over(board.event, other_slot, ctx.now) and (other := board.topics.get(row.topic_id)):
                less = hybrid.counted(other, row.online, -1)
                upserts.append(replace(other, **less, left=other.left + 1))  # type: ignore[arg-type]
                deletes.append(("attendance", row.id))
    more = hybrid.counted(topic, online, +1)
    upserts.append(replace(topic, **more, arrived=topic.arrived + 1))  # type: ignore[arg-type]
    upserts.append(Attendance(id=key, slot_id=slot.id, topic_id=topic.id, participant_id=person, online=online))
    kind = "attendance.moved" if moved_from else "attendance.checked_in"
    result = {"topic": topic.id, "moved_from": moved_from}
    return Change(kind, upserts=tuple(upserts), deletes=tuple(deletes), result=result)


def check_out(board: Board, args: Args, ctx: Context) -> Change:
    """ "I'm leaving": out of this session (the law of two feet needs no excuse).

    The check-in is found by person and topic, not by where the topic is now: leaving must work
    even if the session was moved or taken off the agenda after the person came in.
    """
    person = participant(ctx)
    topic: Topic = ref(board, args, "topic", "topics")
    for row in board.attendance.values():
        if row.participant_id == person and row.topic_id == topic.id:
            slot = board.slots.get(row.slot_id)
            if slot is not None and is_over(board.event, slot, ctx.now):
                continue  # over: the count stays as history
            counted = replace(topic, **hybrid.counted(topic, row.online, -1), left=topic.left + 1)  # type: ignore[arg-type]
            return Change("attendance.checked_out", upserts=(counted,), deletes=(("attendance", row.id),))
    return Change("attendance.checked_out", result={"unchanged": True})


def erase(board: Board, args: Args, ctx: Context) -> Change:
    """Forget where this person has been. Sessions still running lose them from their count;
    finished ones keep their counts, which no longer point at anyone."""
    person = participant(ctx)
    mine = [a for a in board.attendance.values() if a.participant_id == person]
    upserts: list[Entity] = []
    for row in mine:
        topic, slot = board.topics.get(row.topic_id), board.slots.get(row.slot_id)
        if topic is not None and slot is not None and not is_over(board.event, slot, ctx.now):
            upserts.append(replace(topic, **hybrid.counted(topic, row.online, -1)))  # type: ignore[arg-type]
    deletes: tuple[tuple[EntityKind, str], ...] = tuple(("attendance", a.id) for a in mine)
    if not deletes:
        return Change("attendance.erased", result={"unchanged": True})
    return Change("attendance.erased", upserts=tuple(upserts), deletes=deletes)


COMMANDS: dict[str, Rule] = {
    "attendance.in": check_in,
    "attendance.out": check_out,
    "attendance.erase": erase,
}
