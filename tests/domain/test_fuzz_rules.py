"""S4: random sequences of every command, as every role, in every phase: no escalation, no crash,
and the board always satisfies its invariants. Property-based (hypothesis), on the pure rules."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openspace.domain import rules
from openspace.domain.errors import DomainError
from openspace.domain.model import PHASES, Board, Event, Slot, Space, Topic, apply
from tests.conftest import FACILITATOR_ACTIONS

ACTORS = [
    rules.Actor(facilitator=True),
    rules.Actor(participant_id="p1", name="Lisa"),
    rules.Actor(participant_id="p2", name="Olle"),
    rules.Actor(),  # someone who never joined
]
COMMANDS = sorted(rules.ALL_COMMANDS)
FACILITATOR_ONLY = set(FACILITATOR_ACTIONS) | {
    "event.phase", "event.options", "pitch.spotlight", "topic.pin", "topic.merge", "topic.unmerge",
    "agenda.apply", "announce", "announce.end", "bell.set", "report.lock", "report.restore", "voting.set",
    "action.add", "action.remove", "proceedings.publish",
}  # fmt: skip
TOPIC = st.sampled_from(["T1", "T2", "T3", "n0", "n1", "n2", "n3", "nope"])
SLOT = st.sampled_from(["S1", "S2", "n1", "nope"])
SPACE = st.sampled_from(["A", "B", "n0", "nope"])
ROW = st.sampled_from([f"n{k}" for k in range(12)])  # ids the rules hand out: merges, actions, announcements
FLAG = st.sampled_from(["1", "0", "", "on"])
TEXT = st.sampled_from(["Policy", "Åtgärd", "x" * 130, "", "  ", "<script>"]) | st.text(max_size=8)
TIME = st.sampled_from(["09:00", "10:00", "10:30", "11:00", "11:15", "12:00", "25:00"])
VERSION = st.sampled_from(["", "1", "2", "3"])


def args(**fields: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(fields)


TOPIC_ARGS = args(topic=TOPIC, version=VERSION)
PLAN = st.builds(lambda t, sl, sp, v: f'{{"{t}": ["{sl}", "{sp}", {v or 1}]}}', TOPIC, SLOT, SPACE, VERSION)
COMMAND_ARGS: dict[str, st.SearchStrategy[dict[str, str]]] = {
    "topic.propose": args(title=TEXT, description=TEXT),
    "topic.edit": args(topic=TOPIC, title=TEXT, version=VERSION),
    "topic.withdraw": TOPIC_ARGS,
    "topic.hide": args(topic=TOPIC, show=FLAG),
    "topic.place": args(topic=TOPIC, slot=SLOT, space=SPACE, swap_with=TOPIC | st.just(""), version=VERSION),
    "topic.unplace": TOPIC_ARGS,
    "topic.interest": args(topic=TOPIC, on=FLAG),
    "topic.pin": args(topic=TOPIC, pinned=FLAG),
    "topic.merge": args(into=TOPIC, topics=st.sampled_from(["T1 T2", "T2 T3", "T3", "T1 n0"]), title=TEXT),
    "topic.unmerge": args(merge=ROW),
    "me.rename": args(name=TEXT),
    "me.forget": args(),
    "space.add": args(name=TEXT, capacity=st.sampled_from(["", "1", "30", "0"])),
    "space.update": args(space=SPACE, name=TEXT, capacity=st.sampled_from(["", "5"])),
    "space.move": args(space=SPACE, direction=st.sampled_from(["up", "down"])),
    "space.remove": args(space=SPACE),
    "slot.add": args(day=st.just("2026-03-14"), start=TIME, end=TIME),
    "slot.update": args(slot=SLOT, day=st.just("2026-03-14"), start=TIME, end=TIME),
    "slot.remove": args(slot=SLOT),
    "event.update": args(
        name=TEXT, starts_on=st.just("2026-03-14"), timezone=st.just("Europe/Stockholm"), language=st.just("sv")
    ),
    "event.phase": args(phase=st.sampled_from(PHASES)),
    "event.options": args(self_placement=FLAG),
    "pitch.join": args(topic=TOPIC),
    "pitch.leave": args(topic=TOPIC),
    "pitch.spotlight": args(topic=TOPIC | st.just("")),
    "agenda.apply": args(plan=PLAN),
    "announce": args(text=TEXT, minutes=st.sampled_from(["", "5"])),
    "announce.end": args(announcement=ROW),
    "bell.set": args(minutes=st.sampled_from(["0", "5", "200"])),
    "attendance.in": args(topic=TOPIC),
    "attendance.out": args(topic=TOPIC),
    "attendance.erase": args(),
    "report.save": args(topic=TOPIC, base=st.sampled_from(["0", "1", "2", "9"]), discussion=TEXT, insights=TEXT),
    "report.lock": args(topic=TOPIC, locked=FLAG),
    "report.restore": args(topic=TOPIC, revision=st.sampled_from(["1", "2"])),
    "photo.remove": args(photo=ROW),
    "voting.set": args(dots=st.sampled_from(["0", "2", "11"])),
    "vote": args(topic=TOPIC, on=FLAG),
    "action.add": args(topic=TOPIC, what=TEXT, due=st.sampled_from(["", "2026-04-01", "soon"])),
    "action.remove": args(action=ROW),
    "proceedings.publish": args(published=FLAG),
}
assert set(COMMAND_ARGS) == set(COMMANDS), set(COMMANDS) ^ set(COMMAND_ARGS)
STEP = st.sampled_from(COMMANDS).flatmap(
    lambda name: st.tuples(st.just(name), st.integers(0, len(ACTORS) - 1), COMMAND_ARGS[name], st.sampled_from(PHASES))
)


def start() -> Board:
    return Board(
        event=Event(id="e", slug="s", name="Fuzz", starts_on="2026-03-14", ends_on="2026-03-14"),
        seq=1,
        spaces={"A": Space("A", "Rum A", 2, 0), "B": Space("B", "Rum B", None, 1)},
        slots={"S1": Slot("S1", "2026-03-14", "10:00", "11:00"), "S2": Slot("S2", "2026-03-14", "11:15", "12:00")},
        topics={
            "T1": Topic("T1", "Ett", convener_id="p1", convener_name="Lisa", slot_id="S1", space_id="A"),
            "T2": Topic("T2", "Två", convener_id="p2", convener_name="Olle"),
            "T3": Topic("T3", "Tre", convener_name="Kim", created_seq=3),
        },
    )


def invariants(board: Board) -> None:
    cells = Counter((t.slot_id, t.space_id) for t in board.topics.values() if t.placed and t.status != "merged")
    assert all(n == 1 for n in cells.values()), "two topics in one cell"
    for topic in board.topics.values():
        if topic.placed:
            assert topic.slot_id in board.slots and topic.space_id in board.spaces, "dangling placement"
        if topic.status != "merged":
            assert topic.interest == len(board.interested(topic.id)), "interest count drifted"
            assert topic.dots == sum(1 for v in board.votes.values() if v.topic_id == topic.id), "dots drifted"
        assert topic.headcount >= 0 and topic.interest >= 0 and topic.dots >= 0
    for report_id in board.reports:
        assert report_id in board.topics, "report of a topic that is gone"
    for row in (*board.interests.values(), *board.attendance.values(), *board.photos.values()):
        assert row.topic_id in board.topics, "row of a topic that is gone"
    per_person = Counter(v.participant_id for v in board.votes.values())
    assert all(n <= max(board.event.voting_dots, 10) for n in per_person.values())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=25))
def test_random_command_sequences_keep_the_board_sound(steps: list[tuple[str, int, dict[str, str], str]]) -> None:
    board = start()
    counter = itertools.count()
    for name, who, args, phase in steps:
        board = replace(board, event=replace(board.event, phase=phase))
        actor = ACTORS[who]
        ctx = rules.Context(actor, lambda: f"n{next(counter)}", board.seq + 1, now="2026-03-14T09:30:00+00:00")
        try:
            change = rules.decide(board, name, args, ctx)
        except DomainError:
            continue  # refused: nothing changed, which is always allowed
        if not actor.facilitator:
            if name in ("topic.place", "topic.unplace"):
                # the one way a participant moves a topic: their own, where the facilitator allows it
                own = board.topics[args["topic"]]
                assert own.convened_by(actor.participant_id) and board.event.self_placement, f"{name} by a stranger"
            else:
                assert name not in FACILITATOR_ONLY, f"{name} accepted from a non-facilitator"
            assert change.event is None or name in ("topic.place", "topic.withdraw", "pitch.leave"), name
        board = apply(board, change, board.seq + 1)
        invariants(board)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=25))
def test_one_frame_for_every_audience_only_when_each_would_get_the_same(
    steps: list[tuple[str, int, dict[str, str], str]],
) -> None:
    """change_frames builds one frame for all audiences when nothing in the change is any
    audience's to miss: every change of random days, as the log stores it (slim), must give the
    same frames as each audience's own projection."""
    from openspace.domain.patches import slim_patch
    from openspace.domain.projection import AUDIENCES, change_frame, change_frames, framed, patch_for

    board = start()
    counter = itertools.count()
    for name, who, args, phase in steps:
        board = replace(board, event=replace(board.event, phase=phase))
        ctx = rules.Context(ACTORS[who], lambda: f"n{next(counter)}", board.seq + 1, now="2026-03-14T09:30:00+00:00")
        try:
            change = rules.decide(board, name, args, ctx)
        except DomainError:
            continue
        seq = board.seq + 1
        full = slim_patch(board, change)
        projected = {a: orjson.loads(framed(seq, change.kind, patch_for(change, a, full))) for a in AUDIENCES}
        assert {a: orjson.loads(f) for a, f in change_frames(seq, change, full).items()} == projected, name
        assert {a: orjson.loads(change_frame(seq, change, a, full)) for a in AUDIENCES} == projected, name
        board = apply(board, change, seq)


def test_one_frame_serves_all_only_for_a_change_with_nothing_to_withhold() -> None:
    """Which way the test above takes, on changes of known kinds: so that it compares both."""
    from openspace.domain.model import Change
    from openspace.domain.patches import slim_patch
    from openspace.domain.projection import change_frames, seen_alike

    board = start()
    facilitator, lisa = ACTORS[0], ACTORS[1]
    cases = [
        (lisa, "topic.edit", {"topic": "T1", "title": "Nytt namn"}, True),
        (lisa, "topic.propose", {"title": "Poddar"}, True),
        (facilitator, "topic.place", {"topic": "T2", "slot": "S2", "space": "B"}, True),
        (facilitator, "topic.hide", {"topic": "T2", "show": ""}, False),  # the public loses it
        (lisa, "topic.interest", {"topic": "T2", "on": "1"}, False),  # who is interested: nobody's to see
        (facilitator, "topic.merge", {"into": "T1", "topics": "T2 T3", "title": "Ihop"}, False),  # merges
    ]
    for n, (actor, name, args, alike) in enumerate(cases):
        ctx = rules.Context(actor, lambda n=n: f"x{n}", board.seq + 1, now="2026-03-14T09:30:00+00:00")
        change = rules.decide(replace(board, event=replace(board.event, phase="marketplace")), name, args, ctx)
        assert seen_alike(slim_patch(board, change)) is alike, name
    # a harvest row whose topic is not in its change: only the facilitator gets it (projection.py)
    orphan = {"upsert": {"reports": [{"id": "T9", "discussion": "Vem vet?"}]}}
    frames = change_frames(9, Change.from_patch("report.saved", orphan), orphan)
    assert not seen_alike(orphan) and "Vem vet" in frames["facilitator"] and "Vem vet" not in frames["public"]
