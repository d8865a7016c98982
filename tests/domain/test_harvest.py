"""The harvest's rules, tested directly: reports by many hands (merge, both kept, nothing lost),
revisions, locking, photos, dot-voting and action items."""

from __future__ import annotations

import itertools
from dataclasses import replace

import orjson
import pytest

from openspace.domain import rules
from openspace.domain.errors import Forbidden, Invalid, NotFound
from openspace.domain.model import Board, Change, Event, Report, Slot, Space, Topic, apply
from openspace.domain.projection import patch_for, state_for
from openspace.domain.textmerge import union_merge

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


def test_edits_to_the_same_line_keep_both_and_refuse_nothing() -> None:
    """Issue #16: no conflict page any more. Both versions of the line stay, the others' first."""
    b = save(save(board(), LISA, 0, discussion=LINES), LISA, 1, discussion=LINES.replace("saknar en", "har ingen"))
    b = save(b, OLLE, 1, discussion=LINES.replace("saknar en", "behöver en"), insights="Olles insikt")
    merged = b.reports["T1"].discussion
    assert merged.index("Många bibliotek har ingen.") < merged.index("Många bibliotek behöver en.")
    assert merged.count("Vi pratade om policy.") == 1 and b.reports["T1"].insights == "Olles insikt"


def test_fields_merge_independently() -> None:
    b = save(board(), LISA, 0, discussion="A", insights="B")
    b = save(b, LISA, 1, discussion="A2", insights="B")
    b = save(b, OLLE, 1, discussion="A", insights="B2")
    assert (b.reports["T1"].discussion, b.reports["T1"].insights) == ("A2", "B2")


def test_a_base_from_the_future_loses_nobodys_text() -> None:
    b = save(board(), LISA, 0, discussion="Lisas text")
    b = save(b, OLLE, 7, discussion="Olles text")
    assert b.reports["T1"].discussion == "Lisas text\nOlles text"


def test_a_form_merges_against_the_texts_it_showed() -> None:
    """Typing together changes a report between revisions: the form's shown texts are its base."""
    b = save(board(), LISA, 0, discussion="Ett.\nTvå.\n")
    live = replace(b.reports["T1"], discussion="Ett, sa Lisa live.\nTvå.\n")  # typed together since
    b = replace(b, reports={**b.reports, "T1": live})
    shown = {"was_participants": "", "was_discussion": "Ett.\nTvå.\n", "was_insights": "", "was_recommendations": ""}
    b = step(b, "report.save", OLLE, topic="T1", base="1", discussion="Ett.\nTvå, sa Olle.\n", **shown)
    assert b.reports["T1"].discussion == "Ett, sa Lisa live.\nTvå, sa Olle.\n"


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "expected"),
    [
        ("a\n", "a\n", "b\n", "b\n"),
        ("a\n", "b\n", "a\n", "b\n"),
        ("a\n", "b\n", "b\n", "b\n"),
        ("a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n", "A\nb\nC\n"),
        ("a\nb\n", "x\nb\n", "y\nb\n", "y\nx\nb\n"),
        ("", "new\n", "other\n", "other\nnew\n"),
    ],
)
def test_three_way_merge(base: str, ours: str, theirs: str, expected: str | None) -> None:
    assert union_merge(base, ours, theirs) == expected


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
    photo = {"name": "a" * 22, "width": "10", "height": "10", "thumb_width": "5", "thumb_height": "5"}
    args = {"topic": "T1", "photos": [photo]}
    with pytest.raises(Invalid):  # not a command a form or a socket can send
        rules.decide(board(), "photo.add", args, rules.Context(LISA, lambda: "x", 2))
    change = rules.decide(board(), "photo.add", args, rules.Context(LISA, lambda: "x", 2), internal=True)
    b = apply(board(), change, 2)
    (photo,) = b.photos.values()
    assert photo.name == "a" * 22 and photo.id.startswith("x.")
    with pytest.raises(Forbidden):
        step(b, "photo.remove", OLLE, photo=photo.id)
    assert not step(b, "photo.remove", LISA, photo=photo.id).photos


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


# --- what the harvest shows of hidden and merged topics (note 16) ----------------------------


def photo_args(topic: str = "T1") -> dict[str, object]:
    return {
        "topic": topic,
        "photos": [{"name": "b" * 22, "width": "10", "height": "10", "thumb_width": "5", "thumb_height": "5"}],
    }


def add_photo(b: Board, actor: rules.Actor, topic: str = "T1") -> Board:
    ctx = rules.Context(actor, lambda: f"ph{b.seq}", b.seq + 1, now=f"2026-03-14T11:{b.seq:02d}:00+00:00")
    return apply(b, rules.decide(b, "photo.add", photo_args(topic), ctx, internal=True), b.seq + 1)


def harvested() -> Board:
    b = save(board(), LISA, 0, discussion="Hemligt samtal")
    b = add_photo(b, LISA)
    return step(b, "action.add", FAC, topic="T1", what="Hemlig åtgärd")


def harvest_rows(state: dict[str, object]) -> list[object]:
    return [*state["reports"], *state["photos"], *state["actions"]]  # type: ignore[misc]


def test_a_hidden_topics_report_photos_and_actions_never_reach_the_public() -> None:
    b = harvested()
    assert len(harvest_rows(state_for(b, "public"))) == 3
    b = step(b, "topic.hide", FAC, topic="T1")
    public = state_for(b, "public")
    assert harvest_rows(public) == [] and "Hemlig" not in orjson.dumps(public).decode()
    assert len(harvest_rows(state_for(b, "facilitator"))) == 3  # the facilitator still has it all


def test_harvest_changes_on_a_hidden_topic_reach_only_the_facilitator() -> None:
    b = step(harvested(), "topic.hide", FAC, topic="T1")
    ctx = rules.Context(FAC, lambda: "z", b.seq + 1)
    changes = [
        rules.decide(b, "report.save", {"topic": "T1", "base": "1", "discussion": "Ännu hemligare"}, ctx),
        rules.decide(b, "report.lock", {"topic": "T1", "locked": "1"}, ctx),
        rules.decide(b, "report.restore", {"topic": "T1", "revision": "1"}, ctx),
        rules.decide(b, "photo.add", photo_args(), ctx, internal=True),
        rules.decide(b, "action.add", {"topic": "T1", "what": "Hemligt"}, ctx),
    ]
    for change in changes:
        public = patch_for(change, "public")
        assert not {"reports", "photos", "actions"} & set(public.get("upsert", {})), change.kind
        assert "Hemlig" not in orjson.dumps(public).decode(), change.kind
        assert {"reports", "photos", "actions"} & set(patch_for(change, "facilitator")["upsert"]), change.kind


def test_harvest_changes_on_an_open_topic_reach_everyone() -> None:
    b = harvested()
    ctx = rules.Context(LISA, lambda: "z", b.seq + 1)
    report = rules.decide(b, "report.save", {"topic": "T1", "base": "1", "discussion": "Öppet"}, ctx)
    assert patch_for(report, "public")["upsert"]["reports"][0]["discussion"] == "Öppet"
    photo = rules.decide(b, "photo.add", photo_args(), ctx, internal=True)
    assert patch_for(photo, "public")["upsert"]["photos"][0]["topic_id"] == "T1"


def test_a_harvest_row_without_its_topic_is_withheld_from_the_public() -> None:
    """Fail closed: a change that does not say whose row it is cannot show it to everyone."""
    change = Change("report.saved", upserts=(Report("T1", discussion="Vem vet?"),))
    assert patch_for(change, "public") == {}
    assert patch_for(change, "facilitator")["upsert"]["reports"][0]["discussion"] == "Vem vet?"


def test_a_merged_topics_harvest_is_shown_to_nobody() -> None:
    b = step(board(), "report.save", LISA, topic="T2", base="0", discussion="Dubblett")
    b = add_photo(b, LISA, topic="T2")
    b = step(b, "topic.merge", FAC, into="T1", topics="T2", title="Policy")
    assert b.topics["T2"].status == "merged"
    for audience in ("public", "facilitator"):
        assert harvest_rows(state_for(b, audience)) == []  # type: ignore[arg-type]


def test_a_topic_shown_again_or_unmerged_brings_its_harvest_back_to_the_public() -> None:
    """Public screens dropped the harvest while the topic was hidden or folded: the change that
    makes it visible again must carry it, or open pages would miss the report until a reload."""
    hidden = step(harvested(), "topic.hide", FAC, topic="T1")
    ctx = rules.Context(FAC, lambda: "z", hidden.seq + 1)
    shown = patch_for(rules.decide(hidden, "topic.hide", {"topic": "T1", "show": "1"}, ctx), "public")
    assert {"reports", "photos", "actions"} <= set(shown["upsert"])
    b = step(board(), "report.save", LISA, topic="T2", base="0", discussion="Dubblett")
    b = add_photo(b, LISA, topic="T2")
    b = step(b, "topic.merge", FAC, into="T1", topics="T2", title="Policy")
    ctx = rules.Context(FAC, lambda: "z", b.seq + 1)
    undone = rules.decide(b, "topic.unmerge", {"merge": next(iter(b.merges))}, ctx)
    public = patch_for(undone, "public")["upsert"]
    assert public["reports"][0]["discussion"] == "Dubblett" and public["photos"][0]["topic_id"] == "T2"


# --- a clash never drops others' edits (note 18) ------------------------------------------------


def test_a_clash_with_crlf_from_the_browser_merges_every_edit_and_keeps_both_lines() -> None:
    """Lisa edits line 1 of the insights and a line of the discussion; Olle, from the older
    version, edits line 3 of the insights and the same line of the discussion. His browser sends
    CRLF line ends, as every browser does. Everything merges; the clashing line is kept twice."""
    insights = "Ett.\nTvå.\nTre.\n"
    b = save(board(), LISA, 0, discussion="Samma rad.", insights=insights)
    b = save(b, LISA, 1, discussion="Lisas rad.", insights=insights.replace("Ett.", "Ett, sa Lisa."))
    olle = {
        "topic": "T1",
        "base": "1",
        "discussion": "Olles rad.",
        "insights": insights.replace("Tre.", "Tre, sa Olle.").replace("\n", "\r\n"),
    }
    b = step(b, "report.save", OLLE, **olle)
    assert b.reports["T1"].insights == "Ett, sa Lisa.\nTvå.\nTre, sa Olle."
    assert b.reports["T1"].discussion == "Lisas rad.\nOlles rad."


# --- the dot-vote: never below zero, and new rounds (notes 21 and 23) --------------------------


def voted(dots: str = "3") -> Board:
    b = save(board(), LISA, 0, discussion="Något")
    b = step(b, "voting.set", FAC, dots=dots)
    for _ in range(3):
        b = step(b, "vote", OLLE, topic="T1", on="1")
    return b


def result(b: Board, command: str, actor: rules.Actor, **args: object) -> dict[str, object]:
    return rules.decide(b, command, args, rules.Context(actor, lambda: "r", b.seq + 1)).result


def test_dots_left_is_never_negative_after_the_facilitator_lowers_the_dots() -> None:
    b = step(voted(), "voting.set", FAC, dots="1")  # Olle has given 3
    assert result(b, "vote", OLLE, topic="T1", on="0")["left"] == 0
    assert result(b, "vote", NILS, topic="T1", on="0") == {"unchanged": True, "left": 1}
    b = save(b, LISA, 1, discussion="Något mer")
    assert result(step(b, "topic.propose", NILS, title="Ny"), "vote", OLLE, topic="T1", on="0")["left"] == 0


def test_closing_and_opening_again_continues_the_round() -> None:
    b = step(step(voted(), "voting.set", FAC, dots="0"), "voting.set", FAC, dots="3")
    assert b.topics["T1"].dots == 3 and len(b.votes) == 3
    with pytest.raises(Invalid):
        step(b, "vote", OLLE, topic="T1", on="1")  # his three dots are still given


def test_a_new_round_takes_every_dot_back_and_only_the_facilitator_starts_one() -> None:
    b = voted()
    with pytest.raises(Forbidden):
        step(b, "voting.set", LISA, dots="3", new_round="1")
    change = rules.decide(b, "voting.set", {"dots": "2", "new_round": "1"}, rules.Context(FAC, lambda: "r", b.seq + 1))
    assert change.kind == "voting.new_round" and change.result == {"cleared": 3}
    assert "votes" not in patch_for(change, "public").get("delete", {})  # who voted stays private
    b = apply(b, change, b.seq + 1)
    assert (b.topics["T1"].dots, b.votes, b.event.voting_dots) == (0, {}, 2)
    b = step(step(b, "vote", OLLE, topic="T1", on="1"), "vote", OLLE, topic="T1", on="1")
    assert b.topics["T1"].dots == 2  # a whole new set of dots


# --- whoever added a photo may remove it (note 24) ----------------------------------------------


def test_whoever_added_a_photo_may_remove_it_while_they_may_add_one() -> None:
    b = add_photo(board(), NILS)  # Nils does not convene T1
    (photo,) = b.photos.values()
    with pytest.raises(Forbidden):
        step(b, "photo.remove", OLLE, photo=photo.id)
    assert not step(b, "photo.remove", NILS, photo=photo.id).photos
    assert not step(b, "photo.remove", LISA, photo=photo.id).photos  # the convener, as before
    locked = step(b, "report.lock", FAC, topic="T1", locked="1")
    with pytest.raises(Forbidden, match="locked"):
        step(locked, "photo.remove", NILS, photo=photo.id)
    typed_in = add_photo(board(), OLLE, topic="T2")  # a topic the facilitator typed in: no convener
    (other,) = typed_in.photos.values()
    assert not step(typed_in, "photo.remove", OLLE, photo=other.id).photos
    with pytest.raises(Forbidden):
        step(typed_in, "photo.remove", NILS, photo=other.id)
    assert not step(typed_in, "photo.remove", FAC, photo=other.id).photos
