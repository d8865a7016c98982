"""Each person's own on a board, found in one pass, is what looking through the board for them finds."""

from __future__ import annotations

import random
from dataclasses import replace

from openspace.domain import hybrid, owned
from openspace.domain.model import Attendance, Board, Event, Interest, Slot, Vote


def reference(board: Board, me: str) -> tuple[list[str], dict[str, str], int, list[str], bool]:
    """The same, looked for one person at a time, as own_data and following_online did."""
    mine = [a for a in board.attendance.values() if a.participant_id == me and a.slot_id in board.slots]
    latest = max(mine, key=lambda a: (board.slots[a.slot_id].day, board.slots[a.slot_id].start)) if mine else None
    return (
        sorted(i.topic_id for i in board.interests.values() if i.participant_id == me),
        {a.slot_id: a.topic_id for a in board.attendance.values() if a.participant_id == me},
        sum(1 for v in board.votes.values() if v.participant_id == me),
        sorted(a.slot_id for a in board.attendance.values() if a.participant_id == me and a.online),
        latest is not None and latest.online,
    )


def random_board(rng: random.Random, seq: int) -> Board:
    days, starts = ["2026-03-14", "2026-03-15"], ["09:00", "10:00", "10:00", "13:00"]  # two slots at one time
    slots = {f"s{i}": Slot(id=f"s{i}", day=rng.choice(days), start=rng.choice(starts), end="23:00") for i in range(6)}
    people, topics = [f"p{i}" for i in range(12)], [f"t{i}" for i in range(8)]
    interests = {f"{t}|{p}": Interest(f"{t}|{p}", t, p) for t in topics for p in people if rng.random() < 0.3}
    attendance = {}
    for p in people:
        for s in [*slots, "gone"]:  # a check-in in a slot since deleted counts for nothing but its row
            if rng.random() < 0.4:
                attendance[f"{s}|{p}"] = Attendance(f"{s}|{p}", s, rng.choice(topics), p, rng.random() < 0.3)
    votes = {f"v{i}": Vote(f"v{i}", rng.choice(people), rng.choice(topics)) for i in range(rng.randint(0, 20))}
    event = Event(id="e", slug="s", name="Dag", starts_on="2026-03-14")
    return Board(event=event, seq=seq, slots=slots, interests=interests, attendance=attendance, votes=votes)


def test_everyones_own_found_at_once_is_what_looking_for_each_finds() -> None:
    rng = random.Random(3)
    for seq in range(200):
        board = random_board(rng, seq)
        for me in [f"p{i}" for i in range(13)]:  # p12 has nothing
            mine = owned.of(board, me)
            found = (mine.interests, mine.attendance, mine.dots, mine.online_slots, mine.online_now)
            assert found == reference(board, me)
            assert hybrid.following_online(board, me) == reference(board, me)[4]
    assert owned.of(board, None) == owned.Owned()


def test_a_new_board_is_looked_at_anew_and_only_a_few_are_kept() -> None:
    rng = random.Random(5)
    board = random_board(rng, 1)
    someone = next(iter(board.attendance.values())).participant_id
    before = owned.of(board, someone)
    moved = replace(board, seq=2, attendance={}, votes={}, interests={})
    assert owned.of(moved, someone) == owned.Owned() and owned.of(board, someone) is before
    for seq in range(3, 3 + 2 * owned.KEPT):
        owned.everyone(random_board(rng, seq))
    assert len(owned._kept) <= owned.KEPT
