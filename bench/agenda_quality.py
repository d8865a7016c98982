"""How much better is a suggested agenda than filling the board in the order topics came in?

Run from the repository root: `.venv/bin/python -m bench.agenda_quality`. Builds generated
events (seeds 1..10 at 40 topics and 150 people, and a larger 60 topics and 200 people case) and
prints, per event and in total, the baseline against `planning.suggest` on double-booked
conveners, clashes and capacity overflow, with the suggestion's run time. The event generator
lives here and tests/test_planning.py imports it, so the test and the bench judge the same events.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

from openspace.model import Board, Event, Interest, Slot, Space, Topic
from openspace.planning import Quality, quality, suggest

CAPACITIES = (10, 15, 20, 25, 40, 60)
SLOT_TIMES = (("09:00", "10:00"), ("10:15", "11:15"), ("11:30", "12:30"), ("13:30", "14:30"), ("14:45", "15:45"))


def generate_event(seed: int, topics: int = 40, participants: int = 150) -> Board:
    """A marketplace as it might end: rooms of mixed sizes, popularity skewed, some busy conveners.

    About three in four topics have a convener of their own; the rest go to someone who already
    convenes one. Two topics were typed in by the facilitator under one name (written two ways),
    and two carry a co-convener from a merge, so every kind of convener identity is exercised.
    """
    rng = random.Random(seed)
    capacities = list(CAPACITIES)
    rng.shuffle(capacities)  # the room order on the wall has nothing to do with size
    spaces = {f"r{i}": Space(f"r{i}", f"Room {i}", cap, i) for i, cap in enumerate(capacities)}
    slots = {f"s{i}": Slot(f"s{i}", "2026-03-14", start, end) for i, (start, end) in enumerate(SLOT_TIMES)}
    people = [f"p{i:03d}" for i in range(participants)]
    n_conveners = max(1, round(topics * 0.75))
    pool = rng.sample(people, n_conveners)
    conveners = pool + [rng.choice(pool) for _ in range(topics - n_conveners)]
    rng.shuffle(conveners)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(topics)]
    rng.shuffle(weights)  # popularity has nothing to do with when a topic was proposed
    ids = [f"t{i:02d}" for i in range(topics)]
    interests: dict[str, Interest] = {}
    for pid in people:
        k = rng.randint(3, 8)
        # weighted sampling without replacement (Efraimidis–Spirakis keys)
        chosen = sorted(ids, key=lambda t: rng.random() ** (1 / weights[int(t[1:])]), reverse=True)[:k]
        for tid in chosen:
            interests[f"{tid}|{pid}"] = Interest(f"{tid}|{pid}", tid, pid)
    counts = {tid: 0 for tid in ids}
    for row in interests.values():
        counts[row.topic_id] += 1
    board_topics: dict[str, Topic] = {}
    for i, tid in enumerate(ids):
        pid = conveners[i]
        topic = Topic(tid, f"Topic {i}", convener_id=pid, convener_name=f"Name {pid}", created_seq=i + 1)
        if i in (3, 17):  # typed in from paper sheets by the facilitator, for the same guest
            topic = Topic(tid, f"Topic {i}", convener_name="Guest Kim" if i == 3 else "guest kim", created_seq=i + 1)
        elif i in (5, 23):  # merged duplicates: another convener joined
            topic = Topic(
                tid,
                f"Topic {i}",
                convener_id=pid,
                convener_name=f"Name {pid}",
                co_convener_ids=pool[(i * 7) % n_conveners],
                co_conveners=f"Name {pool[(i * 7) % n_conveners]}",
                created_seq=i + 1,
            )
        board_topics[tid] = replace(topic, interest=counts[tid])
    return Board(
        event=Event(id="e", slug="s", name="x"),
        spaces=spaces,
        slots=slots,
        topics=board_topics,
        interests=interests,
    )


def baseline(board: Board) -> dict[str, tuple[str, str]]:
    """What a facilitator in a hurry does: topics in proposal order into cells in reading order."""
    taken = {(t.slot_id, t.space_id) for t in board.topics.values() if t.placed and t.status != "merged"}
    cells = [
        (slot.id, space.id)
        for slot in board.ordered_slots()
        for space in board.ordered_spaces()
        if (slot.id, space.id) not in taken
    ]
    waiting = [t for t in board.ordered_topics() if t.status == "open" and not t.placed]
    return {t.id: cell for t, cell in zip(waiting, cells, strict=False)}


def measure(board: Board) -> tuple[Quality, Quality, float, float]:
    """Baseline and suggestion quality, and each one's run time in seconds."""
    start = time.perf_counter()
    base = baseline(board)
    base_time = time.perf_counter() - start
    start = time.perf_counter()
    suggestion = suggest(board)
    suggest_time = time.perf_counter() - start
    return quality(board, base), quality(board, suggestion), base_time, suggest_time


def main() -> None:
    header = (
        f"{'event':<10} {'double-booked':>15} {'clashes':>13} {'overflow':>13} {'suggest ms':>11} {'time ratio':>11}"
    )
    print(f"{'':<10} {'base  suggest':>15} {'base suggest':>13} {'base suggest':>13}")
    print(header)
    print("-" * len(header))
    cases = [(f"seed {s}", s, 40, 150) for s in range(1, 11)] + [(f"big {s}", s, 60, 200) for s in range(1, 4)]
    group: list[tuple[Quality, Quality, float, float]] = []
    for n, (label, seed, topics, participants) in enumerate(cases):
        row = measure(generate_event(seed, topics, participants))
        group.append(row)
        print(line(label, *row))
        if n + 1 == len(cases) or cases[n + 1][2] != topics:
            totals = (
                Quality(*(sum(getattr(r[0], f) for r in group) for f in ("double_booked", "clashes", "overflow"))),
                Quality(*(sum(getattr(r[1], f) for r in group) for f in ("double_booked", "clashes", "overflow"))),
                sum(r[2] for r in group),
                sum(r[3] for r in group),
            )
            print(line(f"total {topics}", *totals))
            print("-" * len(header))
            group = []


def line(label: str, base: Quality, ours: Quality, base_time: float, suggest_time: float) -> str:
    ratio = suggest_time / base_time if base_time else float("inf")
    return (
        f"{label:<10} {base.double_booked:>7} {ours.double_booked:>7} {base.clashes:>6} {ours.clashes:>6}"
        f" {base.overflow:>6} {ours.overflow:>6} {suggest_time * 1000:>11.1f} {ratio:>10.0f}x"
    )


if __name__ == "__main__":
    main()
