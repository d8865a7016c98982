"""The write path: storage, the batching writer, idempotency, failure, and the hub's ordering."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson
import pytest

from openspace.broadcast import Committed
from openspace.domain.errors import Conflict, Unavailable
from openspace.domain.model import Change
from openspace.domain.rules import Actor
from openspace.live.bus import MemoryBus
from openspace.live.feed import Feed
from openspace.live.hub import CLOSE_LAGGING, Client, LocalHub
from openspace.service import Service
from openspace.store.postgres import PostgresTransaction
from openspace.store.sqlite import SQLiteStore
from tests.conftest import MakeStore
from tests.store.test_write_path import SpyStore

FAC = Actor(facilitator=True)
EVENT = {"name": "Test", "starts_on": "2026-03-14", "timezone": "Europe/Stockholm", "language": "sv"}


class Recorder:
    """A fake websocket client: records frames, can be frozen (never acknowledges)."""

    def __init__(self, hub: LocalHub, event_id: str, audience: str = "public") -> None:
        self.frames: list[dict] = []  # type: ignore[type-arg]  # changes, batches unpacked
        self.messages = 0  # websocket messages, a batch counting once
        self.closed_with: int | None = None
        self.client = Client(audience, self.send, self.close)  # type: ignore[arg-type]
        hub.register(event_id, self.client)

    async def send(self, frame: str) -> None:
        message = orjson.loads(frame)
        self.messages += 1
        self.frames.extend(message["changes"] if message["type"] == "batch" else [message])

    async def close(self, code: int) -> None:
        self.closed_with = code

    @property
    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames]


@pytest.fixture
async def wired(make_store: MakeStore):  # type: ignore[no-untyped-def]
    """A service, its in-process bus, the feed and the socket registry, wired as the app does,
    on SQLite and on PostgreSQL."""
    store = make_store(log_keep=50)
    await store.open()
    hub = LocalHub(max_lag=20)
    bus = MemoryBus()
    svc = Service(store, bus)
    feed = Feed(store, hub, svc)
    bus.subscribe(feed.take, feed.resync)
    await hub.start()
    await svc.start()
    yield svc, hub, feed
    await svc.stop()
    await feed.settle()
    await hub.stop()
    await store.close()


@pytest.fixture
def service(wired) -> Service:  # type: ignore[no-untyped-def]
    return wired[0]  # type: ignore[no-any-return]


@pytest.fixture
def hub(wired) -> LocalHub:  # type: ignore[no-untyped-def]
    return wired[1]  # type: ignore[no-any-return]


async def test_schema_migrates_once_and_settings_hold(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    await store.open()
    await store.close()
    await store.open()  # a second start applies nothing again
    async with store.reader.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"  # type: ignore[index]
    async with store.reader.execute("PRAGMA foreign_keys") as cur:
        assert (await cur.fetchone())[0] == 1  # type: ignore[index]
    async with store.reader.execute("PRAGMA synchronous") as cur:
        assert (await cur.fetchone())[0] == 2  # type: ignore[index]  # FULL
    await store.close()


async def test_every_change_is_logged_with_consecutive_numbers(service: Service) -> None:
    event, _ = await service.create_event(EVENT)
    results = await asyncio.gather(
        *(service.execute(event.id, FAC, "space.add", {"name": f"Rum {i}"}) for i in range(30))
    )
    assert sorted(r["seq"] for r in results) == list(range(1, 31))
    changes = await service.store.patches_since(event.id, 0, 30)
    assert changes is not None and [seq for seq, _, _ in changes] == list(range(1, 31))
    board = await service.store.load_board(event.id)
    assert board is not None and board.seq == 30 and len(board.spaces) == 30
    assert service.boards[event.id] == board  # the cache is exactly what the database holds


async def test_the_log_is_pruned_and_a_gap_is_reported(service: Service) -> None:
    event, _ = await service.create_event(EVENT)
    for i in range(120):
        await service.execute(event.id, FAC, "topic.propose", {"title": f"Ämne {i}"})
    assert await service.store.patches_since(event.id, 110, 120) is not None
    assert await service.store.patches_since(event.id, 5, 120) is None  # pruned: the caller must snapshot


async def test_a_repeated_action_id_applies_once_with_the_same_answer(service: Service) -> None:
    event, _ = await service.create_event(EVENT)
    answers = [await service.execute(event.id, FAC, "space.add", {"name": "Trappan"}, "act-123456") for _ in range(5)]
    assert all(a == answers[0] for a in answers)
    board = await service.board(event.id)
    assert len(board.spaces) == 1 and board.seq == 1


async def test_refusals_change_nothing_and_do_not_spoil_the_batch(service: Service) -> None:
    event, _ = await service.create_event(EVENT)
    results = await asyncio.gather(
        service.execute(event.id, FAC, "space.add", {"name": "A"}),
        service.execute(event.id, FAC, "space.add", {"name": "a"}),  # duplicate name
        service.execute(event.id, FAC, "space.add", {"name": "B"}),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["dict", "Invalid", "dict"]
    board = await service.board(event.id)
    assert sorted(s.name for s in board.spaces.values()) == ["A", "B"] and board.seq == 2


async def test_two_facilitators_drop_into_one_cell(service: Service) -> None:
    event, _ = await service.create_event(EVENT)
    space = (await service.execute(event.id, FAC, "space.add", {"name": "A"}))["space"]
    slot = (await service.execute(event.id, FAC, "slot.add", {"day": "2026-03-14", "start": "10:00", "end": "11:00"}))[
        "slot"
    ]
    t1 = (await service.execute(event.id, FAC, "topic.propose", {"title": "Ett"}))["topic"]
    t2 = (await service.execute(event.id, FAC, "topic.propose", {"title": "Två"}))["topic"]
    first, second = await asyncio.gather(
        service.execute(event.id, FAC, "topic.place", {"topic": t1, "slot": slot, "space": space}),
        service.execute(event.id, FAC, "topic.place", {"topic": t2, "slot": slot, "space": space}),
        return_exceptions=True,
    )
    assert isinstance(first, dict) and isinstance(second, Conflict)
    board = await service.board(event.id)
    assert board.occupant(slot, space).id == t1  # type: ignore[union-attr]


async def test_failed_commit_acknowledges_nothing(
    service: Service, hub: LocalHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full or an I/O error: the person hears "could not save", and nothing was published."""
    event, _ = await service.create_event(EVENT)
    seen = Recorder(hub, event.id)
    await seen.client.go_live(0)
    from openspace.store import sqlite as storage

    def broken(self, event_id, seq, change, patch):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(storage.SQLiteTransaction, "apply", broken)
    monkeypatch.setattr(PostgresTransaction, "apply", broken)
    with pytest.raises(Unavailable):
        await service.execute(event.id, FAC, "space.add", {"name": "A"})
    monkeypatch.undo()
    await hub.drain()
    assert seen.frames == []
    assert (await service.board(event.id)).seq == 0
    assert (await service.execute(event.id, FAC, "space.add", {"name": "A"}))["seq"] == 1  # and it recovers


async def test_hub_sends_in_order_and_drops_what_the_catch_up_covered(service: Service, hub: LocalHub) -> None:
    event, _ = await service.create_event(EVENT)
    late = Recorder(hub, event.id)  # registered, catching up
    for i in range(5):
        await service.execute(event.id, FAC, "space.add", {"name": f"R{i}"})
    await hub.drain()
    assert late.frames == []  # still catching up: held back
    await late.client.go_live(3)  # its catch-up covered 1..3
    assert late.seqs == [4, 5]
    await service.execute(event.id, FAC, "space.add", {"name": "R9"})
    await hub.drain()
    assert late.seqs == [4, 5, 6]


async def test_hidden_topics_reach_the_public_as_deletions(service: Service, hub: LocalHub) -> None:
    event, _ = await service.create_event(EVENT)
    public = Recorder(hub, event.id, "public")
    facilitator = Recorder(hub, event.id, "facilitator")
    await public.client.go_live(0)
    await facilitator.client.go_live(0)
    topic = (await service.execute(event.id, FAC, "topic.propose", {"title": "Olämpligt"}))["topic"]
    await service.execute(event.id, FAC, "topic.hide", {"topic": topic})
    await hub.drain()
    assert public.frames[1]["patch"] == {"delete": {"topics": [topic]}}
    assert "Olämpligt" not in orjson.dumps(public.frames[1]).decode()
    assert facilitator.frames[1]["patch"]["upsert"]["topics"][0]["status"] == "hidden"


async def test_a_frozen_client_is_closed_at_its_bound_and_others_keep_going(service: Service, hub: LocalHub) -> None:
    event, _ = await service.create_event(EVENT)
    frozen = Recorder(hub, event.id)
    healthy = Recorder(hub, event.id)
    await frozen.client.go_live(0)
    await healthy.client.go_live(0)
    for i in range(30):
        await service.execute(event.id, FAC, "space.add", {"name": f"R{i}"})
        await hub.drain()
        healthy.client.ack(healthy.client.seq)  # the healthy one acknowledges as it goes
    assert frozen.closed_with == CLOSE_LAGGING
    assert len(frozen.frames) == 20  # exactly max_lag changes were sent before it was cut off
    assert healthy.seqs == list(range(1, 31)) and healthy.closed_with is None


async def test_a_burst_reaches_each_client_as_one_frame_in_order(service: Service, hub: LocalHub) -> None:
    """The cost of a fan-out is its number of sends: changes waiting together go out together."""
    event, _ = await service.create_event(EVENT)
    early, late = Recorder(hub, event.id), Recorder(hub, event.id)
    await early.client.go_live(0)
    await late.client.go_live(0)
    writes = 0
    write = service.store.write

    async def counted(work):  # type: ignore[no-untyped-def]
        nonlocal writes
        writes += 1
        return await write(work)

    service.store.write = counted  # type: ignore[method-assign]
    results = await asyncio.gather(*(service.execute(event.id, FAC, "space.add", {"name": f"R{i}"}) for i in range(12)))
    assert sorted(r["seq"] for r in results) == list(range(1, 13))
    assert writes == 1  # twelve actions, one transaction, one trip to the database thread
    await hub.drain()
    assert early.messages == 1 and early.seqs == list(range(1, 13))
    assert [f["patch"]["upsert"]["spaces"][0]["name"] for f in early.frames] == [f"R{i}" for i in range(12)]
    assert late.seqs == early.seqs


async def test_a_client_caught_up_mid_batch_gets_only_the_rest() -> None:
    hub = LocalHub(max_lag=20)
    await hub.start()
    try:
        behind, ahead = Recorder(hub, "e"), Recorder(hub, "e")
        await behind.client.go_live(0)
        await ahead.client.go_live(3)  # its catch-up covered 1..3
        for seq in range(1, 6):
            frame = orjson.dumps({"type": "change", "seq": seq, "kind": "k", "patch": {}}).decode()
            hub.publish("e", seq, {"public": frame, "facilitator": frame})
        await hub.drain()
        assert behind.seqs == [1, 2, 3, 4, 5] and behind.messages == 1
        assert ahead.seqs == [4, 5] and ahead.messages == 1
    finally:
        await hub.stop()


async def test_a_long_fan_out_lets_the_loop_breathe() -> None:
    """Acks, actions and commits must not wait for the last of thousands of phones."""
    hub = LocalHub(max_lag=20)
    ticks = 0
    seen: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    class Counting(Recorder):
        async def send(self, frame: str) -> None:
            seen.append(ticks)

    clients = [Counting(hub, "e") for _ in range(2000)]
    for c in clients:
        await c.client.go_live(0)
    await hub.start()
    task = asyncio.create_task(ticker())
    try:
        hub.publish("e", 1, {"public": "{}", "facilitator": "{}"})
        await hub.drain()
    finally:
        task.cancel()
        await hub.stop()
    assert len(seen) == 2000
    assert seen[-1] - seen[0] >= 3  # other tasks ran in between: every few hundred sends


def test_change_patch_round_trips() -> None:
    from openspace.domain.model import Slot, Space, Topic

    change = Change(
        "x",
        upserts=(Space("a", "A", 3, 0), Slot("b", "2026-01-01", "10:00", "11:00"), Topic("c", "T")),
        deletes=(("topics", "d"),),
    )
    again = Change.from_patch("x", orjson.loads(orjson.dumps(change.to_patch())))
    assert again.upserts == change.upserts and again.deletes == change.deletes


async def test_a_read_right_after_a_commit_sees_it_while_other_reads_run(service: Service) -> None:
    """A page loaded right after its event was created, or a person joined, must find them, however
    busy the reader is with everyone else's pages."""
    stop = False

    async def busy_reader() -> None:
        while not stop:
            await service.store.event_count()

    readers = [asyncio.create_task(busy_reader()) for _ in range(4)]
    try:
        for _ in range(150):
            event, _ = await service.create_event(EVENT)
            assert await service.store.event_by_slug(event.slug) is not None
    finally:
        stop = True
        await asyncio.gather(*readers)


async def test_a_name_changed_in_another_tab_is_the_name_used_and_an_erased_one_is_gone(service: Service) -> None:
    event, _ = await service.create_event(EVENT)
    pid, _ = await service.join(event.id, "Lisa Gammal")
    phone = Actor(participant_id=pid, name="Lisa Gammal")  # a socket opened before the rename
    laptop = Actor(participant_id=pid, name="Lisa Gammal", browser="laptop")
    await service.execute(event.id, laptop, "me.rename", {"name": "Lisa Ny"}, "rename-0001")
    topic = await service.execute(event.id, phone, "topic.propose", {"title": "AI"}, "propose-0001")
    assert (await service.board(event.id)).topics[topic["topic"]].convener_name == "Lisa Ny"
    await service.execute(event.id, laptop, "me.forget", {}, "forget-0001")
    again = await service.execute(event.id, laptop, "me.rename", {"name": "x"}, "rename-0001")  # a resend
    assert "name" not in again and "Lisa Ny" not in orjson.dumps(again).decode()
    later = await service.execute(event.id, phone, "topic.propose", {"title": "Mer"}, "propose-0002")
    assert (await service.board(event.id)).topics[later["topic"]].convener_name == ""


async def test_swaps_are_written_whatever_order_the_cells_change_in(service: Service) -> None:
    """Two topics trading cells pass through a moment where both want one cell: the store frees
    the cells first. A single topic moving needs no such step (and skips it)."""
    event, _ = await service.create_event(EVENT)
    space = (await service.execute(event.id, FAC, "space.add", {"name": "A"}))["space"]
    other = (await service.execute(event.id, FAC, "space.add", {"name": "B"}))["space"]
    slot = (await service.execute(event.id, FAC, "slot.add", {"day": "2026-03-14", "start": "10:00", "end": "11:00"}))[
        "slot"
    ]
    one, two, three = [
        (await service.execute(event.id, FAC, "topic.propose", {"title": t}))["topic"] for t in ("Ett", "Två", "Tre")
    ]
    await service.execute(event.id, FAC, "topic.place", {"topic": one, "slot": slot, "space": space})
    await service.execute(event.id, FAC, "topic.place", {"topic": two, "slot": slot, "space": other})
    await service.execute(event.id, FAC, "topic.place", {"topic": one, "slot": slot, "space": other, "swap_with": two})
    await service.execute(
        event.id, FAC, "topic.place", {"topic": three, "slot": slot, "space": other, "swap_with": one}
    )
    stored = await service.store.load_board(event.id)
    assert stored is not None
    cells = {t.title: (t.slot_id, t.space_id) for t in stored.topics.values()}
    assert cells == {"Ett": (None, None), "Två": (slot, space), "Tre": (slot, other)}


async def test_the_same_action_twice_in_one_batch_applies_once(service: Service) -> None:
    """An outbox resent while the first send is still waiting for the writer: both land in one
    transaction, whose answers are written at its end; the second must still find the first's."""
    event, _ = await service.create_event(EVENT)
    first, second = await asyncio.gather(
        service.execute(event.id, FAC, "space.add", {"name": "A"}, "twice-0001"),
        service.execute(event.id, FAC, "space.add", {"name": "A"}, "twice-0001"),
    )
    assert first == second and len((await service.board(event.id)).spaces) == 1
    assert (await service.store.load_board(event.id)).seq == 1  # type: ignore[union-attr]


async def test_a_slim_patch_from_another_process_keeps_the_cached_board_whole(service: Service) -> None:
    """Another process's change arrives as its logged patch (over the bus, or read back from the
    log to fill a gap). A rename's patch carries only the changed fields of the topics the
    screens have (domain/patches.py): a cached board must take them whole, not as a change
    without those topics, which kept the old name at the new sequence number."""
    event, _ = await service.create_event(EVENT)
    pid, _ = await service.join(event.id, "Lisa")
    lisa = Actor(participant_id=pid)
    await service.execute(event.id, lisa, "topic.propose", {"title": "Bokcirkel", "description": "Lång text. " * 50})
    before = await service.board(event.id)
    await service.execute(event.id, lisa, "me.rename", {"name": "Elisabet"})
    logged = await service.store.patches_since(event.id, before.seq, before.seq + 1)
    assert logged is not None
    ((seq, kind, patch),) = logged
    assert "update" in patch and "description" not in patch["update"]["topics"][0]  # slim
    elsewhere = Service(service.store, MemoryBus())
    elsewhere.boards[event.id] = before
    elsewhere.observe(Committed(event.id, seq, Change.from_patch(kind, patch), patch))
    stored = await service.store.load_board(event.id)
    assert stored is not None and elsewhere.boards[event.id].topics == stored.topics
    assert {t.convener_name for t in stored.topics.values()} == {"Elisabet"}


async def test_a_board_another_process_moved_on_is_caught_up_from_the_log(service: Service) -> None:
    """Two processes on one store, and the other's changes not heard yet (the bus is slower than
    the lock): the next write brings the cached board up from the log, slim rename and all,
    instead of reading the whole board again."""
    event, _ = await service.create_event(EVENT)
    pid, _ = await service.join(event.id, "Lisa")
    lisa = Actor(participant_id=pid)
    await service.execute(event.id, lisa, "topic.propose", {"title": "Bokcirkel", "description": "Lång text. " * 50})
    spy = SpyStore(service.store)
    elsewhere = Service(spy, MemoryBus())  # type: ignore[arg-type]
    await elsewhere.start()
    try:
        await elsewhere.board(event.id)  # cached there
        await service.execute(event.id, lisa, "me.rename", {"name": "Elisabet"})
        await service.execute(event.id, FAC, "space.add", {"name": "Rum 1"})
        spy.calls.clear()
        await elsewhere.execute(event.id, FAC, "space.add", {"name": "Rum 2"})
        assert ("patches_since", event.id) in spy.calls and ("load_board", event.id) not in spy.calls
        stored = await service.store.load_board(event.id)
        assert stored is not None and elsewhere.boards[event.id] == stored
        assert {t.convener_name for t in stored.topics.values()} == {"Elisabet"}
    finally:
        await elsewhere.stop()


async def test_the_delivery_worker_is_woken_only_by_commits_that_may_have_queued_for_it(service: Service) -> None:
    """A commit whose changes no webhook kind covers queues nothing: the worker does not read the
    outbox after it (a read per batch, at hundreds of batches a second). A phase change may."""
    event, _ = await service.create_event(EVENT)
    woken: list[int] = []
    service.on_queued.append(lambda: woken.append(1))
    await service.execute(event.id, FAC, "space.add", {"name": "Rum 1"})
    await service.execute(event.id, FAC, "topic.propose", {"title": "Bokcirkel", "convener_name": "Lisa"})
    assert woken == []
    await service.execute(event.id, FAC, "event.phase", {"phase": "marketplace"})
    assert woken == [1]
