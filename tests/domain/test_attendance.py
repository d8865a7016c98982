"""The law of two feet, tested directly: one place per person per slot, moves, leaving, expiry at
the slot's end, counts, flow, privacy."""

from __future__ import annotations

import itertools

import orjson
import pytest

from openspace.domain import rules
from openspace.domain.errors import Forbidden, Invalid
from openspace.domain.model import Board, Event, Slot, Space, Topic, apply
from openspace.domain.projection import patch_for, state_for

FAC = rules.Actor(facilitator=True)
PEOPLE = [rules.Actor(participant_id=f"p{i}", name=f"Person {i}") for i in range(6)]
DURING = "2026-03-14T09:30:00+00:00"  # 10:30 in Stockholm: slot S1 (10:00–11:00) runs
BEFORE = "2026-03-14T07:00:00+00:00"
AFTER = "2026-03-14T10:05:00+00:00"  # 11:05: S1 is over


def board() -> Board:
    return Board(
        event=Event(id="e", slug="s", name="Demo", starts_on="2026-03-14", ends_on="2026-03-14"),
        seq=1,
        spaces={"A": Space("A", "Sagorummet", 3, 0), "B": Space("B", "Trappan", 25, 1)},
        slots={"S1": Slot("S1", "2026-03-14", "10:00", "11:00"), "S2": Slot("S2", "2026-03-14", "11:15", "12:00")},
        topics={
            "T1": Topic("T1", "Policy", slot_id="S1", space_id="A"),
            "T2": Topic("T2", "Facebook", slot_id="S1", space_id="B"),
            "T3": Topic("T3", "Senare", slot_id="S2", space_id="A"),
            "T4": Topic("T4", "Oplacerad"),
        },
    )


def step(b: Board, command: str, actor: rules.Actor, now: str = DURING, **args: object) -> Board:
    ids = itertools.count()
    ctx = rules.Context(actor=actor, new_id=lambda: f"id{next(ids)}", seq=b.seq + 1, now=now)
    return apply(b, rules.decide(b, command, args, ctx), b.seq + 1)


def test_checking_in_counts_and_one_place_per_person_per_slot() -> None:
    b = board()
    for person in PEOPLE[:3]:
        b = step(b, "attendance.in", person, topic="T1")
    b = step(b, "attendance.in", PEOPLE[0], topic="T1")  # again: nothing changes
    assert b.topics["T1"].headcount == 3 and b.topics["T1"].arrived == 3
    assert len(b.attendance) == 3


def test_checking_in_elsewhere_moves_the_person_and_counts_the_flow() -> None:
    b = step(step(board(), "attendance.in", PEOPLE[0], topic="T1"), "attendance.in", PEOPLE[1], topic="T1")
    b = step(b, "attendance.in", PEOPLE[0], topic="T2")
    t1, t2 = b.topics["T1"], b.topics["T2"]
    assert (t1.headcount, t1.left, t2.headcount, t2.arrived) == (1, 1, 1, 1)
    assert b.slots["S1"].moves == 1
    assert {a.topic_id for a in b.attendance.values() if a.participant_id == "p0"} == {"T2"}


def test_leaving_checks_out() -> None:
    b = step(board(), "attendance.in", PEOPLE[0], topic="T1")
    b = step(b, "attendance.out", PEOPLE[0], topic="T1")
    assert b.topics["T1"].headcount == 0 and b.topics["T1"].left == 1 and not b.attendance
    assert step(b, "attendance.out", PEOPLE[0], topic="T1").topics == b.topics  # twice: nothing more


def test_check_in_only_while_the_session_runs() -> None:
    with pytest.raises(Invalid):
        step(board(), "attendance.in", PEOPLE[0], now=BEFORE, topic="T1")
    with pytest.raises(Invalid):
        step(board(), "attendance.in", PEOPLE[0], now=AFTER, topic="T1")
    early = "2026-03-14T08:50:00+00:00"  # 09:50 local, ten minutes before
    assert step(board(), "attendance.in", PEOPLE[0], now=early, topic="T1").topics["T1"].headcount == 1


def test_check_ins_end_with_the_slot_and_the_count_stays_as_history() -> None:
    b = step(board(), "attendance.in", PEOPLE[0], topic="T1")
    b = step(b, "attendance.out", PEOPLE[0], now=AFTER, topic="T1")  # after the end: nothing to leave
    assert b.topics["T1"].headcount == 1
    b = step(b, "attendance.in", PEOPLE[0], now="2026-03-14T10:20:00+00:00", topic="T3")  # next slot
    assert b.topics["T3"].headcount == 1 and b.topics["T1"].headcount == 1


def test_only_placed_topics_and_only_people_who_joined() -> None:
    with pytest.raises(Invalid):
        step(board(), "attendance.in", PEOPLE[0], topic="T4")
    with pytest.raises(Forbidden):
        step(board(), "attendance.in", rules.Actor(), topic="T1")


def test_names_never_leave_the_server() -> None:
    b = step(board(), "attendance.in", PEOPLE[5], topic="T2")
    for audience in ("public", "facilitator"):
        assert "p5" not in orjson.dumps(state_for(b, audience)).decode()  # type: ignore[arg-type]
    ctx = rules.Context(actor=PEOPLE[4], new_id=lambda: "x", seq=9, now=DURING)
    change = rules.decide(b, "attendance.in", {"topic": "T2"}, ctx)
    assert "p4" not in orjson.dumps(patch_for(change, "facilitator")).decode()
    assert patch_for(change, "public")["upsert"]["topics"][0]["headcount"] == 2


def test_a_person_can_erase_their_attendance() -> None:
    b = step(step(board(), "attendance.in", PEOPLE[0], topic="T1"), "attendance.in", PEOPLE[1], topic="T1")
    b = step(b, "attendance.erase", PEOPLE[0])
    assert [a.participant_id for a in b.attendance.values()] == ["p1"] and b.topics["T1"].headcount == 1


def test_withdrawing_a_topic_or_removing_a_slot_drops_its_check_ins() -> None:
    b = step(board(), "attendance.in", PEOPLE[0], topic="T1")
    assert not step(b, "slot.remove", FAC, slot="S1").attendance
    assert not step(b, "topic.withdraw", FAC, topic="T1").attendance


def test_moving_a_session_to_another_time_ends_its_check_ins() -> None:
    b = step(step(board(), "attendance.in", PEOPLE[0], topic="T1"), "attendance.in", PEOPLE[1], topic="T1")
    moved = step(b, "topic.place", FAC, topic="T1", slot="S2", space="B")
    assert moved.topics["T1"].headcount == 0 and not moved.attendance
    same_slot = step(b, "topic.place", FAC, topic="T1", slot="S1", space="B", swap_with="T2")
    assert same_slot.topics["T1"].headcount == 2  # another room at the same time: people follow
    assert not step(b, "topic.unplace", FAC, topic="T1").attendance
    assert not step(b, "space.remove", FAC, space="A").attendance


def test_editing_a_slot_keeps_its_move_count() -> None:
    b = step(step(board(), "attendance.in", PEOPLE[0], topic="T1"), "attendance.in", PEOPLE[0], topic="T2")
    b = step(b, "slot.update", FAC, slot="S1", day="2026-03-14", start="10:00", end="11:05")
    assert b.slots["S1"].moves == 1


def test_walking_early_to_the_next_session_counts_the_person_once() -> None:
    from dataclasses import replace as change

    base = board()
    b = change(base, slots={**base.slots, "S2": Slot("S2", "2026-03-14", "11:05", "12:00")})
    b = step(b, "attendance.in", PEOPLE[0], now="2026-03-14T09:40:00+00:00", topic="T1")  # 10:40 in S1
    b = step(b, "attendance.in", PEOPLE[0], now="2026-03-14T09:55:00+00:00", topic="T3")  # 10:55, S2 opens early
    assert b.topics["T1"].headcount == 0 and b.topics["T1"].left == 1 and b.topics["T3"].headcount == 1
    assert [a.slot_id for a in b.attendance.values()] == ["S2"]


def test_hiding_merging_or_rescheduling_a_session_ends_its_check_ins() -> None:
    """Check-ins used to outlive these: counted twice, or stuck with nowhere to check out."""
    import orjson as json

    b = step(step(board(), "attendance.in", PEOPLE[0], topic="T1"), "attendance.in", PEOPLE[1], topic="T1")
    hidden = step(b, "topic.hide", FAC, topic="T1")
    assert hidden.topics["T1"].headcount == 0 and not hidden.attendance
    merged = step(b, "topic.merge", FAC, into="T2", topics="T1", title="Båda")
    assert merged.topics["T1"].headcount == 0 and not merged.attendance
    undone = step(merged, "topic.unmerge", FAC, merge=next(iter(merged.merges)))
    assert undone.topics["T1"].headcount == 0 and undone.topics["T1"].placed  # back, with nobody in it
    plan = json.dumps({"T1": ["S2", "B", 1]}).decode()
    moved = step(b, "agenda.apply", FAC, plan=plan)
    assert moved.topics["T1"].headcount == 0 and not moved.attendance
    later = step(moved, "attendance.in", PEOPLE[0], now="2026-03-14T10:20:00+00:00", topic="T1")
    assert later.topics["T1"].headcount == 1  # counted once, in its new time
    same_time = step(b, "agenda.apply", FAC, plan=json.dumps({"T1": ["S1", "B", 1], "T2": ["S1", "A", 1]}).decode())
    assert same_time.topics["T1"].headcount == 2  # another room at the same time: people follow
    gone = step(b, "slot.remove", FAC, slot="S1")
    assert gone.topics["T1"].headcount == 0 and not gone.topics["T1"].placed


def test_leaving_works_even_after_the_session_moved() -> None:
    """A check-in left behind (by an older version) can still be ended by its owner."""
    from dataclasses import replace as change

    b = step(board(), "attendance.in", PEOPLE[0], topic="T1")
    b = change(b, topics={**b.topics, "T1": change(b.topics["T1"], slot_id="S2", space_id="B")})
    b = step(b, "attendance.out", PEOPLE[0], topic="T1")  # was "unchanged": looked only in S2
    assert not b.attendance and b.topics["T1"].headcount == 0 and b.topics["T1"].left == 1
    b = step(b, "attendance.in", PEOPLE[1], topic="T2")
    hidden = change(b, topics={**b.topics, "T2": change(b.topics["T2"], status="hidden")})
    out = step(hidden, "attendance.out", PEOPLE[1], topic="T2")  # was refused: "not on the agenda"
    assert not out.attendance and out.topics["T2"].headcount == 0


def test_the_full_warning_names_a_room_that_can_really_be_taken() -> None:
    """The free room the warning names used to be a hidden topic's cell, and refused the move."""
    from openspace.web.views import board_view

    b = board()
    for person in PEOPLE[:4]:
        b = step(b, "attendance.in", person, topic="T1")  # 4 people, Sagorummet holds 3
    b = step(b, "topic.hide", FAC, topic="T2")
    crowded = board_view(b, "public", {"S1": "now"}).crowded()
    assert crowded["T1"] is not None and crowded["T1"].id == "B"
    moved = step(b, "topic.place", FAC, topic="T1", slot="S1", space="B")
    assert moved.occupant("S1", "B") == moved.topics["T1"] and moved.topics["T1"].headcount == 4
