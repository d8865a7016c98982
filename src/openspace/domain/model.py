"""The board: everything about one event that every screen shows.

A board is an immutable value. A change never mutates it: :func:`apply` returns a new board, so
the writer can decide a whole batch of commands on tentative boards and throw them away if the
commit fails. The same `Change` is what the database stores, what the change log keeps and what
the websocket pushes, which is why there is only one source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from openspace.domain.effects import Effect
from openspace.domain.rows import as_row, replaced

# in the order rows are written: topics refer to spaces and slots, interests to topics
EntityKind = Literal[
    "spaces",
    "slots",
    "topics",
    "interests",
    "merges",
    "announcements",
    "attendance",
    "reports",
    "revisions",
    "photos",
    "votes",
    "actions",
]
ENTITY_KINDS: tuple[EntityKind, ...] = get_args(EntityKind)
TopicStatus = Literal["open", "hidden", "merged"]
Phase = Literal["opening", "marketplace", "closed", "sessions", "closing"]
PHASES: tuple[Phase, ...] = get_args(Phase)


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    slug: str
    name: str
    theme: str = ""
    venue: str = ""
    starts_on: str = ""  # ISO date, in the event's own time zone
    ends_on: str = ""
    timezone: str = "Europe/Stockholm"
    language: str = "sv"
    phase: str = "marketplace"
    self_placement: bool = False  # conveners may put their own topic into a free cell
    spotlight: str | None = None  # the topic being pitched on the projector
    bell_until: str = ""  # UTC instant a facilitator's countdown ends ("" = none)
    voting_dots: int = 0  # dots per person in the convergence round; 0 = no round open
    licence: str = "CC BY 4.0"  # of the proceedings: printed on the cover, carried in the JSON
    published: bool = False  # proceedings readable by anyone with the link, not only the facilitator


@dataclass(frozen=True, slots=True)
class Space:
    id: str
    name: str
    capacity: int | None = None
    position: int = 0
    video_url: str = ""  # a call people join from elsewhere (https only, see domain/hybrid.py)
    virtual: bool = False  # online only: no room, so no capacity and no one "here"


@dataclass(frozen=True, slots=True)
class Slot:
    id: str
    day: str  # ISO date
    start: str  # "HH:MM", wall-clock time in the event's time zone
    end: str
    moves: int = 0  # check-ins that moved someone from one session to another in this slot
    label: str = ""  # a break ("Lunch", "Coffee") when set: on every agenda, and no session in it (#15)

    @property
    def is_break(self) -> bool:
        return bool(self.label)


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    title: str
    description: str = ""
    convener_id: str | None = None
    convener_name: str = ""
    status: TopicStatus = "open"
    slot_id: str | None = None
    space_id: str | None = None
    version: int = 1
    created_seq: int = 0
    pinned: bool = False  # self-placement and suggestions never move it
    queued_seq: int | None = None  # in the pitch queue since this change (None: not queued)
    co_convener_ids: str = ""  # space-separated participant ids, from merges
    co_conveners: str = ""  # their names, comma-separated, as shown
    interest: int = 0  # how many marked it; who did is private (Interest rows)
    headcount: int = 0  # checked in now (or at the slot's end); who is private (Attendance rows)
    arrived: int = 0  # check-ins over the slot, moves included: what drew people in
    left: int = 0  # check-outs and moves away: what lost them
    dots: int = 0  # dots from the convergence round; who gave them is private (Vote rows)
    online: int = 0  # following online now (or at the slot's end), counted apart from `headcount`

    @property
    def placed(self) -> bool:
        return self.slot_id is not None and self.space_id is not None

    def convened_by(self, participant_id: str | None) -> bool:
        if participant_id is None:
            return False
        return participant_id == self.convener_id or participant_id in self.co_convener_ids.split()

    def convener_ids(self) -> set[str]:
        ids = set(self.co_convener_ids.split())
        if self.convener_id:
            ids.add(self.convener_id)
        return ids


@dataclass(frozen=True, slots=True)
class Interest:
    """One participant wants to attend one topic. Never sent to any screen: counts only."""

    id: str  # "<topic id>|<participant id>"
    topic_id: str
    participant_id: str


@dataclass(frozen=True, slots=True)
class Attendance:
    """Where one participant is in one slot: one row per person per slot, so moving replaces it."""

    id: str  # "<slot id>|<participant id>"
    slot_id: str
    topic_id: str
    participant_id: str
    online: bool = False  # following the session from elsewhere, not in the room


@dataclass(frozen=True, slots=True)
class Report:
    """A session's report, one per topic (id = the topic's id), written by many hands.

    `html` is the rendered, sanitised Markdown of each field as JSON, made once when saved, so
    every screen shows the same safe HTML without rendering Markdown itself.
    """

    id: str
    participants: str = ""
    discussion: str = ""
    insights: str = ""
    recommendations: str = ""
    html: str = "{}"
    revision: int = 0
    locked: bool = False
    updated_at: str = ""


@dataclass(frozen=True, slots=True)
class Revision:
    """Every saved version of a report, kept so edits can be merged and restored (never broadcast)."""

    id: str  # "<topic id>:<revision>"
    topic_id: str
    revision: int
    fields: str  # JSON of the report's text fields
    author: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Photo:
    id: str
    topic_id: str
    name: str  # the random file name in the photo store
    width: int
    height: int
    thumb_width: int
    thumb_height: int
    created_at: str


@dataclass(frozen=True, slots=True)
class Vote:
    """One dot given by one person (id "<participant>|<n>"); private, like interest marks."""

    id: str
    participant_id: str
    topic_id: str


@dataclass(frozen=True, slots=True)
class ActionItem:
    id: str
    topic_id: str
    what: str
    who: str = ""
    due: str = ""  # ISO date, or "" for no date


@dataclass(frozen=True, slots=True)
class Merge:
    """A merge of duplicates, kept so the facilitator can undo it (facilitators only)."""

    id: str
    into: str  # the topic that was kept
    merged: str  # space-separated ids of the topics folded into it
    before: str  # JSON: the kept topic and the folded topics and interests as they were


@dataclass(frozen=True, slots=True)
class Announcement:
    id: str
    text: str
    created_at: str  # UTC, ISO 8601
    expires_at: str  # UTC, ISO 8601
    audience: str = ""  # "" for everyone; "online" for those following online only


Entity = (
    Space | Slot | Topic | Interest | Merge | Announcement | Attendance | Report | Revision | Photo | Vote | ActionItem
)
EntityType = (
    type[Space]
    | type[Slot]
    | type[Topic]
    | type[Interest]
    | type[Merge]
    | type[Announcement]
    | type[Attendance]
    | type[Report]
    | type[Revision]
    | type[Photo]
    | type[Vote]
    | type[ActionItem]
)
ENTITY_TYPES: dict[EntityKind, EntityType] = {
    "spaces": Space,
    "slots": Slot,
    "topics": Topic,
    "interests": Interest,
    "merges": Merge,
    "announcements": Announcement,
    "attendance": Attendance,
    "reports": Report,
    "revisions": Revision,
    "photos": Photo,
    "votes": Vote,
    "actions": ActionItem,
}
KINDS_BY_TYPE: dict[EntityType, EntityKind] = {t: k for k, t in ENTITY_TYPES.items()}


def kind_of(entity: Entity) -> EntityKind:
    return KINDS_BY_TYPE[type(entity)]


@dataclass(frozen=True, slots=True)
class Change:
    """What one accepted command did, as a patch: rows to upsert and ids to delete; and its
    effects beyond the board (domain/effects.py), which are applied but never logged or sent."""

    kind: str
    upserts: tuple[Entity, ...] = ()
    deletes: tuple[tuple[EntityKind, str], ...] = ()
    event: Event | None = None
    result: dict[str, Any] = field(default_factory=dict)
    effects: tuple[Effect, ...] = ()

    def to_patch(self) -> dict[str, Any]:
        """The JSON form stored in the change log and sent to facilitators."""
        patch: dict[str, Any] = {}
        if self.event is not None:
            patch["event"] = as_row(self.event)
        upserts: dict[str, list[dict[str, Any]]] = {}
        for entity in self.upserts:
            upserts.setdefault(kind_of(entity), []).append(as_row(entity))
        if upserts:
            patch["upsert"] = upserts
        deletes: dict[str, list[str]] = {}
        for kind, entity_id in self.deletes:
            deletes.setdefault(kind, []).append(entity_id)
        if deletes:
            patch["delete"] = deletes
        return patch

    @classmethod
    def from_patch(cls, kind: str, patch: dict[str, Any]) -> Change:
        event = Event(**patch["event"]) if "event" in patch else None
        upserts: list[Entity] = []
        for entity_kind, rows in patch.get("upsert", {}).items():
            entity_type = ENTITY_TYPES[entity_kind]
            upserts.extend(entity_type(**row) for row in rows)
        deletes = tuple(
            (entity_kind, entity_id) for entity_kind, ids in patch.get("delete", {}).items() for entity_id in ids
        )
        return cls(kind=kind, upserts=tuple(upserts), deletes=deletes, event=event)


@dataclass(frozen=True, slots=True)
class Board:
    event: Event
    seq: int = 0
    spaces: dict[str, Space] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    topics: dict[str, Topic] = field(default_factory=dict)
    interests: dict[str, Interest] = field(default_factory=dict)
    merges: dict[str, Merge] = field(default_factory=dict)
    announcements: dict[str, Announcement] = field(default_factory=dict)
    attendance: dict[str, Attendance] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)
    revisions: dict[str, Revision] = field(default_factory=dict)
    photos: dict[str, Photo] = field(default_factory=dict)
    votes: dict[str, Vote] = field(default_factory=dict)
    actions: dict[str, ActionItem] = field(default_factory=dict)

    def entities(self, kind: EntityKind) -> dict[str, Any]:
        mapping: dict[str, Any] = getattr(self, kind)
        return mapping

    def ordered_spaces(self) -> list[Space]:
        return sorted(self.spaces.values(), key=lambda s: (s.position, s.name, s.id))

    def ordered_slots(self) -> list[Slot]:
        return sorted(self.slots.values(), key=lambda s: (s.day, s.start, s.end, s.id))

    def session_slots(self) -> list[Slot]:
        """The slots sessions can go into: every slot but the breaks."""
        return [s for s in self.ordered_slots() if not s.label]

    def days(self) -> list[str]:
        return sorted({slot.day for slot in self.slots.values()})

    def ordered_topics(self) -> list[Topic]:
        return sorted(self.topics.values(), key=lambda t: (t.created_seq, t.id))

    def live_topics(self) -> list[Topic]:
        """Topics that exist for people: not folded into another by a merge."""
        return [t for t in self.ordered_topics() if t.status != "merged"]

    def interested(self, topic_id: str) -> set[str]:
        return {i.participant_id for i in self.interests.values() if i.topic_id == topic_id}

    def pitch_queue(self) -> list[Topic]:
        queued = [t for t in self.topics.values() if t.queued_seq is not None and t.status == "open"]
        return sorted(queued, key=lambda t: (t.queued_seq or 0, t.id))

    def occupant(self, slot_id: str, space_id: str) -> Topic | None:
        for topic in self.topics.values():
            if topic.slot_id == slot_id and topic.space_id == space_id:
                return topic
        return None

    def to_state(self, leave_out: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The full state as JSON-ready data: what a snapshot carries (before projection).

        `leave_out` skips kinds an audience never gets, so they are not built only to be dropped
        (thousands of check-ins at the end of a day would double a snapshot's cost).
        """
        rows: dict[str, Any] = {
            "spaces": lambda: [as_row(s) for s in self.ordered_spaces()],
            "slots": lambda: [as_row(s) for s in self.ordered_slots()],
            "topics": lambda: [as_row(t) for t in self.ordered_topics()],
            "interests": lambda: [as_row(i) for i in self.interests.values()],
            "merges": lambda: [as_row(m) for m in self.merges.values()],
            "announcements": lambda: sorted(
                (as_row(a) for a in self.announcements.values()), key=lambda a: a["created_at"]
            ),
            "attendance": lambda: [as_row(a) for a in self.attendance.values()],
            "reports": lambda: [as_row(r) for r in sorted(self.reports.values(), key=lambda r: r.updated_at)],
            "revisions": lambda: [as_row(r) for r in self.revisions.values()],
            "photos": lambda: [as_row(p) for p in sorted(self.photos.values(), key=lambda p: p.created_at)],
            "votes": lambda: [as_row(v) for v in self.votes.values()],
            "actions": lambda: [as_row(a) for a in self.actions.values()],
        }
        state: dict[str, Any] = {"event": as_row(self.event), "seq": self.seq}
        state.update({kind: build() for kind, build in rows.items() if kind not in leave_out})
        return state


def apply(board: Board, change: Change, seq: int) -> Board:
    """Return the board after `change`, numbered `seq` in the event's change log."""
    collections: dict[EntityKind, dict[str, Any]] = {}
    for entity in change.upserts:
        kind = kind_of(entity)
        collections.setdefault(kind, dict(board.entities(kind)))[entity.id] = entity
    for kind, entity_id in change.deletes:
        collections.setdefault(kind, dict(board.entities(kind))).pop(entity_id, None)
    return replaced(
        board,
        event=change.event or board.event,
        seq=seq,
        **collections,
    )
