"""The domain rules, tested directly: no server, no database."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from openspace.domain import rules
from openspace.domain.errors import Conflict, Forbidden, Invalid, NotFound
from openspace.domain.model import Board, Event, Slot, Space, Topic, apply
from tests.conftest import FACILITATOR_ACTIONS

FACILITATOR = rules.Actor(facilitator=True)
LISA = rules.Actor(participant_id="p-lisa", name="Lisa")
OLLE = rules.Actor(participant_id="p-olle", name="Olle")


def ctx(actor: rules.Actor, seq: int = 1) -> rules.Context:
    counter = itertools.count(1)
    return rules.Context(actor=actor, new_id=lambda: f"id{next(counter)}", seq=seq)


def board() -> Board:
    event = Event(id="e1", slug="abc", name="Demo", starts_on="2026-03-14", ends_on="2026-03-15")
    return Board(
        event=event,
        seq=5,
        spaces={"A": Space("A", "Sagorummet", 20, 0), "B": Space("B", "Trappan", None, 1)},
        slots={"S1": Slot("S1", "2026-03-14", "10:00", "11:00"), "S2": Slot("S2", "2026-03-14", "11:15", "12:00")},
        topics={
            "T1": Topic("T1", "Policy", convener_id="p-lisa", convener_name="Lisa", slot_id="S1", space_id="A"),
            "T2": Topic("T2", "23 saker", convener_id="p-olle", convener_name="Olle"),
        },
    )


def run(b: Board, command: str, actor: rules.Actor, **args: object) -> Board:
    change = rules.decide(b, command, args, ctx(actor, b.seq + 1))
    return apply(b, change, b.seq + 1)


def test_participant_proposes_and_is_convener() -> None:
    """A proposal carries the proposer as convener and the sequence number it was made at."""
    b = run(board(), "topic.propose", LISA, title="  Sociala medier  ", description="Varför?")
    topic = b.topics["id1"]
    assert (topic.title, topic.convener_id, topic.convener_name, topic.created_seq) == (
        "Sociala medier",
        "p-lisa",
        "Lisa",
        6,
    )


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"title": "ok", "description": "y" * 2001}, "description"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": 42}, "title"),
    ],
)
def test_bad_proposals_are_refused_with_the_field_named(args: dict[str, object], field: str) -> None:
    with pytest.raises(Invalid) as refused:
        rules.decide(board(), "topic.propose", args, ctx(LISA))
    assert refused.value.field == field


def test_anonymous_cannot_propose() -> None:
    with pytest.raises(Forbidden):
        rules.decide(board(), "topic.propose", {"title": "x"}, ctx(rules.Actor()))


def test_participant_cannot_propose_in_someone_elses_name() -> None:
    """Only the facilitator types in topics for others (from paper sheets)."""
    with pytest.raises(Forbidden):
        rules.decide(board(), "topic.propose", {"title": "x", "convener_name": "Olle"}, ctx(LISA))
    b = run(board(), "topic.propose", FACILITATOR, title="Från papper", convener_name="Kristina")
    assert (b.topics["id1"].convener_id, b.topics["id1"].convener_name) == (None, "Kristina")


def test_only_convener_or_facilitator_edits() -> None:
    with pytest.raises(Forbidden):
        rules.decide(board(), "topic.edit", {"topic": "T1", "title": "Kapat"}, ctx(OLLE))
    assert run(board(), "topic.edit", LISA, topic="T1", title="Ny").topics["T1"].title == "Ny"
    assert run(board(), "topic.edit", FACILITATOR, topic="T1", title="Ny").topics["T1"].version == 2


def test_stale_edit_is_a_conflict_not_an_overwrite() -> None:
    """The facilitator hid the topic (version 2) while Lisa edited version 1: Lisa is told."""
    b = run(board(), "topic.hide", FACILITATOR, topic="T1", version=1)
    with pytest.raises((Conflict, Forbidden)):
        rules.decide(b, "topic.edit", {"topic": "T1", "title": "Mitt", "version": "1"}, ctx(LISA))
    b2 = run(board(), "topic.edit", FACILITATOR, topic="T1", title="Fac", version="1")
    with pytest.raises(Conflict):
        rules.decide(b2, "topic.edit", {"topic": "T1", "title": "Lisa", "version": "1"}, ctx(LISA))


def test_hidden_topic_cannot_be_changed_by_its_convener() -> None:
    b = run(board(), "topic.hide", FACILITATOR, topic="T1")
    with pytest.raises(Forbidden):
        rules.decide(b, "topic.edit", {"topic": "T1", "title": "x"}, ctx(LISA))
    assert run(b, "topic.hide", FACILITATOR, topic="T1", show="1").topics["T1"].status == "open"


def test_withdraw_removes_own_topic_only() -> None:
    with pytest.raises(Forbidden):
        rules.decide(board(), "topic.withdraw", {"topic": "T1"}, ctx(OLLE))
    assert "T1" not in run(board(), "topic.withdraw", LISA, topic="T1").topics


@pytest.mark.parametrize("name", FACILITATOR_ACTIONS)
def test_facilitator_actions_are_refused_to_participants(name: str) -> None:
    args = {
        "topic": "T1",
        "space": "A",
        "slot": "S1",
        "name": "X",
        "day": "2026-03-14",
        "start": "09:00",
        "end": "09:30",
    }
    with pytest.raises(Forbidden):
        rules.decide(board(), name, args, ctx(LISA))


def test_place_into_free_cell_and_move() -> None:
    b = run(board(), "topic.place", FACILITATOR, topic="T2", slot="S1", space="B")
    assert (b.topics["T2"].slot_id, b.topics["T2"].space_id) == ("S1", "B")
    b = run(b, "topic.place", FACILITATOR, topic="T2", slot="S2", space="B")
    assert b.occupant("S1", "B") is None and b.occupant("S2", "B") == b.topics["T2"]


def test_placing_into_a_taken_cell_without_knowing_is_refused() -> None:
    """Two facilitators drop into one cell: the second saw it free, so nothing is overwritten."""
    with pytest.raises(Conflict) as refused:
        rules.decide(board(), "topic.place", {"topic": "T2", "slot": "S1", "space": "A"}, ctx(FACILITATOR))
    assert refused.value.params["title"] == "Policy"


def test_swap_with_the_occupant_seen() -> None:
    b = run(board(), "topic.place", FACILITATOR, topic="T2", slot="S2", space="B")
    b = run(b, "topic.place", FACILITATOR, topic="T2", slot="S1", space="A", swap_with="T1")
    assert b.occupant("S1", "A").id == "T2"  # type: ignore[union-attr]
    assert b.occupant("S2", "B").id == "T1"  # type: ignore[union-attr]


def test_swap_with_an_unplaced_topic_sends_the_occupant_to_the_tray() -> None:
    b = run(board(), "topic.place", FACILITATOR, topic="T2", slot="S1", space="A", swap_with="T1")
    assert not b.topics["T1"].placed and b.topics["T2"].placed


def test_swap_refused_when_the_cell_changed_hands() -> None:
    with pytest.raises(Conflict):
        rules.decide(
            board(), "topic.place", {"topic": "T2", "slot": "S1", "space": "A", "swap_with": "T9"}, ctx(FACILITATOR)
        )


def test_stale_version_refuses_a_move() -> None:
    with pytest.raises(Conflict):
        rules.decide(
            board(), "topic.place", {"topic": "T2", "slot": "S2", "space": "A", "version": "7"}, ctx(FACILITATOR)
        )


def test_unplace_and_unchanged_placement() -> None:
    b = run(board(), "topic.unplace", FACILITATOR, topic="T1")
    assert not b.topics["T1"].placed
    change = rules.decide(board(), "topic.place", {"topic": "T1", "slot": "S1", "space": "A"}, ctx(FACILITATOR))
    assert not change.upserts and change.result == {"unchanged": True}


@pytest.mark.parametrize(("kind", "arg"), [("topics", "topic"), ("slots", "slot"), ("spaces", "space")])
def test_unknown_or_foreign_ids_are_not_found(kind: str, arg: str) -> None:
    """An id from another event simply does not exist on this board."""
    args = {"topic": "T2", "slot": "S1", "space": "B", arg: "from-another-event"}
    with pytest.raises(NotFound):
        rules.decide(board(), "topic.place", args, ctx(FACILITATOR))


def test_spaces_add_rename_reorder_remove() -> None:
    b = run(board(), "space.add", FACILITATOR, name="Verkstaden", capacity="15")
    assert [s.name for s in b.ordered_spaces()] == ["Sagorummet", "Trappan", "Verkstaden"]
    b = run(b, "space.move", FACILITATOR, space="id1", direction="up")
    assert [s.name for s in b.ordered_spaces()] == ["Sagorummet", "Verkstaden", "Trappan"]
    assert [s.position for s in b.ordered_spaces()] == [0, 1, 2]
    b = run(b, "space.update", FACILITATOR, space="id1", name="Verkstan", capacity="")
    assert (b.spaces["id1"].name, b.spaces["id1"].capacity) == ("Verkstan", None)
    b = run(b, "space.remove", FACILITATOR, space="A")
    assert "A" not in b.spaces and not b.topics["T1"].placed


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"name": "sagorummet"}, "name"),
        ({"name": "X", "capacity": "0"}, "capacity"),
        ({"name": "X", "capacity": "many"}, "capacity"),
        ({"name": "X", "capacity": "10001"}, "capacity"),
    ],
)
def test_bad_spaces_are_refused(args: dict[str, str], field: str) -> None:
    with pytest.raises(Invalid) as refused:
        rules.decide(board(), "space.add", args, ctx(FACILITATOR))
    assert refused.value.field == field


def test_slots_over_two_days_sorted_and_checked() -> None:
    b = run(board(), "slot.add", FACILITATOR, day="2026-03-15", start="9:00", end="10:00")
    assert [s.day for s in b.ordered_slots()] == ["2026-03-14", "2026-03-14", "2026-03-15"]
    assert b.slots["id1"].start == "09:00"
    for args, field in [
        ({"day": "2026-03-14", "start": "10:30", "end": "11:30"}, "start"),  # overlaps S1
        ({"day": "2026-03-14", "start": "13:00", "end": "12:00"}, "end"),
        ({"day": "2026-03-16", "start": "09:00", "end": "10:00"}, "day"),  # outside the event
        ({"day": "14/3", "start": "09:00", "end": "10:00"}, "day"),
        ({"day": "2026-03-14", "start": "25:00", "end": "26:00"}, "start"),
    ]:
        with pytest.raises(Invalid) as refused:
            rules.decide(b, "slot.add", args, ctx(FACILITATOR))
        assert refused.value.field == field


def test_removing_a_slot_frees_its_topics() -> None:
    b = run(board(), "slot.remove", FACILITATOR, slot="S1")
    assert "S1" not in b.slots and not b.topics["T1"].placed


def test_event_update_checks_dates_zone_and_language() -> None:
    base = {"name": "Ny", "starts_on": "2026-03-14", "ends_on": "2026-03-15", "timezone": "Europe/Stockholm"}
    b = run(board(), "event.update", FACILITATOR, **base, language="en")
    assert (b.event.name, b.event.language) == ("Ny", "en")
    for extra, field in [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"language": "de"}, "language"),
        ({"ends_on": "2026-03-13"}, "ends_on"),
        ({"ends_on": "2026-04-30"}, "ends_on"),
        ({"starts_on": "2026-03-15"}, "starts_on"),  # slots on the 14th would fall outside
    ]:
        with pytest.raises(Invalid) as refused:
            rules.decide(board(), "event.update", {**base, "language": "sv", **extra}, ctx(FACILITATOR))
        assert refused.value.field == field


def test_rename_carries_name_to_own_topics() -> None:
    b = run(board(), "me.rename", LISA, name="Lisa B")
    assert b.topics["T1"].convener_name == "Lisa B" and b.topics["T2"].convener_name == "Olle"


def test_unknown_action() -> None:
    with pytest.raises(Invalid):
        rules.decide(board(), "board.delete_everything", {}, ctx(FACILITATOR))


def test_limits_on_counts() -> None:
    many = {f"t{i}": Topic(f"t{i}", "x") for i in range(rules.MAX_TOPICS)}
    with pytest.raises(Invalid):
        rules.decide(replace(board(), topics=many), "topic.propose", {"title": "one more"}, ctx(LISA))


def test_one_person_proposes_at_most_their_share_of_topics() -> None:
    """A loop of proposals by one participant stops at their quota (#21); others, the facilitator
    typing in sheets for people, and a topic merged away do not count against it."""
    own = {
        f"t{i}": Topic(f"t{i}", "x", convener_id=LISA.participant_id) for i in range(rules.MAX_TOPICS_PER_PERSON - 1)
    }
    assert board().topics["T1"].convener_id == LISA.participant_id  # her first
    full = replace(board(), topics={**board().topics, **own})
    with pytest.raises(Invalid) as refused:
        rules.decide(full, "topic.propose", {"title": "one more"}, ctx(LISA))
    assert refused.value.params == {"max": rules.MAX_TOPICS_PER_PERSON}
    rules.decide(full, "topic.propose", {"title": "Kims"}, ctx(rules.Actor(participant_id="p-kim", name="Kim")))
    rules.decide(full, "topic.propose", {"title": "sheet", "convener_name": "Lisa"}, ctx(FACILITATOR))
    one_merged = {**own, "t0": replace(own["t0"], status="merged")}
    rules.decide(replace(full, topics={**board().topics, **one_merged}), "topic.propose", {"title": "x"}, ctx(LISA))


ANNA_1 = rules.Actor(participant_id="p-anna1", name="Anna")
ANNA_2 = rules.Actor(participant_id="p-anna2", name="Anna")
BO = rules.Actor(participant_id="p-bo", name="Bo")


def merged_board() -> Board:
    """Lisa's T1 with topics by two people called Anna and by Bo merged into it."""
    b = board()
    for actor, tid in ((ANNA_1, "A1"), (ANNA_2, "A2"), (BO, "B")):
        own = Topic(tid, tid, convener_id=actor.participant_id, convener_name=actor.name)
        b = replace(b, topics={**b.topics, tid: own})
    b = run(b, "topic.merge", FACILITATOR, into="T1", topics="A1 A2 B", title="Policy")
    assert b.topics["T1"].co_conveners == "Anna, Bo"
    return b


def test_a_rename_reaches_the_topics_someone_co_convenes() -> None:
    b = run(merged_board(), "me.rename", BO, name="Bo Berg")
    assert b.topics["T1"].co_conveners == "Anna, Bo Berg"
    b = run(b, "me.rename", ANNA_1, name="Anna Ek")
    assert b.topics["T1"].co_conveners == "Anna, Bo Berg, Anna Ek"  # the other Anna is still Anna
    undone = run(b, "topic.unmerge", FACILITATOR, merge=next(iter(b.merges)))
    assert (undone.topics["B"].convener_name, undone.topics["A1"].convener_name) == ("Bo Berg", "Anna Ek")


def test_erasing_a_name_takes_only_ones_own_entry_as_co_convener() -> None:
    """Two co-conveners with one name both vanished; a name from before a rename stayed."""
    b = run(merged_board(), "me.forget", ANNA_1)
    assert b.topics["T1"].co_conveners == "Anna, Bo" and not b.topics["T1"].convened_by("p-anna1")
    # an older version renamed only the topics someone proposed, so "Bo" stayed in the merged list
    own = next(t for t in b.topics.values() if t.convener_id == "p-bo")
    b = replace(b, topics={**b.topics, own.id: replace(own, convener_name="Bo Berg")})
    b = run(b, "me.forget", replace(BO, name="Bo Berg"))
    assert b.topics["T1"].co_conveners == "Anna" and b.topics["T1"].co_convener_ids == "p-anna2"


def test_erasing_a_name_reaches_what_undoing_a_merge_brings_back_and_report_versions() -> None:
    from openspace.domain.model import Revision

    b = merged_board()
    versions = {
        "T1:1": Revision("T1:1", "T1", 1, "{}", "Bo", "2026-03-14T10:00:00+00:00"),
        "T1:2": Revision("T1:2", "T1", 2, "{}", "Lisa", "2026-03-14T10:05:00+00:00"),
    }
    b = run(replace(b, revisions=versions), "me.forget", BO)
    assert [r.author for r in b.revisions.values()] == ["", "Lisa"]
    assert "Bo" not in next(iter(b.merges.values())).before and "p-bo" not in next(iter(b.merges.values())).before
    undone = run(b, "topic.unmerge", FACILITATOR, merge=next(iter(b.merges)))
    back = next(t for t in undone.topics.values() if t.title == "B")
    assert (back.convener_id, back.convener_name, back.status) == (None, "", "open")
