"""The agenda as people's other tools read it: sessions and action items as CSV for spreadsheets,
and the agenda as iCalendar for calendar apps (the whole agenda, or one person's sessions).

Pure functions of a board: no files, no network, no clock (the calendar's DTSTAMP comes from the
event's own dates), so the same board always gives the same bytes and tests need no server. The
CSV columns and the calendar fields are documented in docs/export-schema.md. Typed text goes into
cells that a spreadsheet might run as formulas, so every cell is neutralised.

Both speak the event's language (#19): the CSV's header row and its yes/no, the calendar's
"Conveners:" and "Report:". A spreadsheet in a locale that writes decimals with a comma (Swedish
Excel) splits lines at ";", not ",", so the CSV uses the separator of the event's locale.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
from babel import Locale
from babel.numbers import get_decimal_symbol

from openspace import i18n
from openspace.domain.errors import N_
from openspace.domain.harvest import FIELDS, has_report
from openspace.domain.model import ActionItem, Board, Slot, Space, Topic
from openspace.exports.proceedings import field_label

PRODID = "-//openspace//EN"
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
HEADINGS = {  # the header row's words, translated when the file is written
    "title": N_("Title"),
    "conveners": N_("Conveners"),
    "day": N_("Day"),
    "start": N_("Start"),
    "end": N_("End"),
    "space": N_("Space"),
    "interest": N_("Want to go"),
    "headcount": N_("Here"),
    "arrived": N_("Came"),
    "left": N_("Left"),
    "dots": N_("Dots"),
    "has_report": N_("Has a report"),
    "action_items": N_("Action items"),
    "session": N_("Session"),
    "what": N_("What"),
    "who": N_("Who"),
    "due": N_("Due"),
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
REPORT_LINES = 5  # how much of a report the calendar entry quotes


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


def separator(language: str) -> str:
    """What spreadsheets in that language split a CSV line at: ";" where decimals take a comma."""
    return ";" if get_decimal_symbol(Locale.parse(language)) == "," else ","


def heading(column: str) -> str:
    return field_label(column) if column in FIELDS else i18n.gettext(HEADINGS[column])


def to_csv(columns: Iterable[str], rows: Iterable[Iterable[object]], language: str) -> bytes:
    """UTF-8 with a byte order mark, so spreadsheets read å, ä and ö right; rows end in CRLF.

    The header row is in `language`, and so is the separator (`separator`).
    """
    buffer = io.StringIO(newline="")
    # the excel dialect: quotes where needed (a cell holding the separator too), "\r\n" line ends
    writer = csv.writer(buffer, delimiter=separator(language))
    with i18n.speaking(language):
        writer.writerow([heading(column) for column in columns])
    for row in rows:
        writer.writerow([neutralise(str(cell)) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def sessions_csv(board: Board) -> bytes:
    """One row per session on the agenda, with its counts, its report texts and its actions."""
    with i18n.speaking(board.event.language):
        yes, no = i18n.gettext("yes"), i18n.gettext("no")
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
                yes if has_report(board, topic) else no,
                *(getattr(report, name) if report else "" for name in FIELDS),
                "; ".join(action_line(a) for a in actions_of(board, topic.id)),
            ]
        )
    return to_csv(SESSION_COLUMNS, rows, board.event.language)


def actions_csv(board: Board) -> bytes:
    """Every action item of an open topic: the agenda's sessions first, then unplaced topics."""
    placed = [s.topic for s in sessions(board)]
    seen = {t.id for t in placed}
    rest = [t for t in board.live_topics() if t.status == "open" and t.id not in seen]
    rows = [[topic.title, a.what, a.who, a.due] for topic in (*placed, *rest) for a in actions_of(board, topic.id)]
    return to_csv(ACTION_COLUMNS, rows, board.event.language)


# --- iCalendar ----------------------------------------------------------------------------------


def wall_clock(day: str, hhmm: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), tzinfo=zone)


def calendar_description(board: Board, topic: Topic) -> str:
    """Who convenes, what the topic is about, and the first lines of its report if there is one,
    in the event's language."""
    with i18n.speaking(board.event.language):
        convened, reported = i18n.gettext("Conveners: %(names)s"), i18n.gettext("Report:")
    parts = []
    if names := conveners(topic):
        parts.append(convened % {"names": names})
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
            parts.append(reported + "\n" + "\n".join(lines[:REPORT_LINES]) + more)
    return "\n\n".join(parts)


def break_entry(slot: Slot, zone: ZoneInfo, language: str, venue: str = "") -> icalendar.Event:
    """A break (a labelled slot: lunch, coffee) as a calendar entry, so a day in a calendar app
    shows it as the agenda does instead of a gap (#15). It blocks no time: TRANSP is TRANSPARENT.
    Its UID is "slot-<id>@openspace", apart from the sessions' and from the gaps' ("break-…")."""
    start, end = wall_clock(slot.day, slot.start, zone), wall_clock(slot.day, slot.end, zone)
    entry = icalendar.Event()
    entry.add("uid", f"slot-{slot.id}@openspace")
    entry.add("dtstart", start)
    entry.add("dtend", end if end > start else end + timedelta(days=1))
    entry.add("summary", slot.label, parameters={"language": language})
    if venue:
        entry.add("location", venue)
    entry.add("transp", "TRANSPARENT")
    return entry


def agenda_ics(board: Board, only_topics: set[str] | None = None, calendar_name: str | None = None) -> bytes:
    """The agenda as an iCalendar file, one VEVENT per session and per break, times in the event's
    own zone.

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
    breaks = [s for s in board.ordered_slots() if s.label]  # on everyone's day, so in "my sessions" too
    for slot in breaks:
        entry = break_entry(slot, zone, event.language, event.venue)
        entry.add("dtstamp", stamp)
        calendar.add_component(entry)
    if chosen or breaks:
        years = [int(s.slot.day[:4]) for s in chosen] + [int(s.day[:4]) for s in breaks]
        # only the years the sessions need: a VTIMEZONE from 1970 to 2038 would dwarf the agenda
        calendar.add_missing_timezones(first_date=date(min(years), 1, 1), last_date=date(max(years) + 1, 1, 1))
    ical: bytes = calendar.to_ical()
    return ical
