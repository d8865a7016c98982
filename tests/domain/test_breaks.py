"""Breaks as labelled slots (#15): a lunch is a slot with a name, on every agenda, and no session
ever goes into it, whether placed by hand, by a convener, by a suggestion or by its hints."""

from __future__ import annotations

import itertools

import orjson
import pytest

from openspace.domain import hints, planning, rules
from openspace.domain.errors import Conflict, Invalid
from openspace.domain.model import Board, Event, Interest, Slot, Space, Topic, apply

FACILITATOR = rules.Actor(facilitator=True)
LISA = rules.Actor(participant_id="p-lisa", name="Lisa")


def ctx(actor: rules.Actor, seq: int = 1) -> rules.Context:
    counter = itertools.count(1)
    return rules.Context(actor=actor, new_id=lambda: f"id{next(counter)}", seq=seq)


def run(b: Board, command: str, actor: rules.Actor = FACILITATOR, **args: object) -> Board:
    change = rules.decide(b, command, args, ctx(actor, b.seq + 1))
    return apply(b, change, b.seq + 1)


def board() -> Board:
    """Two rooms, a morning slot, lunch, an afternoon slot; one topic placed, three waiting."""
    event = Event(id="e1", slug="abc", name="Demo", starts_on="2026-03-14", ends_on="2026-03-14")
    return Board(
        event=event,
        seq=5,
        spaces={"A": Space("A", "Sagorummet", 20, 0), "B": Space("B", "Trappan", None, 1)},
        slots={
            "S1": Slot("S1", "2026-03-14", "10:00", "11:00"),
            "L": Slot("L", "2026-03-14", "12:00", "13:00", label="Lunch"),
            "S2": Slot("S2", "2026-03-14", "13:00", "14:00"),
        },
        topics={
            "T1": Topic("T1", "Policy", convener_id="p-lisa", convener_name="Lisa", slot_id="S1", space_id="A"),
            "T2": Topic("T2", "23 saker", interest=3),
            "T3": Topic("T3", "Facebook", interest=2),
            "T4": Topic("T4", "Creative Commons", interest=1),
        },
        interests={f"T{n}|p{k}": Interest(f"T{n}|p{k}", f"T{n}", f"p{k}") for n in (2, 3, 4) for k in range(n)},
    )


def test_a_slot_gets_a_label_and_it_is_a_break() -> None:
    """The facilitator adds a break with its name; the label is trimmed and bounded."""
    b = run(board(), "slot.add", day="2026-03-14", start="15:00", end="15:20", label="  Fika ")
    added = b.slots["id1"]
    assert (added.label, added.is_break) == ("Fika", True)
    assert [s.id for s in b.session_slots()] == ["S1", "S2"]
    with pytest.raises(Invalid):
        run(board(), "slot.add", day="2026-03-14", start="15:00", end="15:20", label="x" * 41)


def test_placing_into_a_break_is_refused_even_for_the_facilitator() -> None:
    """A topic never lands in a break, by the grid or by a convener placing their own."""
    with pytest.raises(Invalid) as refused:
        run(board(), "topic.place", topic="T2", slot="L", space="A")
    assert refused.value.field == "slot"
    self_placing = run(board(), "event.options", self_placement="1")
    mine = run(self_placing, "topic.propose", LISA, title="Min egen")
    with pytest.raises(Invalid):
        run(mine, "topic.place", LISA, topic="id1", slot="L", space="B")


def test_a_slot_with_sessions_cannot_become_a_break_but_an_empty_one_can_and_back() -> None:
    """Renaming a slot into a break would hide its sessions: refused until they are moved."""
    with pytest.raises(Invalid):
        run(board(), "slot.update", slot="S1", day="2026-03-14", start="10:00", end="11:00", label="Fika")
    b = run(board(), "slot.update", slot="S2", day="2026-03-14", start="13:00", end="14:00", label="Fika")
    assert b.slots["S2"].label == "Fika"
    b = run(b, "slot.update", slot="S2", day="2026-03-14", start="13:00", end="14:00", label="")
    assert b.slots["S2"].label == ""
    kept = run(board(), "slot.update", slot="L", day="2026-03-14", start="12:00", end="12:45")
    assert kept.slots["L"].label == "Lunch"  # a form without the field leaves the label as it was


def test_a_suggested_agenda_never_uses_a_break() -> None:
    """The planner fills the slots for sessions only, even with more topics than those cells."""
    placement = planning.suggest(board(), replace_unpinned=True)
    assert placement and all(slot != "L" for slot, _space in placement.values())


def test_applying_a_plan_into_a_break_is_refused() -> None:
    """A plan is anyone's text: one naming a break is refused as a stale suggestion."""
    plan = orjson.dumps({"T2": ["L", "A", 1]}).decode()
    with pytest.raises(Conflict):
        run(board(), "agenda.apply", plan=plan)


def test_a_break_has_no_cell_hints() -> None:
    """Moving a topic by keyboard offers hints per cell: none for the cells of a break."""
    cells = hints.hints_for_cells(board(), "T2")
    assert cells and all(slot != "L" for slot, _space in cells)
