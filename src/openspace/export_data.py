"""Machine-readable exports of an event: sessions and actions as CSV, the agenda as iCalendar, and
the event's shared record as a versioned JSON document that can be imported again.

Pure functions of a board: no files, no network, no clock (the calendar's DTSTAMP comes from the
event's own dates), so the same board always gives the same bytes and tests need no server.
exporting.py is the I/O edge that writes these to files and archives; the JSON schema, the CSV
columns and the calendar fields are documented in docs/export-schema.md.

The JSON document is the *shared* record only. Interest marks, check-ins, votes and report
revisions are private rows and are never exported, nor is any participant id: the counters on
topics carry what may be shared. Database ids and the event's slug are addresses, not content, so
every entity gets a document-local id ("topic-3") assigned by a stable order instead.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import orjson

from .checks import LANGUAGES, MAX_SLOTS, MAX_SPACES, MAX_TOPICS, TIME_RE, timezones
from .harvest import FIELDS, MAX_DOTS, MAX_PHOTOS, has_report
from .model import PHASES, ActionItem, Announcement, Board, Photo, Report, Slot, Space, Topic

SCHEMA_NAME = "openspace.event"
SCHEMA_VERSION = 1
PRODID = "-//openspace//EN"
PHOTO_NAME_PLACEHOLDER = ""  # Photo.name after import, until the caller has stored the file
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
SESSION_COLUMNS = (
    "title",
    "conveners",
    "day",
    "start",
    "end",
    "space",
    "interest",
    "headcount",
    "arrived",
    "left",
    "dots",
    "has_report",
    *FIELDS,
    "action_items",
)
ACTION_COLUMNS = ("session", "what", "who", "due")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
REPORT_LINES = 5  # how much of a report the calendar entry quotes
PHOTO_FILE_RE = re.compile(r"^photos/[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.jpg$")
MAX_ROWS = 100_000  # photos, actions and announcements: far beyond any real event, a bound all the same


# --- the agenda: which sessions, in which order -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """An open topic placed in an existing cell: what the agenda, the CSV and the calendar list."""

    topic: Topic
    slot: Slot
    space: Space


def sessions(board: Board) -> list[Session]:
    """Open, placed topics by day, start and the space's position, as the printed grid reads."""
    found = []
    for topic in board.live_topics():
        if topic.status != "open" or topic.slot_id is None or topic.space_id is None:
            continue
        slot, space = board.slots.get(topic.slot_id), board.spaces.get(topic.space_id)
        if slot is not None and space is not None:
            found.append(Session(topic, slot, space))
    return sorted(
        found,
        key=lambda s: (s.slot.day, s.slot.start, s.slot.end, s.space.position, s.space.name, s.topic.id),
    )


def conveners(topic: Topic) -> str:
    """The convener and the co-conveners a merge added, as one line of names."""
    return ", ".join(name for name in (topic.convener_name, topic.co_conveners) if name)


def actions_of(board: Board, topic_id: str) -> list[ActionItem]:
    items = [a for a in board.actions.values() if a.topic_id == topic_id]
    return sorted(items, key=lambda a: (a.what, a.who, a.due, a.id))


def action_line(item: ActionItem) -> str:
    """ "what (who, due)", leaving out what was not given."""
    extra = ", ".join(part for part in (item.who, item.due) if part)
    return f"{item.what} ({extra})" if extra else item.what


# --- CSV ----------------------------------------------------------------------------------------


def neutralise(cell: str) -> str:
    """Stop a spreadsheet from running a cell as a formula (OWASP's CSV injection advice).

    A cell that starts with = + - @, a tab or a carriage return gets a leading single quote,
    which spreadsheets show as text. It costs "-" lists a visible quote; that is the price.
    """
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def to_csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> bytes:
    """UTF-8 with a byte order mark, so spreadsheets read å, ä and ö right; rows end in CRLF."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)  # the excel dialect: quotes where needed, "\r\n" line ends
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([neutralise(str(cell)) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def sessions_csv(board: Board) -> bytes:
    """One row per session on the agenda, with its counts, its report texts and its actions."""
    rows = []
    for session in sessions(board):
        topic = session.topic
        report = board.reports.get(topic.id)
        rows.append(
            [
                topic.title,
                conveners(topic),
                session.slot.day,
                session.slot.start,
                session.slot.end,
                session.space.name,
                topic.interest,
                topic.headcount,
                topic.arrived,
                topic.left,
                topic.dots,
                "yes" if has_report(board, topic) else "no",
                *(getattr(report, name) if report else "" for name in FIELDS),
                "; ".join(action_line(a) for a in actions_of(board, topic.id)),
            ]
        )
    return to_csv(SESSION_COLUMNS, rows)


def actions_csv(board: Board) -> bytes:
    """Every action item of an open topic: the agenda's sessions first, then unplaced topics."""
    placed = [s.topic for s in sessions(board)]
    seen = {t.id for t in placed}
    rest = [t for t in board.live_topics() if t.status == "open" and t.id not in seen]
    rows = [[topic.title, a.what, a.who, a.due] for topic in (*placed, *rest) for a in actions_of(board, topic.id)]
    return to_csv(ACTION_COLUMNS, rows)


# --- iCalendar ----------------------------------------------------------------------------------


def wall_clock(day: str, hhmm: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), tzinfo=zone)


def calendar_description(board: Board, topic: Topic) -> str:
    """Who convenes, what the topic is about, and the first lines of its report if there is one."""
    parts = []
    if names := conveners(topic):
        parts.append(f"Conveners: {names}")
    if topic.description:
        parts.append(topic.description)
    report = board.reports.get(topic.id)
    if report is not None:
        lines = [
            line.strip()
            for name in FIELDS
            if name != "participants"
            for line in getattr(report, name).splitlines()
            if line.strip()
        ]
        if lines:
            more = "\n…" if len(lines) > REPORT_LINES else ""
            parts.append("Report:\n" + "\n".join(lines[:REPORT_LINES]) + more)
    return "\n\n".join(parts)


def agenda_ics(board: Board, only_topics: set[str] | None = None, calendar_name: str | None = None) -> bytes:
    """The agenda as an iCalendar file, one VEVENT per session, times in the event's own zone.

    `only_topics` keeps just those topics ("my sessions": the caller decides whether that means
    marked or attended). UIDs are "<topic id>@openspace", so a calendar that imports the file
    again updates its entries instead of doubling them. DTSTAMP is the start of the event's
    first day, not the clock, so the same board always gives the same file.
    """
    event = board.event
    zone = ZoneInfo(event.timezone)
    chosen = [s for s in sessions(board) if only_topics is None or s.topic.id in only_topics]
    first_day = event.starts_on or min((s.slot.day for s in chosen), default="1970-01-01")
    stamp = datetime.combine(date.fromisoformat(first_day), time(), tzinfo=zone).astimezone(UTC)

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", calendar_name or event.name)
    for session in chosen:
        start = wall_clock(session.slot.day, session.slot.start, zone)
        end = wall_clock(session.slot.day, session.slot.end, zone)
        if end < start:  # a slot that runs past midnight
            end += timedelta(days=1)
        entry = icalendar.Event()
        entry.add("uid", f"{session.topic.id}@openspace")
        entry.add("dtstamp", stamp)
        entry.add("dtstart", start)
        entry.add("dtend", end)
        entry.add("summary", session.topic.title)
        entry.add("location", session.space.name)
        if description := calendar_description(board, session.topic):
            entry.add("description", description)
        calendar.add_component(entry)
    if chosen:
        years = [int(s.slot.day[:4]) for s in chosen]
        # only the years the sessions need: a VTIMEZONE from 1970 to 2038 would dwarf the agenda
        calendar.add_missing_timezones(first_date=date(min(years), 1, 1), last_date=date(max(years) + 1, 1, 1))
    ical: bytes = calendar.to_ical()
    return ical


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
    """The stored rendering (JSON text) as an object, so the document holds no JSON in a string."""
    try:
        value = orjson.loads(report.html)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


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
            {"id": space_ids[s.id], "name": s.name, "capacity": s.capacity, "position": s.position}
            for s in board.ordered_spaces()
        ],
        "slots": [
            {"id": slot_ids[s.id], "day": s.day, "start": s.start, "end": s.end, "moves": s.moves}
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
            {"id": f"announcement-{n}", "text": a.text, "created_at": a.created_at, "expires_at": a.expires_at}
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
    caller chooses). Every Photo's `name` is :data:`PHOTO_NAME_PLACEHOLDER`: the caller stores
    each file from the archive under a new random name and fills it in; `photo_files` maps the
    new photo id to the file's path in the archive ("photos/photo-1.jpg").
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


class Reader:
    """Reads one JSON object, refusing with a message that names the path of what is wrong."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected an object")
        self.data: dict[str, Any] = value
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise ValueError(f"{self.at(key)}: missing")
        return self.data[key]

    def text(self, key: str, *, required: bool = False, choices: Iterable[str] | None = None) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise ValueError(f"{self.at(key)}: expected text")
        if "\x00" in value:
            raise ValueError(f"{self.at(key)}: contains a NUL character")
        if required and not value.strip():
            raise ValueError(f"{self.at(key)}: must not be empty")
        if choices is not None and value not in (allowed := tuple(choices)):
            raise ValueError(f"{self.at(key)}: expected one of {', '.join(sorted(allowed))}, got {value!r}")
        return value

    def day(self, key: str, *, optional: bool = False) -> str:
        value = self.text(key)
        if optional and value == "":
            return value
        try:
            if date.fromisoformat(value).isoformat() == value:
                return value
        except ValueError:
            pass
        raise ValueError(f"{self.at(key)}: expected a date as YYYY-MM-DD, got {value!r}")

    def clock(self, key: str) -> str:
        value = self.text(key)
        if not TIME_RE.match(value):
            raise ValueError(f"{self.at(key)}: expected a time as HH:MM, got {value!r}")
        return value

    def integer(self, key: str, low: int = 0, high: int = 2**62, *, nullable: bool = False) -> int | None:
        value = self.raw(key)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{self.at(key)}: expected a whole number{' or null' if nullable else ''}")
        if not low <= value <= high:
            raise ValueError(f"{self.at(key)}: expected a number from {low} to {high}, got {value}")
        return value

    def count(self, key: str, low: int = 0, high: int = 2**62) -> int:
        value = self.integer(key, low, high)
        assert value is not None  # not nullable
        return value

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise ValueError(f"{self.at(key)}: expected true or false")
        return value

    def ref(self, key: str, known: dict[str, str], what: str, *, nullable: bool = False) -> str | None:
        """A document-local id of an entity listed earlier, turned into the entity's new id."""
        value = self.raw(key)
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise ValueError(f"{self.at(key)}: expected the id of a {what}{' or null' if nullable else ''}")
        if value not in known:
            raise ValueError(f"{self.at(key)}: no {what} has the id {value!r}")
        return known[value]

    def items(self, key: str, limit: int) -> list[Reader]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise ValueError(f"{self.at(key)}: expected a list")
        if len(value) > limit:
            raise ValueError(f"{self.at(key)}: at most {limit} entries, got {len(value)}")
        return [Reader(item, f"{self.at(key)}[{n}]") for n, item in enumerate(value)]


def fresh_ids(rows: list[Reader], new_id: Callable[[], str]) -> dict[str, str]:
    """Document id -> new id, refusing duplicates.

    The new ids are handed out in ascending order along the document, so entities that tie on
    their sort key (two photos taken in the same second) keep their order when exported again.
    """
    made = sorted(new_id() for _ in rows)
    if len(set(made)) != len(made):
        raise ValueError("new_id returned the same id twice")
    mapping: dict[str, str] = {}
    for row, new in zip(rows, made, strict=True):
        local = row.text("id", required=True)
        if local in mapping:
            raise ValueError(f"{row.at('id')}: the id {local!r} is used twice")
        mapping[local] = new
    return mapping


def read_event(doc: Reader) -> dict[str, Any]:
    event = Reader(doc.raw("event"), "event")
    fields: dict[str, Any] = {
        "name": event.text("name", required=True),
        "theme": event.text("theme"),
        "venue": event.text("venue"),
        "starts_on": event.day("starts_on", optional=True),
        "ends_on": event.day("ends_on", optional=True),
        "timezone": event.text("timezone", required=True),
        "language": event.text("language", choices=LANGUAGES),
        "licence": event.text("licence"),
        "phase": event.text("phase", choices=PHASES),
        "self_placement": event.boolean("self_placement"),
        "voting_dots": event.count("voting_dots", 0, MAX_DOTS),
        "published": event.boolean("published"),
    }
    if fields["timezone"] not in timezones():
        raise ValueError(f"event.timezone: unknown time zone {fields['timezone']!r}")
    if fields["starts_on"] and fields["ends_on"] and fields["ends_on"] < fields["starts_on"]:
        raise ValueError("event.ends_on: comes before event.starts_on")
    return fields


def read_topics(
    doc: Reader, new_id: Callable[[], str], slots: dict[str, str], spaces: dict[str, str]
) -> tuple[list[Topic], dict[str, str]]:
    rows = doc.items("topics", MAX_TOPICS)
    ids = fresh_ids(rows, new_id)
    topics = []
    cells: dict[tuple[str, str], str] = {}
    for seq, row in enumerate(rows, start=1):
        if row.raw("convener_id") is not None:
            raise ValueError(f"{row.at('convener_id')}: expected null (participants are not exported)")
        slot_id = row.ref("slot", slots, "slot", nullable=True)
        space_id = row.ref("space", spaces, "space", nullable=True)
        if slot_id is not None and space_id is not None:
            if (slot_id, space_id) in cells:
                raise ValueError(f"{row.path}: is in the same slot and space as {cells[slot_id, space_id]}")
            cells[slot_id, space_id] = row.path
        topics.append(
            Topic(
                id=ids[row.text("id")],
                title=row.text("title", required=True),
                description=row.text("description"),
                convener_id=None,
                convener_name=row.text("convener_name"),
                status="open" if row.text("status", choices=("open", "hidden")) == "open" else "hidden",
                slot_id=slot_id,
                space_id=space_id,
                version=row.count("version", 1),
                created_seq=seq,
                pinned=row.boolean("pinned"),
                queued_seq=row.integer("queued", 1, nullable=True),
                co_conveners=row.text("co_conveners"),
                interest=row.count("interest"),
                headcount=row.count("headcount"),
                arrived=row.count("arrived"),
                left=row.count("left"),
                dots=row.count("dots"),
            )
        )
    return topics, ids


def read_reports(doc: Reader, topics: dict[str, str]) -> list[Report]:
    reports = []
    seen: dict[str, str] = {}
    for row in doc.items("reports", MAX_TOPICS):
        topic_id = row.ref("topic", topics, "topic")
        assert topic_id is not None  # not nullable
        if topic_id in seen:
            raise ValueError(f"{row.at('topic')}: {seen[topic_id]} is already the report of this topic")
        seen[topic_id] = row.path
        html = Reader(row.raw("html"), row.at("html"))
        rendered = {key: html.text(key) for key in html.data}
        reports.append(
            Report(
                id=topic_id,
                **{name: row.text(name) for name in FIELDS},
                html=orjson.dumps(rendered).decode(),
                revision=row.count("revision"),
                locked=row.boolean("locked"),
                updated_at=row.text("updated_at"),
            )
        )
    return reports


def read_photos(doc: Reader, new_id: Callable[[], str], topics: dict[str, str]) -> tuple[list[Photo], dict[str, str]]:
    rows = doc.items("photos", MAX_ROWS)
    ids = fresh_ids(rows, new_id)
    photos: list[Photo] = []
    files: dict[str, str] = {}
    per_topic: dict[str, int] = {}
    used: set[str] = set()
    for row in rows:
        topic_id = row.ref("topic", topics, "topic")
        assert topic_id is not None  # not nullable
        per_topic[topic_id] = per_topic.get(topic_id, 0) + 1
        if per_topic[topic_id] > MAX_PHOTOS:
            raise ValueError(f"{row.at('topic')}: a session can have at most {MAX_PHOTOS} photos")
        path = row.text("file", required=True)
        if not PHOTO_FILE_RE.match(path):
            raise ValueError(f"{row.at('file')}: expected a file name like photos/photo-1.jpg, got {path!r}")
        if path in used:
            raise ValueError(f"{row.at('file')}: the file {path!r} belongs to another photo too")
        used.add(path)
        photo = Photo(
            id=ids[row.text("id")],
            topic_id=topic_id,
            name=PHOTO_NAME_PLACEHOLDER,
            width=row.count("width", 1),
            height=row.count("height", 1),
            thumb_width=row.count("thumb_width", 1),
            thumb_height=row.count("thumb_height", 1),
            created_at=row.text("created_at"),
        )
        photos.append(photo)
        files[photo.id] = path
    return photos, files


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
            name=row.text("name", required=True),
            capacity=row.integer("capacity", 0, nullable=True),
            position=row.count("position", -(2**31), 2**31),
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
        )
        for row in slot_rows
    ]
    topics, topic_ids = read_topics(root, new_id, slot_ids, space_ids)
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
            what=row.text("what", required=True),
            who=row.text("who"),
            due=row.day("due", optional=True),
        )
        actions.append(item)
    note_rows = root.items("announcements", MAX_ROWS)
    note_ids = fresh_ids(note_rows, new_id)
    announcements = [
        Announcement(
            id=note_ids[row.text("id")],
            text=row.text("text", required=True),
            created_at=row.text("created_at"),
            expires_at=row.text("expires_at"),
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
