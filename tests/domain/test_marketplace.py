"""The marketplace's rules, tested directly: phases, pitching, self-placement, interest, pins,
merges and their undo, accepting a suggested agenda, announcements and the bell."""

from __future__ import annotations

import itertools
from dataclasses import replace

import orjson
import pytest

from openspace.domain import rules
from openspace.domain.errors import Conflict, Forbidden, Invalid, NotFound
from openspace.domain.model import Board, Event, Slot, Space, Topic, apply
from openspace.domain.projection import patch_for, state_for

FAC = rules.Actor(facilitator=True)
LISA = rules.Actor(participant_id="p-lisa", name="Lisa")
OLLE = rules.Actor(participant_id="p-olle", name="Olle")
NOW = "2026-03-14T09:00:00+00:00"


def board(**event: object) -> Board:
    return Board(
        event=Event(id="e1", slug="abc", name="Demo", starts_on="2026-03-14", ends_on="2026-03-14", **event),  # type: ignore[arg-type]
        seq=10,
        spaces={"A": Space("A", "Stora salen", 30, 0), "B": Space("B", "Hörnan", 5, 1)},
        slots={"S1": Slot("S1", "2026-03-14", "10:00", "11:00"), "S2": Slot("S2", "2026-03-14", "11:15", "12:00")},
        topics={
            "T1": Topic("T1", "Policy", convener_id="p-lisa", convener_name="Lisa", created_seq=1),
            "T2": Topic("T2", "Policy för sociala medier", convener_id="p-olle", convener_name="Olle", created_seq=2),
            "T3": Topic("T3", "Facebook", convener_name="Kristina", created_seq=3),
        },
    )


def step(b: Board, command: str, actor: rules.Actor, now: str = NOW, **args: object) -> Board:
    counter = itertools.count(1)
    ctx = rules.Context(actor=actor, new_id=lambda: f"n{b.seq}-{next(counter)}", seq=b.seq + 1, now=now)
    return apply(b, rules.decide(b, command, args, ctx), b.seq + 1)


def refused(b: Board, command: str, actor: rules.Actor, **args: object) -> Exception:
    with pytest.raises((Forbidden, Conflict, Invalid, NotFound)) as error:
        step(b, command, actor, **args)
    return error.value


@pytest.mark.parametrize("phase", ["opening", "closed", "sessions", "closing"])
def test_proposals_only_while_the_marketplace_is_open(phase: str) -> None:
    b = step(board(), "event.phase", FAC, phase=phase)
    assert b.event.phase == phase
    error = refused(b, "topic.propose", LISA, title="Sent")
    assert isinstance(error, Forbidden) and "closed" in error.message
    assert len(b.topics) == 3
    assert len(step(b, "topic.propose", FAC, title="Från lapp", convener_name="Nils").topics) == 4


def test_unknown_phase_and_participants_cannot_change_it() -> None:
    assert isinstance(refused(board(), "event.phase", FAC, phase="party"), Invalid)
    assert isinstance(refused(board(), "event.phase", LISA, phase="closed"), Forbidden)


def test_withdrawing_needs_an_open_marketplace_too() -> None:
    b = step(board(), "event.phase", FAC, phase="sessions")
    assert isinstance(refused(b, "topic.withdraw", LISA, topic="T1"), Forbidden)


def test_the_pitch_queue_keeps_the_order_people_asked_in() -> None:
    b = step(board(), "pitch.join", OLLE, topic="T2")
    b = step(b, "pitch.join", LISA, topic="T1")
    b = step(b, "pitch.join", OLLE, topic="T2")  # asking twice keeps the first place
    assert [t.id for t in b.pitch_queue()] == ["T2", "T1"]
    assert isinstance(refused(b, "pitch.join", LISA, topic="T2"), Forbidden)  # not hers


def test_spotlight_then_place_in_one_step_clears_queue_and_spotlight() -> None:
    b = step(board(), "pitch.join", OLLE, topic="T2")
    b = step(b, "pitch.spotlight", FAC, topic="T2")
    assert b.event.spotlight == "T2"
    assert isinstance(refused(b, "pitch.spotlight", LISA, topic="T1"), Forbidden)
    b = step(b, "topic.place", FAC, topic="T2", slot="S1", space="A")
    assert b.topics["T2"].placed and b.topics["T2"].queued_seq is None and b.event.spotlight is None


def test_leaving_the_queue_and_clearing_the_spotlight() -> None:
    b = step(step(board(), "pitch.join", LISA, topic="T1"), "pitch.spotlight", FAC, topic="T1")
    b = step(b, "pitch.leave", LISA, topic="T1")
    assert b.pitch_queue() == [] and b.event.spotlight is None
    b = step(step(b, "pitch.spotlight", FAC, topic="T3"), "pitch.spotlight", FAC, topic="")
    assert b.event.spotlight is None


def test_self_placement_is_off_unless_the_facilitator_allows_it() -> None:
    error = refused(board(), "topic.place", LISA, topic="T1", slot="S1", space="A")
    assert isinstance(error, Forbidden)
    b = step(board(), "event.options", FAC, self_placement="1")
    b = step(b, "topic.place", LISA, topic="T1", slot="S1", space="A")
    assert b.topics["T1"].placed
    assert isinstance(refused(b, "topic.place", OLLE, topic="T1", slot="S2", space="A"), Forbidden)  # not his
    b = step(b, "topic.unplace", LISA, topic="T1")
    assert not b.topics["T1"].placed


def test_two_conveners_grab_the_same_free_cell() -> None:
    b = step(board(), "event.options", FAC, self_placement="on")
    b = step(b, "topic.place", LISA, topic="T1", slot="S1", space="A")
    error = refused(b, "topic.place", OLLE, topic="T2", slot="S1", space="A")
    assert isinstance(error, Conflict) and error.params["title"] == "Policy"
    error = refused(b, "topic.place", OLLE, topic="T2", slot="S1", space="A", swap_with="T1")  # no swaps
    assert isinstance(error, Conflict)
    assert b.occupant("S1", "A").id == "T1"  # type: ignore[union-attr]


def test_pinned_topics_stay_put_for_conveners_and_closed_marketplace_stops_them() -> None:
    b = step(board(), "event.options", FAC, self_placement="1")
    b = step(step(b, "topic.place", FAC, topic="T1", slot="S1", space="A"), "topic.pin", FAC, topic="T1", pinned="1")
    assert isinstance(refused(b, "topic.place", LISA, topic="T1", slot="S2", space="A"), Forbidden)
    assert step(b, "topic.place", FAC, topic="T1", slot="S2", space="A").topics["T1"].slot_id == "S2"
    closed = step(step(b, "topic.pin", FAC, topic="T1", pinned=""), "event.phase", FAC, phase="closed")
    assert isinstance(refused(closed, "topic.place", LISA, topic="T1", slot="S2", space="B"), Forbidden)


def test_interest_counts_once_per_person_and_names_never_leave() -> None:
    nils = rules.Actor(participant_id="p-nils", name="Nils")
    b = step(board(), "topic.interest", nils, topic="T2", on="1")
    b = step(b, "topic.interest", nils, topic="T2", on="1")  # again: still one
    b = step(b, "topic.interest", OLLE, topic="T2", on="1")
    assert b.topics["T2"].interest == 2 and b.interested("T2") == {"p-nils", "p-olle"}
    b = step(b, "topic.interest", OLLE, topic="T2", on="0")
    assert b.topics["T2"].interest == 1
    for audience in ("public", "facilitator"):
        assert "p-nils" not in orjson.dumps(state_for(b, audience)).decode()  # type: ignore[arg-type]
    assert isinstance(refused(b, "topic.interest", rules.Actor(), topic="T2", on="1"), Forbidden)


def test_merging_duplicates_carries_conveners_and_interest_without_double_counting() -> None:
    b = board()
    for actor, topic in ((LISA, "T1"), (OLLE, "T1"), (OLLE, "T2"), (rules.Actor(participant_id="p-k"), "T2")):
        b = step(b, "topic.interest", actor, topic=topic, on="1")
    b = step(b, "pitch.join", OLLE, topic="T2")
    b = step(b, "topic.merge", FAC, into="T1", topics="T2, T3", title="Policy och strategi", description="Sammanslaget")
    kept = b.topics["T1"]
    assert (kept.title, kept.description, kept.interest) == ("Policy och strategi", "Sammanslaget", 3)
    assert kept.convened_by("p-olle") and kept.co_conveners == "Olle, Kristina"
    assert kept.queued_seq is not None  # Olle's place in the queue carries over
    assert b.interested("T1") == {"p-lisa", "p-olle", "p-k"}
    assert b.topics["T2"].status == b.topics["T3"].status == "merged"
    merge_change = rules.decide(
        board(), "topic.merge", {"into": "T1", "topics": "T2", "title": "X"}, rules.Context(FAC, lambda: "m", 11)
    )
    public = patch_for(merge_change, "public")
    assert public["delete"]["topics"] == ["T2"] and "merges" not in public.get("upsert", {})
    assert "merges" in patch_for(merge_change, "facilitator")["upsert"]


def test_a_merge_into_a_placed_topic_leaves_the_pitch_queue_empty() -> None:
    """A placed topic has been pitched: a queued duplicate folded into it takes no queue place (#19)."""
    b = step(board(), "topic.place", FAC, topic="T1", slot="S1", space="A")
    b = step(step(b, "pitch.join", OLLE, topic="T2"), "pitch.join", FAC, topic="T3")
    b = step(b, "topic.merge", FAC, into="T1", topics="T2", title="Policy")
    assert b.topics["T1"].placed and b.topics["T1"].queued_seq is None
    assert [t.id for t in b.pitch_queue()] == ["T3"]


def test_undoing_a_merge_restores_topics_and_interest() -> None:
    b = board()
    b = step(step(b, "topic.interest", LISA, topic="T2", on="1"), "topic.interest", OLLE, topic="T1", on="1")
    b = step(b, "topic.place", FAC, topic="T2", slot="S2", space="B")
    before = b
    b = step(b, "topic.merge", FAC, into="T1", topics="T2", title="Båda")
    merge_id = next(iter(b.merges))
    b = step(b, "topic.unmerge", FAC, merge=merge_id)
    for tid in ("T1", "T2"):
        old, new = before.topics[tid], b.topics[tid]
        assert (new.title, new.status, new.interest, new.slot_id, new.co_conveners) == (
            old.title,
            old.status,
            old.interest,
            old.slot_id,
            old.co_conveners,
        )
    assert b.interested("T1") == {"p-olle"} and b.interested("T2") == {"p-lisa"} and not b.merges
    assert isinstance(refused(b, "topic.unmerge", FAC, merge=merge_id), NotFound)


def test_merge_needs_another_topic_and_the_facilitator() -> None:
    assert isinstance(refused(board(), "topic.merge", FAC, into="T1", topics="T1", title="x"), Invalid)
    assert isinstance(refused(board(), "topic.merge", LISA, into="T1", topics="T2", title="x"), Forbidden)


def test_accepting_a_suggested_agenda_applies_all_or_nothing() -> None:
    b = board()
    plan = orjson.dumps({"T1": ["S1", "A", 1], "T2": ["S1", "B", 1], "T3": ["S2", "A", 1]}).decode()
    done = step(b, "agenda.apply", FAC, plan=plan)
    assert [done.topics[t].slot_id for t in ("T1", "T2", "T3")] == ["S1", "S1", "S2"]
    moved_on = step(b, "topic.edit", FAC, topic="T2", title="Ändrad")
    assert isinstance(refused(moved_on, "agenda.apply", FAC, plan=plan), Conflict)
    taken = step(b, "topic.place", FAC, topic="T3", slot="S1", space="A")
    clash = orjson.dumps({"T1": ["S1", "A", 1]}).decode()
    assert isinstance(refused(taken, "agenda.apply", FAC, plan=clash), Conflict)
    assert isinstance(refused(b, "agenda.apply", FAC, plan="{not json"), Invalid)
    assert isinstance(refused(b, "agenda.apply", LISA, plan=plan), Forbidden)


def test_announcements_expire_and_are_tidied_away() -> None:
    b = step(board(), "announce", FAC, text="Lunch kl. 12", minutes="30")
    (row,) = b.announcements.values()
    assert (row.text, row.expires_at) == ("Lunch kl. 12", "2026-03-14T09:30:00+00:00")
    later = step(b, "announce", FAC, now="2026-03-14T10:00:00+00:00", text="Avslutningscirkel om 10 minuter")
    assert [a.text for a in later.announcements.values()] == ["Avslutningscirkel om 10 minuter"]
    assert step(later, "announce.end", FAC, announcement=next(iter(later.announcements))).announcements == {}
    assert isinstance(refused(b, "announce", LISA, text="Gratis glass!"), Forbidden)
    assert isinstance(refused(b, "announce", FAC, text="x" * 201), Invalid)


def test_the_bell_counts_down_and_stops() -> None:
    b = step(board(), "bell.set", FAC, minutes="5")
    assert b.event.bell_until == "2026-03-14T09:05:00+00:00"
    assert step(b, "bell.set", FAC, minutes="0").event.bell_until == ""
    assert isinstance(refused(b, "bell.set", OLLE, minutes="1"), Forbidden)


def test_withdrawn_topics_take_their_interest_marks_along() -> None:
    b = step(board(), "topic.interest", OLLE, topic="T1", on="1")
    b = step(b, "topic.withdraw", LISA, topic="T1")
    assert "T1" not in b.topics and b.interests == {}


def test_merged_topics_cannot_be_placed() -> None:
    b = step(board(), "topic.merge", FAC, into="T1", topics="T2", title="x")
    assert isinstance(refused(b, "topic.place", FAC, topic="T2", slot="S1", space="A"), NotFound)
    assert replace(b.topics["T1"], title="x").title == "x"


def test_a_hidden_topics_title_never_reaches_a_convener_through_a_conflict() -> None:
    b = step(board(), "event.options", FAC, self_placement="1")
    # hiding takes a topic off the grid now; an older version left hidden topics in their cells
    left_behind = replace(b.topics["T3"], status="hidden", slot_id="S1", space_id="A")
    b = replace(b, topics={**b.topics, "T3": left_behind})
    error = refused(b, "topic.place", LISA, topic="T1", slot="S1", space="A")
    assert isinstance(error, Conflict) and "Facebook" not in str(error) and not error.params


def test_folded_topics_cannot_be_edited_withdrawn_or_shown_again() -> None:
    b = step(board(), "topic.merge", FAC, into="T1", topics="T2", title="Båda")
    for command, args in (("topic.edit", {"title": "x"}), ("topic.withdraw", {}), ("topic.hide", {"show": "1"})):
        assert isinstance(refused(b, command, FAC, topic="T2", **args), NotFound)
    assert b.topics["T2"].status == "merged"


def test_accepting_a_plan_clears_the_spotlight_of_a_topic_it_places() -> None:
    b = step(board(), "pitch.spotlight", FAC, topic="T1")
    b = step(b, "agenda.apply", FAC, plan=orjson.dumps({"T1": ["S1", "A", 1]}).decode())
    assert b.event.spotlight is None and b.topics["T1"].placed
    change = rules.decide(b, "agenda.apply", {"plan": "{}"}, rules.Context(FAC, lambda: "x", 99))
    assert change.result == {"placed": 0, "unchanged": True}


def test_hiding_takes_a_topic_off_the_grid_so_its_cell_really_is_free() -> None:
    """A hidden topic looked like a free cell to everyone else; now the cell is free."""
    b = step(board(), "event.options", FAC, self_placement="1")
    b = step(step(b, "topic.place", FAC, topic="T3", slot="S1", space="A"), "topic.hide", FAC, topic="T3")
    assert not b.topics["T3"].placed and b.topics["T3"].status == "hidden"
    b = step(b, "topic.place", LISA, topic="T1", slot="S1", space="A")  # was refused: "That cell is taken"
    assert b.occupant("S1", "A") == b.topics["T1"]
    error = refused(b, "topic.place", FAC, topic="T3", slot="S2", space="A")
    assert isinstance(error, Invalid) and not b.topics["T3"].placed  # hidden topics stay off the agenda
    shown = step(b, "topic.hide", FAC, topic="T3", show="1")
    assert shown.topics["T3"].status == "open" and step(shown, "topic.place", FAC, topic="T3", slot="S2", space="A")
    mine_hidden = step(b, "topic.hide", FAC, topic="T1")
    assert isinstance(refused(mine_hidden, "topic.place", LISA, topic="T1", slot="S2", space="B"), Forbidden)


def test_withdrawing_the_kept_topic_of_a_merge_gives_the_folded_topics_back() -> None:
    """The folded topics used to stay merged, seen by nobody, for good."""
    b = step(board(), "topic.interest", OLLE, topic="T2", on="1")
    b = step(b, "topic.place", FAC, topic="T2", slot="S2", space="B")
    b = step(b, "topic.merge", FAC, into="T1", topics="T2 T3", title="Policy, sammanslaget")
    b = step(b, "topic.withdraw", LISA, topic="T1")
    assert "T1" not in b.topics and not b.merges
    assert b.topics["T2"].status == b.topics["T3"].status == "open"
    assert (b.topics["T2"].slot_id, b.topics["T2"].space_id, b.topics["T2"].interest) == ("S2", "B", 1)
    assert b.interested("T2") == {"p-olle"} and b.interested("T1") == set()
    public = [t["id"] for t in state_for(b, "public")["topics"]]
    assert public == ["T2", "T3"]


def decided(b: Board, command: str, actor: rules.Actor, **args: object) -> rules.Change:
    ctx = rules.Context(actor=actor, new_id=lambda: "n", seq=b.seq + 1, now=NOW)
    return rules.decide(b, command, args, ctx, internal=True)


def test_undoing_a_withdrawal_brings_back_the_topic_its_marks_and_queue_place() -> None:
    """#15: the rows the withdrawal's result carries put it back as it was, its cell if still free."""
    b = step(board(), "pitch.join", LISA, topic="T1")
    b = step(b, "pitch.join", OLLE, topic="T2")
    b = step(b, "topic.interest", OLLE, topic="T1", on="1")
    b = step(b, "topic.place", FAC, topic="T1", slot="S1", space="A")
    b = step(b, "pitch.join", LISA, topic="T1")  # placed topics leave the queue; back in it
    change = rules.decide(b, "topic.withdraw", {"topic": "T1"}, rules.Context(LISA, lambda: "n", b.seq + 1, NOW))
    rows = change.result["withdrawn"]
    assert rows["marked"] == ["p-olle"] and rows["topic"]["title"] == "Policy"
    gone = apply(b, change, b.seq + 1)
    assert "T1" not in gone.topics and not gone.interests
    back = apply(gone, decided(gone, "topic.restore", LISA, rows=orjson.loads(orjson.dumps(rows))), gone.seq + 1)
    topic = back.topics["T1"]
    assert (topic.title, topic.convener_id, topic.interest, topic.slot_id) == ("Policy", "p-lisa", 1, "S1")
    assert [t.id for t in back.pitch_queue()] == ["T2", "T1"] and set(back.interests) == {"T1|p-olle"}
    assert topic.version == b.topics["T1"].version + 1  # an edit form open on the old version is told
    again = decided(back, "topic.restore", LISA, rows=rows)
    assert again.result.get("unchanged") and not again.upserts
    taken = step(gone, "topic.place", FAC, topic="T3", slot="S1", space="A")
    assert apply(taken, decided(taken, "topic.restore", LISA, rows=rows), taken.seq + 1).topics["T1"].slot_id is None
    with pytest.raises(Forbidden):  # only its convener or the facilitator
        decided(gone, "topic.restore", OLLE, rows=rows)
    with pytest.raises(NotFound):  # nothing sealed, or a seal that did not hold
        decided(gone, "topic.restore", LISA, rows=None)
    with pytest.raises(Invalid):  # never from a form or a socket
        rules.decide(gone, "topic.restore", {"rows": rows}, rules.Context(LISA, lambda: "n", gone.seq + 1, NOW))
