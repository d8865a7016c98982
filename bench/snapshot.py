"""How long the server takes to build a full snapshot frame, in-process, without any I/O.

Every first connection (and every resume past the change log) gets one, so a venue where 200
phones open the page at once pays this 200 times on the event loop. The event is 60 sessions in
6 rooms x 10 slots over two days and 200 participants with 3 to 8 interest marks each (the
generator of bench/agenda_quality.py), every session placed; `end of day` adds one check-in per
participant per slot (2,000 attendance rows), the most a board of this size carries. Interest
marks and check-ins are never sent, but they are part of the board the snapshot is built from.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import replace
from typing import Any

from openspace.domain.model import Attendance, Board
from openspace.domain.projection import snapshot_frame

from .agenda_quality import generate_event

SESSIONS, PARTICIPANTS, SLOTS = 60, 200, 10


def event_board(attendance: bool) -> Board:
    board = generate_event(seed=7, topics=SESSIONS, participants=PARTICIPANTS, slots=SLOTS)
    slots, spaces = board.ordered_slots(), board.ordered_spaces()
    topics = {}
    for i, topic in enumerate(board.ordered_topics()):
        topics[topic.id] = replace(topic, slot_id=slots[i // len(spaces)].id, space_id=spaces[i % len(spaces)].id)
    rows: dict[str, Attendance] = {}
    if attendance:
        rng = random.Random(7)
        people = sorted({i.participant_id for i in board.interests.values()})
        for slot in slots:
            here = [t.id for t in topics.values() if t.slot_id == slot.id]
            for person in people:
                key = f"{slot.id}|{person}"
                rows[key] = Attendance(key, slot.id, rng.choice(here), person)
    return replace(board, topics=topics, attendance=rows, seq=1234)


def time_snapshot(board: Board, iterations: int = 300, budget_s: float = 10.0) -> dict[str, Any]:
    """Median and p90 over `iterations` (fewer if the time budget runs out) after a few warm-up rounds."""
    for _ in range(5):
        frame = snapshot_frame(board, "public", "initial", "x")
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < iterations and time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        snapshot_frame(board, "public", "initial", "x")
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p90_ms": samples[int(len(samples) * 0.9) - 1],
        "iterations": len(samples),
        "frame_bytes": len(frame.encode()),
        "interests": len(board.interests),
        "attendance": len(board.attendance),
    }


def measure() -> dict[str, Any]:
    return {
        "end_of_day": time_snapshot(event_board(attendance=True)),
        "marketplace": time_snapshot(event_board(attendance=False)),
    }


if __name__ == "__main__":
    for name, result in measure().items():
        print(name, result)
