"""Shaping a board for the templates: the grid by day, what sits in each cell, what is unplaced.

Pure functions of a board, so the page a person loads and the state their socket patches start
from one and the same board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from openspace import i18n
from openspace.domain import attendance, owned, planning
from openspace.domain.errors import N_
from openspace.domain.model import ActionItem, Announcement, Board, Event, Slot, Space, Topic
from openspace.domain.projection import Audience, hidden_statuses, state_for


@dataclass
class BoardView:
    board: Board
    spaces: list[Space]
    days: list[tuple[str, list[Slot]]]
    cells: dict[tuple[str, str], Topic]
    topics: list[Topic]
    unplaced: list[Topic]
    slot_states: dict[str, str] = field(default_factory=dict)
    now: str = ""  # UTC, ISO 8601: what "active" means for announcements
    online: bool = False  # the viewer follows online (or runs the event): sees announcements for online people

    @property
    def event(self) -> Event:
        return self.board.event

    @property
    def queue(self) -> list[Topic]:
        return self.board.pitch_queue()

    @property
    def spotlight(self) -> Topic | None:
        topic = self.board.topics.get(self.board.event.spotlight or "")
        return topic if topic is not None and topic.status == "open" else None

    @property
    def announcements(self) -> list[Announcement]:
        active = [
            a
            for a in self.board.announcements.values()
            if a.expires_at > self.now and (self.online or a.audience != "online")
        ]
        return sorted(active, key=lambda a: a.created_at, reverse=True)

    def countdown_until(self) -> str:
        """The instant the countdown ends (UTC), for the page to tick towards between renders:
        the same for every render, so a region's hash does not change with the clock."""
        if self.event.bell_until and self.event.bell_until > self.now:
            return datetime.fromisoformat(self.event.bell_until).astimezone(UTC).isoformat(timespec="seconds")
        zone = ZoneInfo(self.event.timezone)
        for _, slots in self.days:
            for slot in slots:
                if self.slot_states.get(slot.id) == "now":
                    end = datetime.fromisoformat(f"{slot.day}T{slot.end}").replace(tzinfo=zone)
                    return end.astimezone(UTC).isoformat(timespec="seconds")
        return ""

    def most_dots(self, count: int = 5) -> list[Topic]:
        """The closing face's sessions with most dots, most first (ties in agenda order)."""
        voted = [t for t in self.topics if t.dots]
        return sorted(voted, key=lambda t: -t.dots)[:count]

    def action_items(self) -> list[tuple[ActionItem, Topic]]:
        """Every action item of a topic this audience sees, with its topic, for the closing face."""
        topics = {t.id: t for t in self.topics}
        items = [(a, topics[a.topic_id]) for a in self.board.actions.values() if a.topic_id in topics]
        return sorted(items, key=lambda pair: (pair[0].due or "9999", pair[1].title, pair[0].what))

    def queue_place(self, topic: Topic) -> int | None:
        for number, queued in enumerate(self.queue, start=1):
            if queued.id == topic.id:
                return number
        return None

    def countdown(self) -> tuple[str, int] | None:
        """What the clock on every screen counts down to: the facilitator's bell, else the slot's end."""
        now = datetime.fromisoformat(self.now)
        if self.event.bell_until and self.event.bell_until > self.now:
            return "bell", int((datetime.fromisoformat(self.event.bell_until) - now).total_seconds())
        zone = ZoneInfo(self.event.timezone)
        for _, slots in self.days:
            for slot in slots:
                if self.slot_states.get(slot.id) == "now":
                    end = datetime.fromisoformat(f"{slot.day}T{slot.end}").replace(tzinfo=zone)
                    return "ends_in", max(0, int((end - now).total_seconds()))
        return None

    def crowded(self) -> dict[str, Space | None]:
        """Sessions on now with more people than places, each with a free room that would fit."""
        flagged: dict[str, Space | None] = {}
        for (slot_id, _), topic in self.cells.items():
            space = self.board.spaces.get(topic.space_id or "")
            if self.slot_states.get(slot_id) != "now" or space is None or space.capacity is None:
                continue
            if topic.headcount > space.capacity:
                taken = {s for (sl, s) in self.cells if sl == slot_id}
                fits = [
                    s
                    for s in self.spaces
                    if s.id not in taken and (s.capacity is None or s.capacity >= topic.headcount)
                ]
                flagged[topic.id] = min(fits, key=lambda s: s.capacity or 10**9) if fits else None
        return flagged

    def free_cells(self) -> list[tuple[Slot, Space]]:
        return [
            (slot, space)
            for _, slots in self.days
            for slot in slots
            if not slot.label  # a break takes no session (#15)
            for space in self.spaces
            if not self.cell(slot, space)
        ]

    def cell(self, slot: Slot, space: Space) -> Topic | None:
        return self.cells.get((slot.id, space.id))

    def pitch_nudge(self, me: str | None) -> Topic | None:
        """The person's newest topic that could still be pitched: not on the agenda, not queued."""
        queued = {t.id for t in self.queue}
        mine = [t for t in self.unplaced if t.convened_by(me) and t.id not in queued and t.status == "open"]
        return max(mine, key=lambda t: t.created_seq) if mine else None

    def my_day(self, me: str | None, data: dict[str, Any]) -> list[Stop]:
        """The person's now and next (`my_day`), from their own page data."""
        return my_day(self, me, data["myInterests"], data["myAttendance"], data["myOnline"])

    def where(self, topic: Topic) -> tuple[Slot, Space] | None:
        if not topic.placed:
            return None
        return self.board.slots[topic.slot_id], self.board.spaces[topic.space_id]  # type: ignore[index]


@dataclass(frozen=True)
class Stop:
    """One slot of a person's day on their "my sessions" card: where to be now, or next (#15).

    `sessions` are the ones that are theirs in that slot: where they checked in, else the ones
    they convene or marked (several when they have not chosen yet), each with its room."""

    when: str  # "now" or "next"
    slot: Slot
    sessions: tuple[tuple[Topic, Space, str], ...]  # (topic, room, "here" | "online" | "convener" | "marked")

    def key(self) -> tuple[str, ...]:
        """What the card shows of this stop, as the shared render's cache knows it (personal.py)."""
        return (self.when, self.slot.id, *(f"{t.id}:{s.id}:{how}" for t, s, how in self.sessions))


def my_day(
    view: BoardView, me: str | None, interests: list[str], attendance: dict[str, str], online: list[str]
) -> list[Stop]:
    """Where this person should be now and next, from their check-ins, their own topics and their
    marks, by the clock of the view's slot states: so the card follows a moved session and the
    clock with the rest of the page."""
    if not me:
        return []
    marked = set(interests)
    stops = []
    for _, slots in view.days:
        for slot in slots:
            when = view.slot_states.get(slot.id, "")
            if when not in ("now", "next"):
                continue
            placed = [(t, view.board.spaces[t.space_id or ""]) for (s, _), t in view.cells.items() if s == slot.id]
            placed.sort(key=lambda pair: pair[1].position)
            how = "online" if slot.id in online else "here"
            here = [(t, room, how) for t, room in placed if attendance.get(slot.id) == t.id]
            own = [(t, room, "convener") for t, room in placed if t.convened_by(me)]
            wanted = [(t, room, "marked") for t, room in placed if t.id in marked and not t.convened_by(me)]
            stops.append(Stop(when, slot, tuple(here or own + wanted)))
    return stops


def board_view(board: Board, audience: Audience, slot_states: dict[str, str] | None = None) -> BoardView:
    hidden = hidden_statuses(audience)
    topics = [t for t in board.ordered_topics() if t.status not in hidden]
    days: dict[str, list[Slot]] = {}
    for slot in board.ordered_slots():
        days.setdefault(slot.day, []).append(slot)
    cells = {(t.slot_id, t.space_id): t for t in topics if t.placed}
    return BoardView(
        board=board,
        spaces=board.ordered_spaces(),
        days=list(days.items()),
        cells=cells,  # type: ignore[arg-type]
        topics=topics,
        unplaced=[t for t in topics if not t.placed],
        slot_states=slot_states or {},
        now=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def projector_day(view: BoardView) -> str | None:
    """The projector shows one day: the one with the slot on now or next, else the first."""
    for wanted in ("now", "next"):
        for day, slots in view.days:
            if any(view.slot_states.get(slot.id) == wanted for slot in slots):
                return day
    return view.days[0][0] if view.days else None


@dataclass
class Suggestion:
    """A suggested agenda as the facilitator previews it, with what it would change."""

    moves: list[tuple[Topic, Slot, Space]]
    unplaced: list[Topic]
    before: planning.Quality
    after: planning.Quality
    plan: str  # JSON {topic id: [slot id, space id, version seen]} for agenda.apply
    too_late: bool = False  # every slot has started: nothing can be suggested, whatever is unplaced


def suggestion(board: Board, replace_unpinned: bool, now: str | None = None) -> Suggestion:
    placement = planning.suggest(board, replace_unpinned=replace_unpinned, now=now)
    started = planning.started_slots(board, now)
    moves = [
        (board.topics[t], board.slots[slot], board.spaces[space])
        for t, (slot, space) in placement.items()
        if (board.topics[t].slot_id, board.topics[t].space_id) != (slot, space)
    ]
    moves.sort(key=lambda m: (m[1].day, m[1].start, m[2].position))
    placed = {t.id for t, _, _ in moves} | {t.id for t in board.topics.values() if t.placed}
    plan = {t.id: [slot.id, space.id, t.version] for t, slot, space in moves}
    return Suggestion(
        moves=moves,
        unplaced=[t for t in board.live_topics() if t.status == "open" and t.id not in placed],
        before=planning.quality(board),
        after=planning.quality(board, {t.id: (slot.id, space.id) for t, slot, space in moves}),
        plan=orjson.dumps(plan).decode(),
        too_late=bool(board.session_slots()) and not {s.id for s in board.session_slots()} - started,
    )


def merge_rows(board: Board) -> list[dict[str, str]]:
    """The merges the facilitator can undo, with the titles as they are now."""
    rows = []
    for merge in board.merges.values():
        kept = board.topics.get(merge.into)
        titles = [board.topics[i].title for i in merge.merged.split() if i in board.topics]
        rows.append({"id": merge.id, "into": kept.title if kept else "", "titles": "”, “".join(titles)})
    return rows


def flow(board: Board, now: str) -> list[tuple[Slot, list[tuple[Topic, Space]]]]:
    """For each slot that has started: its sessions with head counts, who came and who left."""
    rows = []
    for slot in board.ordered_slots():
        if attendance.window(board.event, slot)[0] > datetime.fromisoformat(now):
            continue
        sessions = [
            (t, board.spaces[t.space_id or ""])
            for t in board.live_topics()
            if t.slot_id == slot.id and t.space_id in board.spaces and t.status == "open"
        ]
        rows.append((slot, sorted(sessions, key=lambda pair: pair[1].position)))
    return rows


def clock_text(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    return f"{minutes}:{secs:02d}"


PHASE_LABELS = {
    "opening": N_("Opening"),
    "marketplace": N_("Marketplace open: propose your topics"),
    "closed": N_("Marketplace closed"),
    "sessions": N_("Sessions running"),
    "closing": N_("Closing"),
}


# The strings the browser shows by itself (the connection's state, a form's fate, the countdown's
# tick), translated once per page. Every other text is in the markup the server renders.
CLIENT_STRINGS = {
    "online": N_("Connected"),
    "offline": N_("Offline. Your changes are kept and sent when the connection is back."),
    "connecting": N_("Connecting…"),
    "queued": N_("Not sent yet: waiting for the connection."),
    "restored": N_("Your unsent text was kept on this phone and is back in the form."),
    "waiting_one": N_("1 change is waiting to be sent."),
    "waiting": N_("%(num)s changes are waiting to be sent."),
    "sent": N_("Saved."),
    "writing": N_("%(name)s is writing…"),
    "someone": N_("Someone"),
    "doc_saved": N_("Everything you typed is saved."),
    "doc_pending": N_("Not sent yet: kept on this phone until the server has it."),
    "gone": N_("This event has been deleted."),
    "nudge": N_("Your session ends in a few minutes: write its report while it is fresh."),
    "ends_in": N_("Ends in %(time)s"),
    "bell": N_("Countdown: %(time)s"),
    "dismiss": N_("Dismiss"),
}


def next_clock_change(board: Board, now: datetime) -> str | None:
    """The next instant at which a page would render differently with no change to the board:
    a slot's check-in opening, start or end ("now", "next", "I'm here"), an announcement
    expiring, the bell running out. A live page asks again then, instead of polling."""
    zone = ZoneInfo(board.event.timezone)
    early = timedelta(minutes=attendance.EARLY_MINUTES)
    moments: list[datetime] = []
    for slot in board.slots.values():
        try:
            start = datetime.fromisoformat(f"{slot.day}T{slot.start}").replace(tzinfo=zone)
            end = datetime.fromisoformat(f"{slot.day}T{slot.end}").replace(tzinfo=zone)
        except ValueError:
            continue
        moments += [start - early, start, end]
    for announcement in board.announcements.values():
        moments.append(datetime.fromisoformat(announcement.expires_at))
    if board.event.bell_until:
        moments.append(datetime.fromisoformat(board.event.bell_until))
    future = [m for m in moments if m > now]
    return min(future).astimezone(UTC).isoformat(timespec="seconds") if future else None


def seq_data(board: Board, audience: Audience, now: datetime) -> dict[str, Any]:
    """The page data that is the same for everyone of this audience and language at this seq,
    until its `clockChange` (a page's caller may keep it till then: `Visit.page_data`)."""
    return {
        "clockChange": next_clock_change(board, now),
        "state": state_for(board, audience),
        "i18n": {key: i18n.gettext(text) for key, text in CLIENT_STRINGS.items()},
    }


def page_data(
    board: Board,
    audience: Audience,
    me: str | None,
    slug: str,
    epoch: str,
    csrf: str = "",
    shared: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the page's script starts from: the same state a snapshot would carry (with
    `shared`, the `seq_data` the caller kept)."""
    now = datetime.now(UTC)
    shared = seq_data(board, audience, now) if shared is None else shared
    return {
        "slug": slug,
        "seq": board.seq,
        "epoch": epoch,
        "audience": audience,
        "clockChange": shared["clockChange"],
        "language": i18n.current_language(),
        "timezone": board.event.timezone,
        "state": shared["state"],
        "i18n": shared["i18n"],
        **own_data(board, audience, me, csrf, now),
    }


# the page data that is the person's own, the rest being the same for everyone at a seq
OWN_KEYS = ("me", "csrf", "myInterests", "myAttendance", "myDots", "online", "myOnline", "serverNow")


def own_data(board: Board, audience: Audience, me: str | None, csrf: str, now: datetime) -> dict[str, Any]:
    """The person's own part of the page data (`OWN_KEYS`): what they marked, where they are, the
    server's clock; apart, so a page rendered once for everyone is finished per person (personal.py)."""
    mine = owned.of(board, me)  # found once per board for everyone: every open page asks
    return {
        "me": me,
        "csrf": csrf,
        "myInterests": list(mine.interests),
        "myAttendance": dict(mine.attendance),
        "myDots": mine.dots,
        "online": audience == "facilitator" or mine.online_now,
        "myOnline": list(mine.online_slots),
        "serverNow": now.isoformat(timespec="seconds"),
    }
