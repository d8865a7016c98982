"""A batch's rows as the database keeps them are the board its changes made, however many changes
touched one row, on both stores (PostgreSQL writes a batch's rows together: store/pg_rows.py)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from openspace.domain.errors import DomainError
from openspace.domain.rules import Actor
from openspace.live.bus import MemoryBus
from openspace.service import Service
from tests.conftest import MakeStore

FAC = Actor(facilitator=True)
EVENT = {"name": "Test", "starts_on": "2026-03-14", "timezone": "Europe/Stockholm", "language": "sv"}


def random_action(rng: random.Random, board: Any, n: int) -> tuple[str, dict[str, Any]]:
    """Something a facilitator does, on what the board held a moment ago (so some are refused)."""
    topics = [t for t in board.topics.values() if t.status in ("open", "hidden")]
    slots = [s for s in board.slots.values() if not s.label]
    spaces, kind = list(board.spaces.values()), rng.random()
    if kind < 0.2 or not topics:
        return "topic.propose", {"title": f"Ämne {n}", "description": "d" * rng.randint(0, 40)}
    topic = rng.choice(topics)
    if kind < 0.55 and slots and spaces:
        slot, space = rng.choice(slots), rng.choice(spaces)
        occupant = board.occupant(slot.id, space.id)
        return "topic.place", {
            "topic": topic.id,
            "slot": slot.id,
            "space": space.id,
            "swap_with": occupant.id if occupant else "",
        }
    if kind < 0.65:
        return "topic.unplace", {"topic": topic.id}
    if kind < 0.72:
        return "topic.edit", {"topic": topic.id, "title": f"Ändrat {n}", "description": ""}
    if kind < 0.77:
        return "topic.withdraw", {"topic": topic.id}
    if kind < 0.82:
        return "space.add", {"name": f"Rum {n}"}
    if kind < 0.86 and len(spaces) > 2:
        return "space.remove", {"space": rng.choice(spaces).id}
    if kind < 0.92:
        return "slot.add", {"day": "2026-03-14", "start": f"{8 + n % 12:02}:{n % 60:02}", "end": "23:00"}
    if slots and len(slots) > 2:
        return "slot.remove", {"slot": rng.choice(slots).id}
    return "topic.hide", {"topic": topic.id}


async def test_waves_of_changes_in_one_batch_leave_the_database_as_the_board(make_store: MakeStore) -> None:
    store = make_store()
    await store.open()
    service = Service(store, MemoryBus())
    await service.start()
    rng = random.Random(11)
    try:
        event, _ = await service.create_event(EVENT)
        for i in range(3):
            await service.execute(event.id, FAC, "space.add", {"name": f"Start {i}"})
            await service.execute(
                event.id, FAC, "slot.add", {"day": "2026-03-14", "start": f"1{i}:00", "end": f"1{i}:50"}
            )
        done = refused = 0
        for wave in range(25):
            board = await service.board(event.id)
            calls = [service.execute(event.id, FAC, *random_action(rng, board, wave * 100 + i)) for i in range(16)]
            for outcome in await asyncio.gather(*calls, return_exceptions=True):
                if isinstance(outcome, DomainError):
                    refused += 1
                else:
                    assert not isinstance(outcome, BaseException), outcome
                    done += 1
            kept = await store.load_board(event.id)
            assert kept == service.boards[event.id], f"wave {wave}"
        board = await service.board(event.id)
        assert done > 250 and refused > 10 and board.seq > 200  # some did nothing (a topic already there)
        assert sum(1 for t in board.topics.values() if t.slot_id) > 3  # cells were taken, left and swapped
    finally:
        await service.stop()
        await store.close()


def test_every_way_a_statement_leaves_sends_the_held_rows_first() -> None:
    """execute, executemany (the webhooks' outbox) and a cursor all write the rows held so far
    before their own statement: nothing in the transaction runs between a change and its rows."""
    from openspace.store.pg_rows import Held, Rows

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[str] = []

        def execute(self, query: str, params: Any = None, **kwargs: Any) -> None:
            self.sent.append(query.split()[0])

        def executemany(self, query: str, params_seq: Any, **kwargs: Any) -> None:
            self.sent.append("many " + query.split()[0])

        def cursor(self) -> str:
            self.sent.append("cursor")
            return "a cursor"

    for send in ("execute", "executemany", "cursor"):
        db, rows = Recorder(), Rows()
        held = Held(db, rows)
        rows.upsert("spaces", "e1", {"id": "s1", "name": "Rum"})
        rows.delete("topics", "e1", "t1")
        args = () if send == "cursor" else ("SELECT 1",) if send == "execute" else ("SELECT 1", [])
        getattr(held, send)(*args)
        assert db.sent[:2] == ["INSERT", "DELETE"] and len(db.sent) == 3, (send, db.sent)
        assert not rows.held
