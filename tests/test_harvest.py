"""The harvest's rules, tested directly: reports by many hands (merge, conflict, nothing lost),
revisions, locking, photos, dot-voting and action items."""

from __future__ import annotations

import itertools

import orjson
import pytest

from openspace import rules
from openspace.errors import Conflict, Forbidden, Invalid, NotFound
from openspace.harvest import merge_text
from openspace.model import Board, Event, Slot, Space, Topic, apply
from openspace.projection import state_for

FAC = rules.Actor(facilitator=True)
LISA = rules.Actor(participant_id="p-lisa", name="Lisa")
OLLE = rules.Actor(participant_id="p-olle", name="Olle")
NILS = rules.Actor(participant_id="p-nils", name="Nils")


def board() -> Board:
    return Board(
        event=Event(id="e", slug="s", name="Demo", starts_on="2026-03-14", ends_on="2026-03-14"),
        seq=1,
        spaces={"A": Space("A", "Sagorummet")},
        slots={"S1": Slot("S1", "2026-03-14", "10:00", "11:00")},
        topics={
            "T1": Topic("T1", "Policy", convener_id="p-lisa", convener_name="Lisa", slot_id="S1", space_id="A"),
            "T2": Topic("T2", "Facebook", convener_name="Kim"),
        },
    )


def step(b: Board, command: str, actor: rules.Actor, **args: object) -> Board:
    ids = itertools.count()
    ctx = rules.Context(
        actor=actor, new_id=lambda: f"n{b.seq}-{next(ids)}", seq=b.seq + 1, now=f"2026-03-14T10:{b.seq:02d}:00+00:00"
    )
    return apply(b, rules.decide(b, command, args, ctx), b.seq + 1)


def save(b: Board, actor: rules.Actor, base: int, **texts: str) -> Board:
    return step(b, "report.save", actor, topic="T1", base=str(base), **texts)


LINES = "Vi pratade om policy.\nMånga bibliotek saknar en.\nFörslag: skriv en på en dag.\n"


def test_anyone_in_the_event_writes_and_every_revision_is_kept() -> None:
    b = save(board(), NILS, 0, discussion="Vi pratade om policy.")
    b = save(b, LISA, 1, discussion="Vi pratade om policy och strategi.", insights="Börja smått.")
    report = b.reports["T1"]
    assert (report.revision, report.insights) == (2, "Börja smått.")
    assert sorted(b.revisions) == ["T1:1", "T1:2"] and b.revisions["T1:1"].author == "Nils"
    assert "<p>Börja smått.</p>" in orjson.loads(report.html)["insights"]
    with pytest.raises(Forbidden):
        save(board(), rules.Actor(), 0, discussion="anonym")


def test_edits_to_different_lines_merge() -> None:
    b = save(board(), LISA, 0, discussion=LINES)
    lisa_text = LINES.replace("Vi pratade om policy.", "Vi pratade länge om policy.")
    olle_text = LINES.replace("skriv en på en dag.", "skriv en på en eftermiddag.")
    b = save(b, LISA, 1, discussion=lisa_text)
    b = save(b, OLLE, 1, discussion=olle_text)  # Olle started from revision 1 too
    merged = b.reports["T1"].discussion
    assert "länge om policy" in merged and "en eftermiddag" in merged and b.reports["T1"].revision == 3


def test_edits_to_the_same_line_conflict_and_change_nothing() -> None:
    b = save(save(board(), LISA, 0, discussion=LINES), LISA, 1, discussion=LINES.replace("saknar en", "har ingen"))
    with pytest.raises(Conflict) as conflict:
        save(b, OLLE, 1, discussion=LINES.replace("saknar en", "behöver en"))
    assert conflict.value.field == "discussion" and b.reports["T1"].revision == 2


def test_fields_merge_independently() -> None:
    b = save(board(), LISA, 0, discussion="A", insights="B")
    b = save(b, LISA, 1, discussion="A2", insights="B")
    b = save(b, OLLE, 1, discussion="A", insights="B2")
    assert (b.reports["T1"].discussion, b.reports["T1"].insights) == ("A2", "B2")


def test_a_stale_base_from_the_future_is_refused() -> None:
    with pytest.raises(Conflict):
        save(board(), LISA, 7, discussion="x")


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "expected"),
    [
        ("a\n", "a\n", "b\n", "b\n"),
        ("a\n", "b\n", "a\n", "b\n"),
        ("a\n", "b\n", "b\n", "b\n"),
        ("a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n", "A\nb\nC\n"),
        ("a\nb\n", "x\nb\n", "y\nb\n", None),
        ("", "new\n", "other\n", None),
    ],
)
def test_three_way_merge(base: str, ours: str, theirs: str, expected: str | None) -> None:
    assert merge_text(base, ours, theirs) == expected


def test_locking_and_restoring_are_the_facilitators() -> None:
    b = save(save(board(), LISA, 0, discussion="Första"), LISA, 1, discussion="Andra")
    b = step(b, "report.lock", FAC, topic="T1", locked="1")
    with pytest.raises(Forbidden):
        save(b, LISA, 2, discussion="Tredje")
    b = save(b, FAC, 2, discussion="Facilitatorn får")
    with pytest.raises(Forbidden):
        step(b, "report.restore", LISA, topic="T1", revision="1")
    b = step(b, "report.restore", FAC, topic="T1", revision="1")
    assert (b.reports["T1"].discussion, b.reports["T1"].revision, b.reports["T1"].locked) == ("Första", 4, True)
    with pytest.raises(NotFound):
        step(b, "report.restore", FAC, topic="T1", revision="99")


def test_markdown_is_sanitised_when_saved() -> None:
    b = save(board(), LISA, 0, discussion="<script>alert(1)</script> [x](javascript:alert(1)) **bra**")
    html = orjson.loads(b.reports["T1"].html)["discussion"]
    assert "<script" not in html and 'href="javascript' not in html and "<strong>bra</strong>" in html


def test_over_long_fields_are_refused() -> None:
    with pytest.raises(Invalid):
        save(board(), LISA, 0, participants="x" * 2001)


def test_photos_are_recorded_only_by_the_server() -> None:
    args = {"topic": "T1", "name": "a" * 22, "width": "10", "height": "10", "thumb_width": "5", "thumb_height": "5"}
    with pytest.raises(Invalid):  # not a command a form or a socket can send
        rules.decide(board(), "photo.add", args, rules.Context(LISA, lambda: "x", 2))
    change = rules.decide(board(), "photo.add", args, rules.Context(LISA, lambda: "x", 2), internal=True)
    b = apply(board(), change, 2)
    assert b.photos["x"].name == "a" * 22
    with pytest.raises(Forbidden):
        step(b, "photo.remove", OLLE, photo="x")
    assert not step(b, "photo.remove", LISA, photo="x").photos


def test_dot_voting_never_exceeds_the_dots() -> None:
    b = save(board(), LISA, 0, discussion="Något")
    with pytest.raises(Forbidden):
        step(b, "vote", OLLE, topic="T1", on="1")  # no round open
    b = step(b, "voting.set", FAC, dots="2")
    b = step(step(b, "vote", OLLE, topic="T1", on="1"), "vote", OLLE, topic="T1", on="1")
    with pytest.raises(Invalid):
        step(b, "vote", OLLE, topic="T1", on="1")
    assert b.topics["T1"].dots == 2
    b = step(b, "vote", OLLE, topic="T1", on="0")
    assert b.topics["T1"].dots == 1
    b = step(b, "vote", OLLE, topic="T1", on="1")
    assert b.topics["T1"].dots == 2 and len(b.votes) == 2
    with pytest.raises(Invalid):
        step(b, "vote", NILS, topic="T2", on="1")  # no report, no dots
    assert "p-olle" not in orjson.dumps(state_for(b, "facilitator")).decode()  # who voted stays private


def test_action_items() -> None:
    b = step(board(), "action.add", FAC, topic="T1", what="Skriv en policy", who="Lisa", due="2026-04-01")
    (item,) = b.actions.values()
    assert (item.what, item.who, item.due) == ("Skriv en policy", "Lisa", "2026-04-01")
    with pytest.raises(Invalid):
        step(b, "action.add", FAC, topic="T1", what="x", due="nästa vecka")
    with pytest.raises(Forbidden):
        step(b, "action.add", LISA, topic="T1", what="x")
    assert not step(b, "action.remove", FAC, action=item.id).actions


def test_withdrawing_a_topic_takes_its_harvest_along() -> None:
    b = save(board(), LISA, 0, discussion="x")
    b = step(b, "action.add", FAC, topic="T1", what="y")
    gone = step(b, "topic.withdraw", LISA, topic="T1")
    assert not gone.reports and not gone.revisions and not gone.actions
