"""Calendar feeds that follow the agenda (#18): what a calendar app subscribed to the event, or to
one participant's sessions, reads each time it polls.

Unlike the one-off `.ics` download (agenda.py), a feed is read again and again, so each entry
must say whether it changed: its UID stays the same ("<topic id>@openspace", the download's
too, so an imported file and a subscription update the same entries), and its SEQUENCE rises
whenever what it shows changes. Which content an entry has is decided here, purely: `entries`
gives each one with a fingerprint of that content; the caller keeps a SEQUENCE per UID and
raises it when the fingerprint changes (`openspace.outward.Outward.sequences`), then `feed`
writes the calendar. Breaks are entries too (labelled slots, and gaps between a day's slots), and a session in a
space with a call carries its link as RFC 7986's CONFERENCE and in the description.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from openspace import i18n
from openspace.domain.model import Board
from openspace.exports.agenda import PRODID, break_entry, conveners, sessions, wall_clock


@dataclass(frozen=True)
class Entry:
    uid: str
    component: icalendar.Event
    fingerprint: str
    year: int


@dataclass(frozen=True)
class Stamp:
    """What the caller keeps per UID: the SEQUENCE and when the content last changed (UTC, ISO)."""

    sequence: int
    changed_at: str


def my_topics(board: Board, participant_id: str) -> set[str]:
    """ "My sessions": the ones a participant marked, checked in to (here or online) or convenes."""
    mine = {i.topic_id for i in board.interests.values() if i.participant_id == participant_id}
    mine |= {a.topic_id for a in board.attendance.values() if a.participant_id == participant_id}
    return mine | {t.id for t in board.topics.values() if t.convened_by(participant_id)}


def entries(board: Board, session_link: Callable[[str], str], only_topics: set[str] | None = None) -> list[Entry]:
    """Every entry the feed will hold, in the event's zone, with its labels in the event's language.
    A personal feed (`only_topics`) holds its own sessions, the whole event's every session; both
    hold the breaks, labelled (lunch, coffee: slots of their own, #15) or the unnamed gaps between
    slots, since those are everyone's (#18)."""
    event = board.event
    zone = ZoneInfo(event.timezone)
    words = i18n.translations(event.language if event.language in i18n.LANGUAGES else "en")
    _ = words.ugettext
    found: list[Entry] = []
    chosen = [s for s in sessions(board) if only_topics is None or s.topic.id in only_topics]
    for session in chosen:
        topic, slot, space = session.topic, session.slot, session.space
        start, end = wall_clock(slot.day, slot.start, zone), wall_clock(slot.day, slot.end, zone)
        entry = icalendar.Event()
        entry.add("uid", f"{topic.id}@openspace")
        entry.add("dtstart", start)
        entry.add("dtend", end if end > start else end + timedelta(days=1))
        entry.add("summary", topic.title, parameters={"language": event.language})
        entry.add("location", _("Online") + f": {space.name}" if space.virtual else space.name)
        parts = []
        if names := conveners(topic):
            parts.append(_("Conveners: %(names)s") % {"names": names})
        if topic.description:
            parts.append(topic.description)
        if space.video_url:
            parts.append(_("Join the call: %(url)s") % {"url": space.video_url})
            entry.add("conference", space.video_url, parameters={"value": "URI", "feature": "VIDEO"})
        if parts:
            entry.add("description", "\n\n".join(parts), parameters={"language": event.language})
        entry.add("url", session_link(topic.id))
        found.append(_entry(entry, int(slot.day[:4])))
    for slot in board.ordered_slots():  # labelled breaks (#15): part of everyone's day, in both feeds
        if slot.label:
            found.append(_entry(break_entry(slot, zone, event.language, event.venue), int(slot.day[:4])))
    for day in board.days():  # the gaps between slots: in every feed, the personal ones too
        slots = [s for s in board.ordered_slots() if s.day == day]
        for before, after in zip(slots, slots[1:], strict=False):
            if before.end < after.start:
                entry = icalendar.Event()
                entry.add("uid", f"break-{before.id}@openspace")
                entry.add("dtstart", wall_clock(day, before.end, zone))
                entry.add("dtend", wall_clock(day, after.start, zone))
                entry.add("summary", _("Break"), parameters={"language": event.language})
                entry.add("transp", "TRANSPARENT")
                found.append(_entry(entry, int(day[:4])))
    return found


def _entry(component: icalendar.Event, year: int) -> Entry:
    fingerprint = hashlib.sha256(component.to_ical()).hexdigest()[:32]
    return Entry(str(component["uid"]), component, fingerprint, year)


def feed(board: Board, chosen: list[Entry], stamps: dict[str, Stamp], name: str) -> bytes:
    """The calendar: each entry with its SEQUENCE, and DTSTAMP and LAST-MODIFIED at its last change
    (not the clock), so an unchanged agenda gives the same bytes and the same ETag."""
    event = board.event
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", event.timezone)
    calendar.add("refresh-interval", timedelta(minutes=15), parameters={"value": "DURATION"})
    calendar.add("x-published-ttl", "PT15M")
    for item in chosen:
        stamp = stamps.get(item.uid, Stamp(0, "2000-01-01T00:00:00+00:00"))
        component = item.component  # built for this one feed: adding to it is safe
        changed = datetime.fromisoformat(stamp.changed_at).astimezone(UTC)
        component.add("dtstamp", changed)
        component.add("last-modified", changed)
        component.add("sequence", stamp.sequence)
        calendar.add_component(component)
    if chosen:
        years = [item.year for item in chosen]
        calendar.add_missing_timezones(first_date=date(min(years), 1, 1), last_date=date(max(years) + 1, 1, 1))
    ical: bytes = calendar.to_ical()
    return ical


def last_modified(stamps: dict[str, Stamp]) -> datetime | None:
    if not stamps:
        return None
    return max(datetime.fromisoformat(s.changed_at) for s in stamps.values()).astimezone(UTC)
