"""The event's shared record as a versioned JSON document ("openspace.event"), written and read.

Pure functions of a board: the same board always gives the same bytes, and tests need no server.
exporting.py is the I/O edge that writes the document to files and archives and stores an
import's photos; the schema is documented in docs/export-schema.md. The strict reading of each
part of a document is :mod:`openspace.export_reader`; the CSV and calendar exports are
:mod:`openspace.export_agenda`.

The JSON document is the *shared* record only. Interest marks, check-ins, votes and report
revisions are private rows and are never exported, nor is any participant id: the counters on
topics carry what may be shared. Database ids and the event's slug are addresses, not content, so
every entity gets a document-local id ("topic-3") assigned by a stable order instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from openspace.domain.checks import MAX, MAX_CAPACITY, MAX_SLOTS, MAX_SPACES
from openspace.domain.harvest import FIELDS
from openspace.domain.markup import report_html
from openspace.domain.model import ActionItem, Announcement, Board, Photo, Report, Slot, Space, Topic
from openspace.exports.agenda import actions_of
from openspace.exports.reader import (
    MAX_ROWS,
    Reader,
    fresh_ids,
    read_event,
    read_photos,
    read_reports,
    read_topics,
)

SCHEMA_NAME = "openspace.event"
SCHEMA_VERSION = 1
EVENT_FIELDS = (
    "name",
    "theme",
    "venue",
    "starts_on",
    "ends_on",
    "timezone",
    "language",
    "licence",
    "phase",
    "self_placement",
    "voting_dots",
    "published",
)


# --- the JSON document: export ------------------------------------------------------------------


def exported_topics(board: Board) -> list[Topic]:
    """Open and hidden topics in the order they were proposed; merged ones live on in another."""
    return board.live_topics()


def photo_files(board: Board) -> dict[str, str]:
    """photo id -> "photos/photo-N.jpg": the document's numbering, which the ZIP's files follow.

    Only photos of exported topics count, so the numbers have no gaps.
    """
    kept = {t.id for t in exported_topics(board)}
    ordered = sorted((p for p in board.photos.values() if p.topic_id in kept), key=lambda p: (p.created_at, p.id))
    return {p.id: f"photos/photo-{n}.jpg" for n, p in enumerate(ordered, start=1)}


def html_fields(report: Report) -> dict[str, str]:
    """The stored rendering as an object, so the document holds no JSON in a string; a field typed
    since the last checkpoint is rendered here (markup.report_html)."""
    return report_html(report)


def to_document(board: Board) -> dict[str, Any]:
    """The event's shared record as a JSON-ready dict (schema "openspace.event", version 1)."""
    event = board.event
    space_ids = {s.id: f"space-{n}" for n, s in enumerate(board.ordered_spaces(), start=1)}
    slot_ids = {s.id: f"slot-{n}" for n, s in enumerate(board.ordered_slots(), start=1)}
    topics = exported_topics(board)
    topic_ids = {t.id: f"topic-{n}" for n, t in enumerate(topics, start=1)}
    queued = sorted((t for t in topics if t.queued_seq is not None), key=lambda t: (t.queued_seq or 0, t.id))
    queue_rank = {t.id: n for n, t in enumerate(queued, start=1)}
    files = photo_files(board)
    photos = sorted((board.photos[i] for i in files), key=lambda p: (p.created_at, p.id))
    actions = [a for t in topics for a in actions_of(board, t.id)]
    announcements = sorted(board.announcements.values(), key=lambda a: (a.created_at, a.id))
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "event": {name: getattr(event, name) for name in EVENT_FIELDS},
        "spaces": [
            {
                "id": space_ids[s.id],
                "name": s.name,
                "capacity": s.capacity,
                "position": s.position,
                "video_url": s.video_url,
                "virtual": s.virtual,
            }
            for s in board.ordered_spaces()
        ],
        "slots": [
            {"id": slot_ids[s.id], "day": s.day, "start": s.start, "end": s.end, "moves": s.moves}
            | ({"label": s.label} if s.label else {})  # a break (#15); absent in older files
            for s in board.ordered_slots()
        ],
        "topics": [
            {
                "id": topic_ids[t.id],
                "title": t.title,
                "description": t.description,
                "convener_id": None,  # participants are not exported
                "convener_name": t.convener_name,
                "co_conveners": t.co_conveners,
                "status": t.status,
                "slot": slot_ids.get(t.slot_id or ""),
                "space": space_ids.get(t.space_id or ""),
                "version": t.version,
                "pinned": t.pinned,
                "queued": queue_rank.get(t.id),
                "interest": t.interest,
                "headcount": t.headcount,
                "online": t.online,
                "arrived": t.arrived,
                "left": t.left,
                "dots": t.dots,
            }
            for t in topics
        ],
        "reports": [
            {
                "topic": topic_ids[t.id],
                **{name: getattr(report, name) for name in FIELDS},
                "html": html_fields(report),
                "revision": report.revision,
                "locked": report.locked,
                "updated_at": report.updated_at,
            }
            for t in topics
            if (report := board.reports.get(t.id)) is not None
        ],
        "photos": [
            {
                "id": f"photo-{n}",
                "topic": topic_ids[p.topic_id],
                "file": files[p.id],
                "width": p.width,
                "height": p.height,
                "thumb_width": p.thumb_width,
                "thumb_height": p.thumb_height,
                "created_at": p.created_at,
            }
            for n, p in enumerate(photos, start=1)
        ],
        "actions": [
            {"id": f"action-{n}", "topic": topic_ids[a.topic_id], "what": a.what, "who": a.who, "due": a.due}
            for n, a in enumerate(actions, start=1)
        ],
        "announcements": [
            {
                "id": f"announcement-{n}",
                "text": a.text,
                "created_at": a.created_at,
                "expires_at": a.expires_at,
                "audience": a.audience,
            }
            for n, a in enumerate(announcements, start=1)
        ],
    }


def document_json(board: Board) -> bytes:
    """The document as indented JSON with sorted keys: the same board gives the same bytes."""
    return orjson.dumps(to_document(board), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


# --- the JSON document: import ------------------------------------------------------------------


@dataclass(slots=True)
class Imported:
    """A document turned into model entities with fresh ids, ready to be written for a new event.

    `event_fields` are keyword arguments for :class:`Event` (all but id and slug, which the
    caller chooses). Every Photo's `name` is the reader's placeholder
    (:data:`openspace.export_reader.PHOTO_NAME_PLACEHOLDER`): the caller stores each file from the
    archive under a new random name and fills it in; `photo_files` maps the new photo id to the
    file's path in the archive ("photos/photo-1.jpg").
    """

    event_fields: dict[str, Any]
    spaces: list[Space] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)
    actions: list[ActionItem] = field(default_factory=list)
    announcements: list[Announcement] = field(default_factory=list)
    photo_files: dict[str, str] = field(default_factory=dict)


def from_document(doc: object, new_id: Callable[[], str]) -> Imported:
    """Check a document strictly and build entities with fresh ids from `new_id`.

    Refuses (ValueError, naming the path: "topics[3].title: expected text") a document of another
    schema or version, with a missing key, a wrong type or a reference to nothing. Keys this
    reader does not know are ignored: adding a field is a compatible change. Topics keep their
    order (created_seq 1..n); a report's id is its topic's new id.
    """
    if not isinstance(doc, dict):
        raise ValueError("document: expected an object")
    root = Reader(doc, "")
    if root.raw("schema") != SCHEMA_NAME:
        raise ValueError(f"schema: expected {SCHEMA_NAME!r}, got {root.raw('schema')!r}")
    version = root.raw("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError("version: expected a whole number")
    if version != SCHEMA_VERSION:
        raise ValueError(f"version: this reader understands version {SCHEMA_VERSION} only, got {version}")
    event_fields = read_event(root)

    space_rows = root.items("spaces", MAX_SPACES)
    space_ids = fresh_ids(space_rows, new_id)
    spaces = [
        Space(
            id=space_ids[row.text("id")],
            name=row.text("name", required=True, limit=MAX["space_name"]),
            capacity=row.integer("capacity", 0, MAX_CAPACITY, nullable=True),
            position=row.count("position", -(2**31), 2**31),
            # added for hybrid events (#18): optional, so documents from before still read
            video_url=row.call_link("video_url") if "video_url" in row.data else "",
            virtual=row.boolean("virtual") if "virtual" in row.data else False,
        )
        for row in space_rows
    ]
    slot_rows = root.items("slots", MAX_SLOTS)
    slot_ids = fresh_ids(slot_rows, new_id)
    slots = [
        Slot(
            id=slot_ids[row.text("id")],
            day=row.day("day"),
            start=row.clock("start"),
            end=row.clock("end"),
            moves=row.count("moves"),
            label=row.text("label", limit=MAX["break_label"]) if "label" in row.data else "",
        )
        for row in slot_rows
    ]
    for row, slot in zip(slot_rows, slots, strict=True):
        if slot.end <= slot.start:
            raise ValueError(f"{row.at('end')}: must come after {row.at('start')} ({slot.start})")
    topics, topic_ids = read_topics(root, new_id, slot_ids, space_ids)
    breaks = {slot.id for slot in slots if slot.label}
    for n, topic in enumerate(topics):
        if topic.slot_id in breaks:
            raise ValueError(f"topics[{n}].slot: is a break, which holds no session")
    reports = read_reports(root, topic_ids)
    photos, files = read_photos(root, new_id, topic_ids)

    action_rows = root.items("actions", MAX_ROWS)
    action_ids = fresh_ids(action_rows, new_id)
    actions = []
    for row in action_rows:
        topic_id = row.ref("topic", topic_ids, "topic")
        assert topic_id is not None  # not nullable
        item = ActionItem(
            id=action_ids[row.text("id")],
            topic_id=topic_id,
            what=row.text("what", required=True, limit=MAX["action"]),
            who=row.text("who", limit=MAX["name"]),
            due=row.day("due", optional=True),
        )
        actions.append(item)
    note_rows = root.items("announcements", MAX_ROWS)
    note_ids = fresh_ids(note_rows, new_id)
    announcements = [
        Announcement(
            id=note_ids[row.text("id")],
            text=row.text("text", required=True, limit=MAX["announcement"]),
            created_at=row.text("created_at"),
            expires_at=row.text("expires_at"),
            audience=row.text("audience", choices=("", "online")) if "audience" in row.data else "",
        )
        for row in note_rows
    ]
    return Imported(
        event_fields=event_fields,
        spaces=spaces,
        slots=slots,
        topics=topics,
        reports=reports,
        photos=photos,
        actions=actions,
        announcements=announcements,
        photo_files=files,
    )
