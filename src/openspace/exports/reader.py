"""Strict reading of an "openspace.event" document, part by part, into model entities.

A document comes from a file anyone can edit, so nothing in it is trusted: every value is checked
for its type and range, every reference must name an entity listed earlier, and every refusal
names the path of what is wrong ("topics[3].title: expected text"), so a person can fix the file.
:func:`openspace.export_data.from_document` puts the parts together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import orjson

from openspace.domain.checks import LANGUAGES, MAX, MAX_TOPICS, TIME_RE, timezones
from openspace.domain.harvest import FIELDS, MAX_DOTS, MAX_PHOTOS
from openspace.domain.model import PHASES, Photo, Report, Topic

PHOTO_NAME_PLACEHOLDER = ""  # Photo.name after import, until the caller has stored the file
PHOTO_FILE_RE = re.compile(r"^photos/[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.jpg$")
MAX_ROWS = 100_000  # photos, actions and announcements: far beyond any real event, a bound all the same
# issue #21, case 10: a file is anyone's, so every text and number has a bound. A headcount of 2**62
# made the attendance chart loop for ever (reachable through /proceedings once published).
MAX_TEXT = MAX["report"]  # any text without a tighter limit of its own
MAX_NUMBER = 1_000_000_000  # versions, revisions, moves, queue places, pixel sizes
MAX_PEOPLE = 100_000  # interest, headcounts, arrivals, dots: people in one session


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

    def text(
        self, key: str, *, required: bool = False, choices: Iterable[str] | None = None, limit: int = MAX_TEXT
    ) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise ValueError(f"{self.at(key)}: expected text")
        if len(value) > limit:
            raise ValueError(f"{self.at(key)}: at most {limit} characters, got {len(value)}")
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

    def integer(self, key: str, low: int = 0, high: int = MAX_NUMBER, *, nullable: bool = False) -> int | None:
        value = self.raw(key)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{self.at(key)}: expected a whole number{' or null' if nullable else ''}")
        if not low <= value <= high:
            raise ValueError(f"{self.at(key)}: expected a number from {low} to {high}, got {value}")
        return value

    def count(self, key: str, low: int = 0, high: int = MAX_NUMBER) -> int:
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
        "name": event.text("name", required=True, limit=MAX["event_name"]),
        "theme": event.text("theme", limit=MAX["theme"]),
        "venue": event.text("venue", limit=MAX["venue"]),
        "starts_on": event.day("starts_on", optional=True),
        "ends_on": event.day("ends_on", optional=True),
        "timezone": event.text("timezone", required=True),
        "language": event.text("language", choices=LANGUAGES),
        "licence": event.text("licence", limit=MAX["licence"]),
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
                title=row.text("title", required=True, limit=MAX["title"]),
                description=row.text("description", limit=MAX["description"]),
                convener_id=None,
                convener_name=row.text("convener_name", limit=MAX["name"]),
                status="open" if row.text("status", choices=("open", "hidden")) == "open" else "hidden",
                slot_id=slot_id,
                space_id=space_id,
                version=row.count("version", 1),
                created_seq=seq,
                pinned=row.boolean("pinned"),
                queued_seq=row.integer("queued", 1, nullable=True),
                co_conveners=row.text("co_conveners", limit=MAX["description"]),
                interest=row.count("interest", 0, MAX_PEOPLE),
                headcount=row.count("headcount", 0, MAX_PEOPLE),
                arrived=row.count("arrived", 0, MAX_PEOPLE),
                left=row.count("left", 0, MAX_PEOPLE),
                dots=row.count("dots", 0, MAX_PEOPLE),
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
            width=row.count("width", 1, 100_000),
            height=row.count("height", 1, 100_000),
            thumb_width=row.count("thumb_width", 1, 100_000),
            thumb_height=row.count("thumb_height", 1, 100_000),
            created_at=row.text("created_at"),
        )
        photos.append(photo)
        files[photo.id] = path
    return photos, files
