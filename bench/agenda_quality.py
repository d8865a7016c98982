"""How much better is a suggested agenda than filling the board in the order topics came in?

Run from the repository root: `.venv/bin/python -m bench.agenda_quality`. Builds generated
events and prints, per event and in total, the baseline (topics in proposal order into cells in
reading order) against `planning.suggest` on double-booked conveners, clashes and capacity
overflow, with the suggestion's run time in ms and as a multiple of the baseline's.

Three groups: 40 topics and 150 people in 6 rooms x 7 slots, where every topic gets a cell, so
the two agendas place the same topics and compare fairly; the same events with 5 slots, where
10 topics are left over; and 60 topics and 200 people in 6 rooms x 5 slots. On the two overfull
groups the suggestion places the most wanted topics, so its clash count is not comparable with
the baseline's (more wanted topics, more people who want two of them at once).

The event generator lives here and tests/test_planning.py imports it, so the test and the
bench judge the same events."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, fields, replace

from openspace.domain.model import Board, Event, Interest, Slot, Space, Topic
from openspace.domain.planning import Quality, quality, suggest

CAPACITIES = (10, 15, 20, 25, 40, 60)
SLOT_TIMES = (("09:00", "10:00"), ("10:15", "11:15"), ("13:00", "14:00"), ("14:15", "15:15"))
DAYS = ("2026-03-14", "2026-03-15", "2026-03-16")


def generate_event(seed: int, topics: int = 40, participants: int = 150, slots: int = 7) -> Board:
    """A marketplace as it might end: rooms of mixed sizes, popularity skewed, some busy conveners.

    Six rooms of 10 to 60 places in shuffled order, `slots` slots over two or three days, and
    every person marking 3 to 8 topics, a topic's weight falling as 1/sqrt(its popularity rank).

    About three in four topics have a convener of their own; the rest go to someone who already
    convenes one. Two topics were typed in by the facilitator under one name (written two ways),
    and two carry a co-convener from a merge, so every kind of convener identity is exercised.
    """
    rng = random.Random(seed)
    capacities = list(CAPACITIES)
    rng.shuffle(capacities)  # the room order on the wall has nothing to do with size
    spaces = {f"r{i}": Space(f"r{i}", f"Room {i}", cap, i) for i, cap in enumerate(capacities)}
    times = [(day, start, end) for day in DAYS for start, end in SLOT_TIMES][:slots]
    cells = {f"s{i}": Slot(f"s{i}", day, start, end) for i, (day, start, end) in enumerate(times)}
    people = [f"p{i:03d}" for i in range(participants)]
    n_conveners = max(1, round(topics * 0.75))
    pool = rng.sample(people, n_conveners)
    conveners = pool + [rng.choice(pool) for _ in range(topics - n_conveners)]
    rng.shuffle(conveners)
    weights = [1 / (rank + 1) ** 0.5 for rank in range(topics)]
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
        slots=cells,
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


CASES = (  # (label, topics, participants, slots, seeds)
    ("40 topics, 150 people, 6 rooms x 7 slots: every topic fits", 40, 150, 7, range(1, 11)),
    ("40 topics, 150 people, 6 rooms x 5 slots: 10 topics left over", 40, 150, 5, range(1, 6)),
    ("60 topics, 200 people, 6 rooms x 5 slots: 30 topics left over", 60, 200, 5, range(1, 4)),
)


@dataclass
class Row:
    placed: tuple[int, int]
    base: Quality
    ours: Quality
    base_time: float
    suggest_time: float


def measure(board: Board) -> Row:
    """Baseline and suggestion on one board: placed topics, quality, and each one's run time."""
    start = time.perf_counter()
    base = baseline(board)
    base_time = time.perf_counter() - start
    start = time.perf_counter()
    ours = suggest(board)
    suggest_time = time.perf_counter() - start
    return Row((len(base), len(ours)), quality(board, base), quality(board, ours), base_time, suggest_time)


def total(rows: list[Row]) -> Row:
    def add(qualities: list[Quality]) -> Quality:
        return Quality(*(sum(getattr(q, f.name) for q in qualities) for f in fields(Quality)))

    return Row(
        (sum(r.placed[0] for r in rows), sum(r.placed[1] for r in rows)),
        add([r.base for r in rows]),
        add([r.ours for r in rows]),
        sum(r.base_time for r in rows),
        sum(r.suggest_time for r in rows),
    )


def line(label: str, row: Row) -> str:
    ratio = row.suggest_time / row.base_time if row.base_time else float("inf")
    return (
        f"{label:<8} {row.placed[0]:>5} {row.placed[1]:>5}"
        f" {row.base.double_booked:>6} {row.ours.double_booked:>6}"
        f" {row.base.clashes:>6} {row.ours.clashes:>6}"
        f" {row.base.overflow:>6} {row.ours.overflow:>6}"
        f" {row.base.missed:>6} {row.ours.missed:>6}"
        f" {row.suggest_time * 1000:>8.1f} {ratio:>8.0f}x"
    )


def main() -> None:
    print("base = proposal order into cells in reading order; sugg = planning.suggest(board, seed=0)")
    print("missed = interest marks nobody can honour (clashes + marks on topics left without a place)")
    header = f"{'':<8} {'placed':^11} {'dbl-booked':^13} {'clashes':^13} {'overflow':^13} {'missed':^13}"
    print(f"{header} {'sugg ms':>8} {'vs base':>9}")
    print(f"{'event':<8}" + " {:>5} {:>5}".format("base", "sugg") + " {:>6} {:>6}".format("base", "sugg") * 4)
    for label, topics, participants, slots, seeds in CASES:
        print(f"--- {label}")
        rows = []
        for seed in seeds:
            rows.append(measure(generate_event(seed, topics, participants, slots)))
            print(line(f"seed {seed}", rows[-1]))
        print(line("total", total(rows)))


if __name__ == "__main__":
    main()
