"""The bus and the feed: changes from any process reach every socket once, in order, and keep the
cached boards current; a gap is filled from the change log (issue #13's live seam)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from openspace.broadcast import Committed, Notice
from openspace.domain.model import Change, Space
from openspace.domain.rules import Actor
from openspace.live.bus import MemoryBus, open_bus
from openspace.live.feed import Feed
from openspace.live.hub import CLOSE_GONE, CLOSE_LAGGING, CLOSE_REAUTH, Client, LocalHub
from openspace.service import Service
from openspace.store import Store
from tests.conftest import MakeStore

FAC = Actor(facilitator=True)
EVENT = {"name": "Test", "starts_on": "2026-03-14", "timezone": "Europe/Stockholm", "language": "sv"}


class Screen:
    """A fake socket: records the sequence numbers it receives and how it was closed."""

    def __init__(self, hub: LocalHub, event_id: str, audience: str = "public") -> None:
        self.seqs: list[int] = []
        self.changes: list[dict[str, Any]] = []
        self.closed_with: int | None = None
        self.client = Client(audience, self.send, self.close)  # type: ignore[arg-type]
        hub.register(event_id, self.client)

    async def send(self, frame: str) -> None:
        message = orjson.loads(frame)
        self.changes.extend(message["changes"] if message["type"] == "batch" else [message])
        self.seqs.extend(c["seq"] for c in (message["changes"] if message["type"] == "batch" else [message]))

    async def close(self, code: int) -> None:
        self.closed_with = code


@dataclass
class Worker:
    """One server process as far as the write path and fan-out go."""

    store: Store
    service: Service
    hub: LocalHub
    feed: Feed

    async def settle(self) -> None:
        await self.feed.settle()
        await self.hub.drain()


async def start_worker(make_store: MakeStore, bus: MemoryBus, log_keep: int = 1000) -> Worker:
    store = make_store(log_keep=log_keep)
    await store.open()
    hub = LocalHub(max_lag=50)
    service = Service(store, bus)
    feed = Feed(store, hub, service)
    bus.subscribe(feed.take, feed.resync)
    await hub.start()
    await service.start()
    return Worker(store, service, hub, feed)


async def stop_worker(worker: Worker) -> None:
    await worker.service.stop()
    await worker.feed.settle()
    await worker.hub.stop()
    await worker.store.close()


@pytest.fixture
async def two(make_store: MakeStore) -> AsyncIterator[tuple[Worker, Worker]]:
    """Two processes on one database and one bus: what several uvicorn workers are."""
    bus = MemoryBus()
    a = await start_worker(make_store, bus)
    b = await start_worker(make_store, bus)
    yield a, b
    await stop_worker(a)
    await stop_worker(b)


@dataclass
class Deaf:
    """A on the bus; B hears only its own changes and what a test hands it; an event whose board
    B has cached at 0, with one socket of B's live there; what A published, kept."""

    a: Worker
    b: Worker
    event_id: str
    screen: Screen
    heard: list[Committed]


@asynccontextmanager
async def deaf_pair(make_store: MakeStore, log_keep: int = 1000) -> AsyncIterator[Deaf]:
    bus = MemoryBus()
    a = await start_worker(make_store, bus, log_keep=log_keep)
    b = await start_worker(make_store, MemoryBus(), log_keep=log_keep)
    try:
        event, _ = await a.service.create_event(EVENT)
        await b.service.board(event.id)
        screen = Screen(b.hub, event.id)
        await screen.client.go_live(0)
        heard: list[Committed] = []
        bus.subscribe(lambda m: heard.append(m) if isinstance(m, Committed) else None)
        yield Deaf(a, b, event.id, screen, heard)
    finally:
        await stop_worker(a)
        await stop_worker(b)


@pytest.fixture
async def deaf(make_store: MakeStore) -> AsyncIterator[Deaf]:
    async with deaf_pair(make_store) as pair:
        yield pair


async def test_a_change_written_by_one_process_reaches_the_others_sockets_and_board(two: tuple[Worker, Worker]) -> None:
    """B's cached board and B's sockets follow what A commits: nothing assumes one process."""
    a, b = two
    event, _ = await a.service.create_event(EVENT)
    await a.service.execute(event.id, FAC, "space.add", {"name": "Rum 1"})
    assert (await b.service.board(event.id)).seq == 1  # cached on B from here on
    screen = Screen(b.hub, event.id)
    await screen.client.go_live(1)
    await a.service.execute(event.id, FAC, "space.add", {"name": "Rum 2"})
    await a.service.execute(event.id, FAC, "space.add", {"name": "Rum 3"})
    await b.settle()
    assert screen.seqs == [2, 3]
    board = await b.service.board(event.id)
    assert board.seq == 3 and sorted(s.name for s in board.spaces.values()) == ["Rum 1", "Rum 2", "Rum 3"]
    assert b.feed.filled == 0  # nothing went missing: nothing read from the log


async def test_a_missed_message_is_filled_from_the_change_log_in_order(deaf: Deaf) -> None:
    """A bus that drops a message (pub/sub is at most once): the next one reveals the gap."""
    a, b, screen, lost = deaf.a, deaf.b, deaf.screen, deaf.heard
    for i in range(4):
        await a.service.execute(deaf.event_id, FAC, "space.add", {"name": f"R{i}"})
    b.feed.take(lost[3])  # 1..3 never arrived; 4 did
    await b.settle()
    assert screen.seqs == [1, 2, 3, 4] and screen.closed_with is None
    assert b.feed.filled == 4
    assert len((await b.service.board(deaf.event_id)).spaces) == 4
    for message in lost:  # the lost ones turn up late after all: dropped, not repeated
        b.feed.take(message)
    await b.settle()
    assert screen.seqs == [1, 2, 3, 4]


async def test_a_batch_here_that_read_anothers_changes_first_does_not_leave_the_sockets_behind(deaf: Deaf) -> None:
    """B writes after A, before A's messages reach B: B's batch reads A's changes into B's cached
    board, so the board was ahead of B's sockets when B first heard of the event, and B's own
    change went out as a hole: every socket of the event on B was closed 4008 (the benchmark's
    setup on two PostgreSQL workers timed out, one run in five). The sockets get A's changes
    first, in order, and nobody is closed; as B's batch read them under the lock, not read from
    the log a second time to fill the hole its own change would have left (4 % of each event loop
    with two workers writing the same events, issue #17)."""
    a, b, screen = deaf.a, deaf.b, deaf.screen
    for i in range(3):
        await a.service.execute(deaf.event_id, FAC, "space.add", {"name": f"A{i}"})
    await b.service.execute(deaf.event_id, FAC, "space.add", {"name": "B"})  # reads 1..3, writes 4
    await b.settle()
    assert screen.seqs == [1, 2, 3, 4] and screen.closed_with is None
    assert b.feed.filled == 0
    assert [c["patch"]["upsert"]["spaces"][0]["name"] for c in screen.changes] == ["A0", "A1", "A2", "B"]
    for message in deaf.heard:  # A's own messages arrive after all: dropped, not repeated
        b.feed.take(message)
    await b.settle()
    assert screen.seqs == [1, 2, 3, 4] and screen.closed_with is None
    assert len((await b.service.board(deaf.event_id)).spaces) == 4


async def test_a_missed_rename_is_filled_from_the_log_as_it_was_sent_live(make_store: MakeStore) -> None:
    """The log keeps a rename's slim patch, only the topics' changed fields (domain/patches.py).
    Filling a gap from it must send the screens those fields and lay them over the cached board:
    read back as a plain change, both lost the rename."""
    bus = MemoryBus()
    a = await start_worker(make_store, bus)
    b = await start_worker(make_store, MemoryBus())  # hears only what we hand it below
    try:
        event, _ = await a.service.create_event(EVENT)
        pid, _ = await a.service.join(event.id, "Lisa")
        lisa = Actor(participant_id=pid)
        await a.service.execute(event.id, lisa, "topic.propose", {"title": "Bokcirkel", "description": "Lång. " * 40})
        board = await b.service.board(event.id)
        screen = Screen(b.hub, event.id)
        await screen.client.go_live(board.seq)
        lost: list[Committed] = []
        bus.subscribe(lambda m: lost.append(m) if isinstance(m, Committed) else None)
        await a.service.execute(event.id, lisa, "me.rename", {"name": "Elisabet"})
        await a.service.execute(event.id, FAC, "space.add", {"name": "Rum 1"})
        b.feed.take(lost[-1])  # the rename never arrived
        await b.settle()
        assert b.feed.filled == 2 and [c["kind"] for c in screen.changes] == ["participant.renamed", "space.added"]
        assert screen.changes[0]["patch"]["update"]["topics"][0]["convener_name"] == "Elisabet"
        assert {t.convener_name for t in (await b.service.board(event.id)).topics.values()} == {"Elisabet"}
    finally:
        await stop_worker(a)
        await stop_worker(b)


async def test_a_reconnected_bus_catches_up_even_the_last_change_of_a_burst(make_store: MakeStore) -> None:
    """No later message reveals a lost last change: the resync after a reconnect does."""
    bus = MemoryBus()
    a = await start_worker(make_store, bus)
    b = await start_worker(make_store, MemoryBus())
    try:
        event, _ = await a.service.create_event(EVENT)
        sent: list[Committed] = []
        bus.subscribe(lambda m: sent.append(m) if isinstance(m, Committed) else None)
        await a.service.execute(event.id, FAC, "space.add", {"name": "R1"})
        b.feed.take(sent[0])
        screen = Screen(b.hub, event.id)
        await screen.client.go_live(1)
        await a.service.execute(event.id, FAC, "space.add", {"name": "R2"})  # lost on the way to B
        b.feed.resync()
        await b.settle()
        assert screen.seqs == [2]
    finally:
        await stop_worker(a)
        await stop_worker(b)


async def test_a_gap_past_the_log_sends_screens_to_resume_from_a_snapshot(make_store: MakeStore) -> None:
    async with deaf_pair(make_store, log_keep=10) as deaf:
        a, b, screen, event_id = deaf.a, deaf.b, deaf.screen, deaf.event_id
        space = (await a.service.execute(event_id, FAC, "space.add", {"name": "R"}))["space"]
        for i in range(119):  # the log keeps the last 10 (trimmed every 100)
            await a.service.execute(event_id, FAC, "space.update", {"space": space, "name": f"R{i}"})
        b.feed.take(deaf.heard[-1])
        await b.settle()
        assert screen.closed_with == CLOSE_LAGGING and screen.seqs == []
        assert (await b.service.board(event_id)).seq == 120  # read afresh, not patched across the hole


async def test_deleting_an_event_or_replacing_its_link_closes_screens_on_every_process(
    two: tuple[Worker, Worker],
) -> None:
    a, b = two
    event, _ = await a.service.create_event(EVENT)
    await b.service.board(event.id)
    public, facilitator = Screen(b.hub, event.id), Screen(b.hub, event.id, "facilitator")
    await public.client.go_live(0)
    await facilitator.client.go_live(0)
    await a.service.rotate_facilitator_secret(event.id)
    await b.settle()
    assert facilitator.closed_with == CLOSE_REAUTH and public.closed_with is None
    await a.service.delete_event(event.id)
    await b.settle()
    assert public.closed_with == CLOSE_GONE
    assert b.service.known_head(event.id) is None  # its cached board went with it


async def test_the_registry_never_sends_a_hole() -> None:
    """Whatever goes wrong upstream, a client past which a change would be skipped resumes instead."""
    hub = LocalHub(max_lag=20)
    await hub.start()
    try:
        screen, pending = Screen(hub, "e"), Screen(hub, "e")
        await screen.client.go_live(0)
        frame = orjson.dumps({"type": "change", "seq": 2}).decode()
        hub.publish("e", 2, {"public": frame, "facilitator": frame})
        await hub.drain()
        assert screen.seqs == [] and screen.closed_with == CLOSE_LAGGING
        await pending.client.go_live(0)  # its catch-up ended at 0, and 2 waited: 1 is missing
        assert pending.seqs == [] and pending.closed_with == CLOSE_LAGGING
    finally:
        await hub.stop()


def test_the_bus_is_chosen_by_url() -> None:
    assert isinstance(open_bus(""), MemoryBus) and isinstance(open_bus("memory://"), MemoryBus)
    assert type(open_bus("redis://127.0.0.1:1/0")).__name__ == "RedisBus"
    with pytest.raises(ValueError):
        open_bus("kafka://x")


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = MemoryBus()
    seen: list[object] = []

    def broken(message: object) -> None:
        raise RuntimeError("bug")

    bus.subscribe(broken)  # type: ignore[arg-type]
    bus.subscribe(seen.append)
    change = Change("space.added", upserts=(Space(id="s", name="A", position=0),))
    bus.publish(Committed("e", 1, change, change.to_patch()))
    bus.publish(Notice("e", "deleted"))
    assert len(seen) == 2


async def test_two_writers_of_one_event_share_one_gap_free_sequence(two: tuple[Worker, Worker]) -> None:
    """Both processes write the same event at once: every number is handed out once, in commit
    order, and every screen on either process sees all of them once, in order."""
    a, b = two
    event, _ = await a.service.create_event(EVENT)
    space = (await a.service.execute(event.id, FAC, "space.add", {"name": "R"}))["space"]
    screens = []
    for worker in (a, b):
        await worker.service.board(event.id)
        screen = Screen(worker.hub, event.id)
        await screen.client.go_live(1)
        screens.append(screen)

    async def writes(worker: Worker, name: str) -> list[int]:
        seqs = []
        for i in range(20):
            args = {"space": space, "name": f"{name}{i}"}
            seqs.append((await worker.service.execute(event.id, FAC, "space.update", args))["seq"])
        return seqs

    from_a, from_b = await asyncio.gather(writes(a, "A"), writes(b, "B"))
    assert sorted(from_a + from_b) == list(range(2, 42))
    await a.settle()
    await b.settle()
    for screen in screens:
        assert screen.seqs == list(range(2, 42)) and screen.closed_with is None
    assert (await a.service.board(event.id)) == (await b.service.board(event.id))
    assert (await a.store.patches_since(event.id, 0, 41)) is not None


async def test_a_batch_writes_the_events_it_can_lock_and_puts_off_one_another_process_holds(
    postgres_url: str,
) -> None:
    """Another worker's transaction holds one event's lock: the batch commits its job on a free
    event without waiting, and puts the other job off to its next batch, which waits for the lock
    (pg_ahead.TRY_LOCK_SQL). Before, the whole batch waited for the other worker's commit."""
    import psycopg

    from openspace.store.postgres import PostgresStore

    worker = await start_worker(lambda log_keep=1000: PostgresStore(postgres_url, log_keep=log_keep), MemoryBus())
    told: list[int] = []  # what /metrics counts (openspace_writer_put_off_total)
    worker.service.on_put_off.append(told.append)
    other = await psycopg.AsyncConnection.connect(postgres_url)  # another worker, mid-transaction
    try:
        held, _ = await worker.service.create_event(EVENT)
        free, _ = await worker.service.create_event(EVENT)
        await other.execute("SELECT 1 FROM events WHERE id = %s FOR UPDATE", (held.id,))

        def add(event_id: str, name: str) -> asyncio.Task[dict[str, Any]]:
            return asyncio.create_task(worker.service.execute(event_id, FAC, "space.add", {"name": name}))

        on_held, on_free = add(held.id, "Bakom låset"), add(free.id, "Fri")
        done, _ = await asyncio.wait({on_free}, timeout=10)
        assert on_free in done and on_free.result()["seq"] == 1
        assert not on_held.done() and told == [1]  # put off, then waiting for the lock
        await other.rollback()
        done, _ = await asyncio.wait({on_held}, timeout=10)
        assert on_held in done and on_held.result()["seq"] == 1
        board = await worker.service.board(held.id)
        assert [space.name for space in board.spaces.values()] == ["Bakom låset"]
    finally:
        await other.close()
        await stop_worker(worker)


async def test_a_job_put_off_joins_its_batch_when_the_lock_is_let_go_before_the_batch_writes(
    postgres_url: str,
) -> None:
    """The other worker commits while this batch runs its other jobs: the job put off is asked
    once more before the batch writes (batching.ask_ahead's `again`) and commits in this batch,
    rather than waiting for the next."""
    import psycopg

    from openspace.batching import Ahead
    from openspace.store.postgres import PostgresStore

    worker = await start_worker(lambda log_keep=1000: PostgresStore(postgres_url, log_keep=log_keep), MemoryBus())
    told: list[int] = []
    batches: list[int] = []  # jobs per committed batch (the metrics' hook)
    worker.service.on_put_off.append(told.append)
    worker.service.on_durable.append(lambda waits: batches.append(len(waits)))
    other = psycopg.connect(postgres_url)  # another worker, mid-transaction; let go from the writer's thread
    try:
        held, _ = await worker.service.create_event(EVENT)
        free, _ = await worker.service.create_event(EVENT)
        other.execute("SELECT 1 FROM events WHERE id = %s FOR UPDATE", (held.id,))
        batches.clear()

        def let_go(tx: Any, batch: Any) -> str:  # runs after the batch's first ask found `held` busy
            other.rollback()
            return "let go"

        first = asyncio.create_task(worker.service.submit(let_go, Ahead(free.id)))
        on_held = asyncio.create_task(worker.service.execute(held.id, FAC, "space.add", {"name": "Strax fri"}))
        done, _ = await asyncio.wait({first, on_held}, timeout=10)
        assert done == {first, on_held} and on_held.result()["seq"] == 1
        assert told == [] and batches == [2]  # never put off: both jobs in the one batch
        board = await worker.service.board(held.id)
        assert [space.name for space in board.spaces.values()] == ["Strax fri"]
    finally:
        other.close()
        await stop_worker(worker)
