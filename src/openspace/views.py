"""Shaping a board for the templates: the grid by day, what sits in each cell, what is unplaced.

Pure functions of a board, so the page a person loads and the state their socket patches start
from one and the same board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from . import i18n
from .errors import N_
from .model import Board, Slot, Space, Topic
from .projection import Audience, state_for


@dataclass
class BoardView:
    board: Board
    spaces: list[Space]
    days: list[tuple[str, list[Slot]]]
    cells: dict[tuple[str, str], Topic]
    topics: list[Topic]
    unplaced: list[Topic]
    slot_states: dict[str, str] = field(default_factory=dict)

    def cell(self, slot: Slot, space: Space) -> Topic | None:
        return self.cells.get((slot.id, space.id))

    def where(self, topic: Topic) -> tuple[Slot, Space] | None:
        if not topic.placed:
            return None
        return self.board.slots[topic.slot_id], self.board.spaces[topic.space_id]  # type: ignore[index]


def board_view(board: Board, audience: Audience, slot_states: dict[str, str] | None = None) -> BoardView:
    topics = [t for t in board.ordered_topics() if audience == "facilitator" or t.status != "hidden"]
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
    )


def projector_day(view: BoardView) -> str | None:
    """The projector shows one day: the one with the slot on now or next, else the first."""
    for wanted in ("now", "next"):
        for day, slots in view.days:
            if any(view.slot_states.get(slot.id) == wanted for slot in slots):
                return day
    return view.days[0][0] if view.days else None


# The strings the browser renders by itself, translated once per page.
CLIENT_STRINGS = {
    "time": N_("Time"),
    "place": N_("%(num)s place"),
    "places": N_("%(num)s places"),
    "now": N_("Now"),
    "next": N_("Next"),
    "free": N_("Free"),
    "by": N_("by %(name)s"),
    "unplaced": N_("Not on the agenda yet"),
    "edit": N_("Edit"),
    "yours": N_("Your topic"),
    "no_topics": N_("No topics yet. Be the first to propose one!"),
    "no_slots": N_("The facilitator has not set up the agenda yet."),
    "online": N_("Connected"),
    "offline": N_("Offline. Your changes are kept and sent when the connection is back."),
    "connecting": N_("Connecting…"),
    "queued": N_("Not sent yet: waiting for the connection."),
    "sent": N_("Saved."),
    "hidden": N_("Hidden"),
    "all_placed": N_("Every topic is on the agenda."),
}


def event_days(first: str, last: str) -> list[str]:
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return []
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def page_data(board: Board, audience: Audience, me: str | None, slug: str, epoch: str) -> dict[str, Any]:
    """Everything the page's script starts from: the same state a snapshot would carry."""
    language = i18n.current_language()
    event = board.event
    days = {slot.day for slot in board.slots.values()} | set(event_days(event.starts_on, event.ends_on))
    return {
        "slug": slug,
        "seq": board.seq,
        "epoch": epoch,
        "audience": audience,
        "me": me,
        "language": language,
        "timezone": event.timezone,
        "state": state_for(board, audience),
        "dayLabels": {day: i18n.format_day(day) for day in sorted(days)},
        "dayShort": {day: i18n.format_day(day, pattern="EEE") for day in sorted(days)},
        "i18n": {key: i18n.gettext(text) for key, text in CLIENT_STRINGS.items()},
    }
