"""Hints about a cell for the facilitator: who would be double-booked, which room is too small
and which free one fits, which sessions share many of their people. Advice, never a refusal.

Pure like rules.py. Split from planning.py, which scores and suggests whole agendas; both count
conveners and interested people the same way (`Conveners`, `people_of`), so those live here.
"""

from __future__ import annotations

from dataclasses import dataclass

from openspace.domain.errors import N_
from openspace.domain.model import Board, Space, Topic

# "Many" shared people: at least this many, and at least this share of the smaller topic.
SHARED_MIN_PEOPLE = 3
SHARED_MIN_FRACTION = 1 / 3


@dataclass(frozen=True)
class Hint:
    """Advice about a placement, never a refusal: the facilitator knows things the board does not."""

    code: str
    message: str  # English source string, translated at the edge, then `params` interpolated
    params: dict[str, object]


# --- who convenes what -----------------------------------------------------------------------


class Conveners:
    """Identity keys of every topic's conveners, and a name to show for each key."""

    def __init__(self, board: Board) -> None:
        self.names: dict[str, str] = {}  # key -> display name
        names_of: dict[str, set[str]] = {}  # participant id -> case-folded names they convene under
        for topic in board.topics.values():
            name = topic.convener_name.strip()
            if topic.convener_id and name:
                names_of.setdefault(topic.convener_id, set()).add(name.casefold())
                self.names.setdefault("id:" + topic.convener_id, name)
        self.keys: dict[str, frozenset[str]] = {}
        for topic in board.topics.values():
            ids = topic.convener_ids()
            keys = {"id:" + pid for pid in ids}
            known: set[str] = set()
            for pid in ids:
                known |= names_of.get(pid, set())
            names = [] if topic.convener_id else [topic.convener_name]
            names += topic.co_conveners.split(",")
            for raw in names:
                name = raw.strip()
                if name and name.casefold() not in known:
                    keys.add("name:" + name.casefold())
                    self.names.setdefault("name:" + name.casefold(), name)
            self.keys[topic.id] = frozenset(keys)


# --- hints -----------------------------------------------------------------------------------


def hints_for_cell(board: Board, topic_id: str, slot_id: str, space_id: str) -> list[Hint]:
    """What to know before putting this topic into this cell (also where it already is)."""
    return _hints(board, Conveners(board), people_of(board), topic_id, slot_id, space_id)


def hints_for_cells(board: Board, topic_id: str) -> dict[tuple[str, str], list[Hint]]:
    """Hints for putting this topic into each cell of the grid: who convenes and who comes is
    worked out once for the whole grid, not once per cell (issue #21, case 16)."""
    conveners, people = Conveners(board), people_of(board)
    return {
        (slot_id, space_id): _hints(board, conveners, people, topic_id, slot_id, space_id)
        for slot_id in board.slots
        if not board.slots[slot_id].label  # a break takes no session (#15)
        for space_id in board.spaces
    }


def hints_for_board(board: Board) -> dict[str, list[Hint]]:
    """Hints for every placed open topic where it is now (an empty list when all is well)."""
    conveners, people = Conveners(board), people_of(board)
    return {
        t.id: _hints(board, conveners, people, t.id, t.slot_id, t.space_id)
        for t in board.ordered_topics()
        if t.status == "open" and t.slot_id is not None and t.space_id is not None
    }


def people_of(board: Board) -> dict[str, set[str]]:
    """Topic id -> who wants to come, in one pass (Board.interested scans every row per call)."""
    people: dict[str, set[str]] = {}
    for row in board.interests.values():
        people.setdefault(row.topic_id, set()).add(row.participant_id)
    return people


def _hints(
    board: Board,
    conveners: Conveners,
    people: dict[str, set[str]],
    topic_id: str,
    slot_id: str,
    space_id: str,
) -> list[Hint]:
    topic = board.topics.get(topic_id)
    space = board.spaces.get(space_id)
    if topic is None or topic.status != "open" or space is None or slot_id not in board.slots:
        return []
    # The slot as it would be after the drop: the topic leaves its own cell, and whoever holds the
    # target cell is swapped into that cell (or off the board if the topic had none), as `place` does.
    here: dict[str, Topic] = {}  # space id -> topic, in this slot afterwards
    for t in board.topics.values():
        if t.id == topic.id or t.status == "merged" or t.slot_id != slot_id or t.space_id is None:
            continue
        if t.space_id != space_id:
            here[t.space_id] = t
        elif topic.slot_id == slot_id and topic.space_id is not None:
            here[topic.space_id] = t
    others = sorted((t for t in here.values() if t.status == "open"), key=lambda t: (t.created_seq, t.id))
    hints: list[Hint] = []
    mine = conveners.keys[topic.id]
    for other in others:
        for key in sorted(mine & conveners.keys[other.id]):
            name = conveners.names.get(key)
            params: dict[str, object] = {"other": other.title, "other_id": other.id}
            if name:
                message = N_("%(name)s already convenes “%(other)s” in this slot.")
                params["name"] = name
            else:
                message = N_("A convener of this topic already convenes “%(other)s” in this slot.")
            hints.append(Hint("double_booked", message, params))
    if space.capacity is not None and topic.interest > space.capacity:
        hints.append(_over_capacity(board, topic, space, set(here)))
    wanted = people.get(topic.id, set())
    for other in others:
        theirs = people.get(other.id, set())
        shared = len(wanted & theirs)
        if shared >= SHARED_MIN_PEOPLE and shared >= SHARED_MIN_FRACTION * min(len(wanted), len(theirs)):
            hints.append(
                Hint(
                    "shared_interest",
                    N_("%(count)s people want to go to both this and “%(other)s”, which is in the same slot."),
                    {"count": shared, "other": other.title, "other_id": other.id},
                )
            )
    return hints


def _over_capacity(board: Board, topic: Topic, space: Space, taken: set[str]) -> Hint:
    """The room is too small: name the smallest free room in the slot that fits, keeping the
    bigger ones for bigger topics (a room without a capacity fits anything but comes last)."""
    fits = [
        s
        for s in board.ordered_spaces()
        if s.id != space.id and s.id not in taken and (s.capacity is None or s.capacity >= topic.interest)
    ]
    fits.sort(key=lambda s: (s.capacity is None, s.capacity or 0))
    params: dict[str, object] = {"interest": topic.interest, "space": space.name, "capacity": space.capacity}
    if fits:
        params.update(suggestion=fits[0].name, suggestion_id=fits[0].id)
        message = N_(
            "%(interest)s people want to come but %(space)s holds %(capacity)s; "
            "%(suggestion)s is free in this slot and big enough."
        )
    else:
        params.update(suggestion=None, suggestion_id=None)
        message = N_(
            "%(interest)s people want to come but %(space)s holds %(capacity)s, "
            "and no free space in this slot is big enough."
        )
    return Hint("over_capacity", message, params)
