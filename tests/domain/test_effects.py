"""Effects beyond the board: the rule that decides a command names them on the change, so the
write path applies them in one place instead of knowing which commands have them."""

from __future__ import annotations

import itertools

from openspace.domain import rules
from openspace.domain.effects import FilesRemoved, NameForgotten, NameSet
from openspace.domain.model import Board, Change, Event, Slot, Space, Topic, apply

LISA = rules.Actor(participant_id="p-lisa", name="Lisa", browser="hash-of-lisas-browser")
FAC = rules.Actor(facilitator=True)
PHOTO = {"name": "b" * 22, "width": "10", "height": "10", "thumb_width": "5", "thumb_height": "5"}


def board() -> Board:
    return Board(
        event=Event(id="e", slug="s", name="Demo", starts_on="2026-03-14", ends_on="2026-03-14"),
        seq=1,
        spaces={"A": Space("A", "Sagorummet")},
        slots={"S1": Slot("S1", "2026-03-14", "10:00", "11:00")},
        topics={"T1": Topic("T1", "Policy", convener_id="p-lisa", convener_name="Lisa", slot_id="S1", space_id="A")},
    )


def decide(b: Board, command: str, actor: rules.Actor, internal: bool = False, **args: object) -> Change:
    ids = itertools.count()
    ctx = rules.Context(actor=actor, new_id=lambda: f"n{next(ids)}", seq=b.seq + 1, now="2026-03-14T10:00:00+00:00")
    return rules.decide(b, command, args, ctx, internal=internal)


def with_photo() -> Board:
    b = board()
    return apply(b, decide(b, "photo.add", LISA, internal=True, topic="T1", photos=[PHOTO]), b.seq + 1)


def test_a_rename_sets_the_name_kept_with_the_login() -> None:
    """me.rename carries the new name for the participant's login row, besides the board's rows."""
    change = decide(board(), "me.rename", LISA, name="Lisa B")
    assert change.effects == (NameSet("p-lisa", "Lisa B"),)
    assert change.result == {"name": "Lisa B"}  # the answer is as before


def test_forgetting_a_name_erases_it_from_the_login_and_the_kept_answers() -> None:
    """me.forget empties the login's name and the stored answers of both the browser and the person."""
    change = decide(board(), "me.forget", LISA)
    assert change.effects == (NameSet("p-lisa", ""), NameForgotten((LISA.key, "p:p-lisa")))


def test_removing_a_photo_removes_its_files_after_commit() -> None:
    """photo.remove and withdrawing a topic with photos name the files to remove; others none."""
    b = with_photo()
    photo = next(iter(b.photos.values()))
    assert decide(b, "photo.remove", LISA, photo=photo.id).effects == (FilesRemoved(("b" * 22,)),)
    withdrawn = decide(b, "topic.withdraw", LISA, topic="T1")
    assert withdrawn.effects == (FilesRemoved(("b" * 22,)),) and withdrawn.result["photos"] == ["b" * 22]
    assert decide(board(), "topic.withdraw", LISA, topic="T1").effects == ()
    assert decide(b, "topic.propose", LISA, title="Ny").effects == ()


def test_effects_never_reach_the_log_or_the_wire() -> None:
    """The patch (change log, frames) holds board rows only: a name or a file is not in it."""
    change = decide(board(), "me.rename", LISA, name="Lisa B")
    again = Change.from_patch(change.kind, change.to_patch())
    assert again.effects == () and "effects" not in change.to_patch()
