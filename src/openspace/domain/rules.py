"""The domain rules for the board itself: topics, spaces, slots and the event.

Given a board, a person and a command, decide what changes, or refuse. No I/O here: ids and the
clock are handed in through :class:`Context`, so a rule is a pure function of its inputs and is
tested without a database or a server. The marketplace's rules (phases, pitching, interest,
merging, announcements) are in marketplace.py; parsing and permission checks in checks.py; a
participant's commands about their own name in people.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from openspace.domain import attendance, harvest, hybrid, marketplace, merging, people
from openspace.domain.checks import (
    LANGUAGES,
    MAX,
    MAX_CAPACITY,
    MAX_EVENT_DAYS,
    MAX_SLOTS,
    MAX_SPACES,
    MAX_TOPICS,
    MAX_TOPICS_PER_PERSON,
    Actor,
    Args,
    Context,
    Rule,
    boolean,
    bump,
    check_version,
    clock,
    integer,
    iso_day,
    may_edit,
    ref,
    require_facilitator,
    require_room_for_topics,
    text,
    timezones,
)
from openspace.domain.effects import FilesRemoved
from openspace.domain.errors import N_, Conflict, Forbidden, Invalid, NotFound
from openspace.domain.model import Board, Change, EntityKind, Event, Slot, Space, Topic

__all__ = ["MAX", "MAX_TOPICS", "MAX_TOPICS_PER_PERSON", "Actor", "Args", "Context", "decide", "event_fields", "text"]


# --- topics ----------------------------------------------------------------------------------


def propose(board: Board, args: Args, ctx: Context) -> Change:
    if ctx.actor.participant_id is None and not ctx.actor.facilitator:
        raise Forbidden(N_("Please join the event with your name first."))
    marketplace.require_open_marketplace(board, ctx)
    title = text(args, "title")
    description = text(args, "description", required=False)
    if len(board.topics) >= MAX_TOPICS:
        raise Invalid(N_("This event has reached its limit of %(max)s topics."), max=MAX_TOPICS)
    if ctx.actor.participant_id is not None and "convener_name" not in args:
        convener_id, convener_name = ctx.actor.participant_id, ctx.actor.name
        require_room_for_topics(board, convener_id)
    else:  # the facilitator types in a topic from a paper sheet, for someone else
        require_facilitator(ctx)
        convener_id, convener_name = None, text(args, "convener_name", "name", required=False)
    topic = Topic(
        id=ctx.new_id(),
        title=title,
        description=description,
        convener_id=convener_id,
        convener_name=convener_name,
        created_seq=ctx.seq,
    )
    return Change("topic.proposed", upserts=(topic,), result={"topic": topic.id})


def edit(board: Board, args: Args, ctx: Context) -> Change:
    topic: Topic = ref(board, args, "topic", "topics")
    may_edit(topic, ctx)
    check_version(topic, args)
    title = text(args, "title")
    description = text(args, "description", required=False)
    return Change("topic.edited", upserts=(bump(topic, title=title, description=description),))


def withdraw(board: Board, args: Args, ctx: Context) -> Change:
    """A topic goes, with everything hanging off it; topics merged into it come back first."""
    topic: Topic = ref(board, args, "topic", "topics")
    may_edit(topic, ctx)
    marketplace.require_open_marketplace(board, ctx)
    check_version(topic, args)
    restored, undone = merging.release_folded(board, topic)
    marks = dependents(board, topic.id)
    event = replace(board.event, spotlight=None) if board.event.spotlight == topic.id else None
    files = [p.name for p in board.photos.values() if p.topic_id == topic.id]
    return Change(
        "topic.withdrawn",
        upserts=tuple(restored),
        deletes=(*undone, *marks, ("topics", topic.id)),
        event=event,
        result={"photos": files, "withdrawn": marketplace.withdrawn(board, topic)},  # for an undo (#15)
        effects=(FilesRemoved(tuple(files)),) if files else (),
    )


def dependents(board: Board, topic_id: str) -> tuple[tuple[EntityKind, str], ...]:
    """Everything that hangs off a topic and goes when it goes (the database cascades likewise)."""
    kinds: tuple[EntityKind, ...] = ("interests", "attendance", "photos", "votes", "actions", "revisions")
    rows = tuple((kind, row.id) for kind in kinds for row in board.entities(kind).values() if row.topic_id == topic_id)
    return rows + ((("reports", topic_id),) if topic_id in board.reports else ())


def hide(board: Board, args: Args, ctx: Context) -> Change:
    """Hide a topic from everyone but the facilitator, or show it again.

    A hidden topic also leaves the grid (and its check-ins end): otherwise its cell would look
    free on every public screen while nobody could take it. Shown again, it waits unplaced.
    """
    require_facilitator(ctx)
    topic: Topic = ref(board, args, "topic", "topics")
    check_version(topic, args)
    if boolean(args, "show"):
        return Change("topic.shown", upserts=(bump(topic, status="open"), *harvest.rows_of(board, topic.id)))
    hidden, ended = attendance.vacate(board, bump(topic, status="hidden", slot_id=None, space_id=None))
    event = replace(board.event, spotlight=None) if board.event.spotlight == topic.id else None
    return Change("topic.hidden", upserts=(hidden,), deletes=ended, event=event)


def place(board: Board, args: Args, ctx: Context) -> Change:
    """Put a topic into a cell; move it; or swap it with the cell's occupant.

    `swap_with` names the topic the person saw in the target cell (empty: they saw it free).
    If the cell holds anything else now, someone got there first and the command is refused,
    so two facilitators dropping into one cell never silently overwrite each other.
    """
    topic: Topic = ref(board, args, "topic", "topics")
    if topic.status == "merged":
        raise NotFound(N_("That topic no longer exists. It may have been withdrawn."), field="topic")
    check_version(topic, args)
    slot: Slot = ref(board, args, "slot", "slots")
    space: Space = ref(board, args, "space", "spaces")
    if slot.label:  # a break is on every agenda as itself: no session goes into it (#15)
        raise Invalid(N_("%(label)s is a break: choose another time slot."), field="slot", label=slot.label)
    occupant = board.occupant(slot.id, space.id)
    marketplace.check_self_placement(board, topic, ctx, swapping=bool(args.get("swap_with")))
    if topic.status == "hidden":  # hidden topics stay off the agenda (see `hide`)
        if not ctx.actor.facilitator:
            raise Forbidden(N_("The facilitator has hidden this topic, so it cannot be changed now."))
        raise Invalid(N_("Show this topic again before you put it on the agenda."), field="topic")
    if occupant is not None and occupant.id == topic.id:
        return Change("topic.placed", upserts=(), result={"unchanged": True})
    expected = args.get("swap_with") or None
    if occupant is not None and occupant.id != expected and occupant.status == "hidden" and not ctx.actor.facilitator:
        raise Conflict(N_("That cell is taken. Choose a free one."))  # never reveal a hidden title
    if occupant is not None and occupant.id != expected:
        raise Conflict(
            N_("%(space)s at %(start)s on %(day)s already has “%(title)s”. Nothing was moved."),
            space=space.name,
            start=slot.start,
            day=slot.day,
            title=occupant.title,
        )
    if occupant is None and expected is not None:
        # They meant to swap but the other topic left in the meantime: a plain move is still
        # what they asked for, and nothing is overwritten.
        expected = None
    moved, event = marketplace.after_placing(board, bump(topic, slot_id=slot.id, space_id=space.id))
    ended: tuple[tuple[EntityKind, str], ...] = ()
    if topic.slot_id != slot.id:
        moved, ended = attendance.vacate(board, moved)
    if occupant is None:
        return Change("topic.placed", upserts=(moved,), deletes=ended, event=event)
    displaced = bump(occupant, slot_id=topic.slot_id, space_id=topic.space_id)
    if occupant.status == "hidden":  # left in a cell by an older version: off the grid, not elsewhere
        displaced = bump(occupant, slot_id=None, space_id=None)
    if displaced.slot_id != occupant.slot_id:
        displaced, more = attendance.vacate(board, displaced)
        ended += more
    return Change("topic.swapped", upserts=(moved, displaced), deletes=ended, event=event)


def unplace(board: Board, args: Args, ctx: Context) -> Change:
    topic: Topic = ref(board, args, "topic", "topics")
    marketplace.check_self_placement(board, topic, ctx, swapping=False)
    check_version(topic, args)
    if not topic.placed:
        return Change("topic.unplaced", result={"unchanged": True})
    freed, ended = attendance.vacate(board, bump(topic, slot_id=None, space_id=None))
    return Change("topic.unplaced", upserts=(freed,), deletes=ended)


# --- spaces and slots ------------------------------------------------------------------------


def add_space(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    name = text(args, "name", "space_name")
    capacity = integer(args, "capacity", 1, MAX_CAPACITY, required=False)
    if len(board.spaces) >= MAX_SPACES:
        raise Invalid(N_("An event can have at most %(max)s spaces."), max=MAX_SPACES)
    unique_name(board, name)
    position = max((s.position for s in board.spaces.values()), default=-1) + 1
    space = hybrid.with_call(Space(id=ctx.new_id(), name=name, capacity=capacity, position=position), args)
    return Change("space.added", upserts=(space,), result={"space": space.id})


def unique_name(board: Board, name: str, except_id: str | None = None) -> None:
    for other in board.spaces.values():
        if other.id != except_id and other.name.casefold() == name.casefold():
            raise Invalid(N_("There is already a space called “%(name)s”."), field="name", name=other.name)


def update_space(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    space: Space = ref(board, args, "space", "spaces")
    name = text(args, "name", "space_name")
    capacity = integer(args, "capacity", 1, MAX_CAPACITY, required=False)
    unique_name(board, name, except_id=space.id)
    return Change("space.updated", upserts=(hybrid.with_call(replace(space, name=name, capacity=capacity), args),))


def move_space(board: Board, args: Args, ctx: Context) -> Change:
    """Reorder: move a space one step earlier or later, renumbering positions densely."""
    require_facilitator(ctx)
    space: Space = ref(board, args, "space", "spaces")
    order = board.ordered_spaces()
    index = next(i for i, s in enumerate(order) if s.id == space.id)
    step = -1 if args.get("direction") == "up" else 1
    target = index + step
    if not 0 <= target < len(order):
        return Change("space.moved", result={"unchanged": True})
    order[index], order[target] = order[target], order[index]
    changed = tuple(replace(s, position=i) for i, s in enumerate(order) if s.position != i)
    return Change("space.moved", upserts=changed)


def remove_space(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    space: Space = ref(board, args, "space", "spaces")
    freed: list[Topic] = []
    ended: tuple[tuple[EntityKind, str], ...] = ()
    for topic in board.topics.values():
        if topic.space_id == space.id:
            vacated, rows = attendance.vacate(board, bump(topic, slot_id=None, space_id=None))
            freed.append(vacated)
            ended += rows
    return Change("space.removed", upserts=tuple(freed), deletes=(*ended, ("spaces", space.id)))


def slot_times(board: Board, args: Args, except_id: str | None = None) -> tuple[str, str, str]:
    day = iso_day(args, "day")
    start, end = clock(args, "start"), clock(args, "end")
    if end <= start:
        raise Invalid(N_("A time slot must end after it starts."), field="end")
    event = board.event
    if event.starts_on and event.ends_on and not event.starts_on <= day <= event.ends_on:
        raise Invalid(
            N_("The day must be within the event's dates, %(first)s to %(last)s."),
            field="day",
            first=event.starts_on,
            last=event.ends_on,
        )
    for other in board.slots.values():
        if other.id != except_id and other.day == day and other.start < end and start < other.end:
            raise Invalid(
                N_("This overlaps the slot %(start)s–%(end)s on the same day."),
                field="start",
                start=other.start,
                end=other.end,
            )
    return day, start, end


def add_slot(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    if len(board.slots) >= MAX_SLOTS:
        raise Invalid(N_("An event can have at most %(max)s time slots."), max=MAX_SLOTS)
    day, start, end = slot_times(board, args)
    label = text(args, "label", "break_label", required=False)  # a name makes it a break (#15)
    slot = Slot(id=ctx.new_id(), day=day, start=start, end=end, label=label)
    return Change("slot.added", upserts=(slot,), result={"slot": slot.id})


def update_slot(board: Board, args: Args, ctx: Context) -> Change:
    """Move a slot, or name it a break (a label) or a time for sessions again (no label)."""
    require_facilitator(ctx)
    slot: Slot = ref(board, args, "slot", "slots")
    day, start, end = slot_times(board, args, except_id=slot.id)
    label = text(args, "label", "break_label", required=False) if "label" in args else slot.label
    if label and any(t.slot_id == slot.id and t.status != "merged" for t in board.topics.values()):
        raise Invalid(N_("Sessions are in this slot: move them before you make it a break."), field="label")
    return Change("slot.updated", upserts=(replace(slot, day=day, start=start, end=end, label=label),))


def remove_slot(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    slot: Slot = ref(board, args, "slot", "slots")
    freed: list[Topic] = []
    ended: dict[tuple[EntityKind, str], None] = {
        ("attendance", a.id): None for a in board.attendance.values() if a.slot_id == slot.id
    }
    for topic in board.topics.values():
        if topic.slot_id == slot.id:  # off the grid, and with nobody in it, as `unplace` leaves it
            vacated, rows = attendance.vacate(board, bump(topic, slot_id=None, space_id=None))
            freed.append(vacated)
            ended.update(dict.fromkeys(rows))
    return Change("slot.removed", upserts=tuple(freed), deletes=(*ended, ("slots", slot.id)))


# --- the event -------------------------------------------------------------------------------


def event_fields(args: Args, base: Event) -> Event:
    """Parse and check an event's editable fields; shared by creation and editing."""
    name = text(args, "name", "event_name")
    theme = text(args, "theme", required=False)
    venue = text(args, "venue", required=False)
    starts_on = iso_day(args, "starts_on")
    ends_on = iso_day(args, "ends_on") if args.get("ends_on") else starts_on
    if ends_on < starts_on:
        raise Invalid(N_("The last day cannot come before the first day."), field="ends_on")
    if (date.fromisoformat(ends_on) - date.fromisoformat(starts_on)).days >= MAX_EVENT_DAYS:
        raise Invalid(N_("An event can last at most %(max)s days."), field="ends_on", max=MAX_EVENT_DAYS)
    timezone = text(args, "timezone", "venue")
    if timezone not in timezones():
        raise Invalid(N_("Unknown time zone. Use a name such as Europe/Stockholm."), field="timezone")
    language = str(args.get("language", ""))
    if language not in LANGUAGES:
        raise Invalid(N_("Please choose Swedish or English."), field="language")
    licence = text(args, "licence", required=False) if "licence" in args else base.licence
    return replace(
        base,
        name=name,
        theme=theme,
        venue=venue,
        starts_on=starts_on,
        ends_on=ends_on,
        timezone=timezone,
        language=language,
        licence=licence or "CC BY 4.0",
    )


def update_event(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    event = event_fields(args, board.event)
    outside = [s for s in board.slots.values() if not event.starts_on <= s.day <= event.ends_on]
    if outside:
        raise Invalid(
            N_("Some time slots fall outside these dates (for example %(day)s). Move or remove them first."),
            field="starts_on",
            day=outside[0].day,
        )
    return Change("event.updated", event=event)


COMMANDS: dict[str, Rule] = {
    "topic.propose": propose,
    "topic.edit": edit,
    "topic.withdraw": withdraw,
    "topic.hide": hide,
    "topic.place": place,
    "topic.unplace": unplace,
    "me.rename": people.rename_me,
    "me.forget": people.forget_me,
    "space.add": add_space,
    "space.update": update_space,
    "space.move": move_space,
    "space.remove": remove_space,
    "slot.add": add_slot,
    "slot.update": update_slot,
    "slot.remove": remove_slot,
    "event.update": update_event,
}

# every command a person may send, from each module that holds rules
ALL_COMMANDS: dict[str, Rule] = {
    **COMMANDS,
    **marketplace.COMMANDS,
    **merging.COMMANDS,
    **attendance.COMMANDS,
    **harvest.COMMANDS,
}


def decide(board: Board, name: str, args: Args, ctx: Context, *, internal: bool = False) -> Change:
    """The single entry point: refuse by raising a DomainError, or return the change.

    `internal` commands (recording an uploaded photo, undoing a withdrawal) come only from the
    server's own edges, never from a form or a socket: their arguments are the server's own (a
    file's name, a withdrawn topic's rows).
    """
    rule = ALL_COMMANDS.get(name) or ((harvest.INTERNAL | marketplace.INTERNAL).get(name) if internal else None)
    if rule is None:
        raise Invalid(N_("Unknown action."))
    return rule(board, args, ctx)
