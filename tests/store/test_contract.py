"""What every store must do, whatever database is behind it (store/base.py).

The `store` fixture is parametrised by URL: a second store (PostgreSQL) adds its URL maker to
STORES and runs the same tests. Only the Protocols are used here, never a store's own methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from openspace.domain.effects import FilesRemoved, NameForgotten, NameSet
from openspace.domain.model import Change, Event, Slot, Space, Topic
from openspace.store import Store, Transaction, open_store, sqlite_url
from openspace.store.base import Asked

STORES: dict[str, Callable[[Path], str]] = {"sqlite": lambda tmp: sqlite_url(tmp / "contract.db")}
EVENT = Event(id="e1", slug="stenhamra", name="Stenhamra", starts_on="2026-03-14", ends_on="2026-03-14")


@pytest.fixture(params=[*sorted(STORES), "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each store; PostgreSQL's database comes from a real cluster the tests start (conftest)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else STORES[request.param](tmp_path)
    opened = await open_store(url, log_keep=50)
    try:
        yield opened
    finally:
        await opened.close()


def space_added(n: int) -> Change:
    return Change("space.added", upserts=(Space(f"s{n}", f"Rum {n}", position=n),))


def add_spaces(tx: Transaction, event_id: str, count: int) -> int:
    """The write path's order: lock the event, then number each change after its head."""
    head = tx.lock_event(event_id)
    for seq in range(head + 1, head + count + 1):
        change = space_added(seq)
        tx.apply(event_id, seq, change, change.to_patch())
    return head + count


async def with_event(store: Store) -> None:
    await store.write(lambda tx: tx.insert_event(EVENT, "secret-hash"))


async def test_lock_event_returns_the_committed_head(store: Store) -> None:
    """The head is 0 for a new event and follows each committed change; it is what seq builds on."""
    await with_event(store)
    assert await store.write(lambda tx: tx.lock_event(EVENT.id)) == 0
    assert await store.write(lambda tx: add_spaces(tx, EVENT.id, 3)) == 3
    assert await store.write(lambda tx: tx.lock_event(EVENT.id)) == 3
    board = await store.load_board(EVENT.id)
    assert board is not None and board.seq == 3 and sorted(board.spaces) == ["s1", "s2", "s3"]


async def test_a_change_is_never_written_without_its_events_lock(store: Store) -> None:
    """apply() refuses an event this transaction has not locked, and nothing of it is kept."""
    await with_event(store)
    change = space_added(1)
    with pytest.raises(RuntimeError, match="lock_event"):
        await store.write(lambda tx: tx.apply(EVENT.id, 1, change, change.to_patch()))
    assert await store.patches_since(EVENT.id, 0, 0) == []
    assert (await store.load_board(EVENT.id)).spaces == {}  # type: ignore[union-attr]


async def test_a_transaction_is_all_or_nothing(store: Store) -> None:
    """A unit of work that raises leaves no row, no log entry and no new head behind."""
    await with_event(store)

    def fails(tx: Transaction) -> None:
        add_spaces(tx, EVENT.id, 2)
        raise ValueError("refused halfway")

    with pytest.raises(ValueError):
        await store.write(fails)
    board = await store.load_board(EVENT.id)
    assert board is not None and board.seq == 0 and board.spaces == {}
    assert await store.write(lambda tx: tx.lock_event(EVENT.id)) == 0


async def test_the_change_log_is_gap_free_and_says_when_it_cannot_answer(store: Store) -> None:
    """patches_since gives every change's patch in order, or None when it cannot give them all."""
    await with_event(store)
    await store.write(lambda tx: add_spaces(tx, EVENT.id, 4))
    changes = await store.patches_since(EVENT.id, 1, 4)
    assert changes is not None and [seq for seq, _, _ in changes] == [2, 3, 4]
    assert [Change.from_patch(kind, patch).upserts for _, kind, patch in changes] == [
        space_added(n).upserts for n in (2, 3, 4)
    ]
    assert await store.patches_since(EVENT.id, 2, 6) is None  # past the head


async def test_a_batch_reads_the_log_after_its_cached_boards_with_its_locks(store: Store) -> None:
    """`prepare` with the seqs of cached boards: `patches_since` then answers within the
    transaction as it would alone (up to CATCH_UP on, gaps said), and PostgreSQL asks nothing
    more for it: the log was read in the lock's round trip (pg_ahead.py)."""
    await with_event(store)
    await store.write(lambda tx: add_spaces(tx, EVENT.id, 5))

    def batch(tx: Transaction) -> list[Any]:
        tx.prepare(Asked([EVENT.id], since={EVENT.id: 2}))
        if hasattr(tx, "behind"):  # PostgreSQL: nothing more goes to the server for these
            tx.db = None  # type: ignore[attr-defined]
        return [tx.patches_since(EVENT.id, 2, 5), tx.patches_since(EVENT.id, 2, 4), tx.patches_since(EVENT.id, 2, 6)]

    upto5, upto4, past = await store.write(batch)
    assert [seq for seq, _, _ in upto5] == [3, 4, 5] and [seq for seq, _, _ in upto4] == [3, 4]
    assert past is None  # past the head: not all there
    assert upto5 == await store.patches_since(EVENT.id, 2, 5)


async def test_postgresql_refuses_a_head_that_is_not_what_its_changes_add_up_to(store: Store) -> None:
    """The server checks every new head against the numbers handed out, in the statement that
    writes it (no round trip to read it back): were a head ever not the locked one (the row lock
    forbids it), the commit fails and nothing is kept."""
    if type(store).__name__ != "PostgresStore":
        pytest.skip("SQLite has one writer: no other process can move a head")
    await with_event(store)
    await store.write(lambda tx: add_spaces(tx, EVENT.id, 3))

    def believes_the_head_was_two(tx: Transaction) -> None:
        tx.lock_event(EVENT.id)
        tx.locked[EVENT.id] = 2  # type: ignore[attr-defined]
        tx.heads[EVENT.id] = 4  # type: ignore[attr-defined]

    with pytest.raises(Exception, match="division by zero"):
        await store.write(believes_the_head_was_two)
    assert await store.write(lambda tx: tx.lock_event(EVENT.id)) == 3
    assert await store.write(lambda tx: add_spaces(tx, EVENT.id, 1)) == 4  # and the writer goes on


async def test_a_batch_of_changes_writes_its_rows_in_order(store: Store) -> None:
    """Changes of one transaction land as if each were written alone, in order, however a store
    sends them: a topic moves into the cell another left earlier in the batch (the
    one-topic-per-cell index allows it), a row written twice keeps its second version, and one
    written then deleted is gone."""
    await with_event(store)
    grid = Change(
        "grid", upserts=(Space("s1", "Rum 1"), Space("s2", "Rum 2"), Slot("r1", "2026-03-14", "10:00", "10:45"))
    )
    a, b = Topic("a", "Bokcirkel", slot_id="r1", space_id="s1"), Topic("b", "Poddar", slot_id="r1", space_id="s2")
    unplaced = replace(a, slot_id=None, space_id=None)

    def batch(tx: Transaction) -> None:
        changes = [
            grid,
            Change("proposed", upserts=(a, b, Topic("c", "Kort liv"))),
            Change("moved", upserts=(unplaced,)),  # frees s1
            Change("moved", upserts=(replace(b, space_id="s1"),)),  # into the cell a left
            Change("renamed", upserts=(replace(unplaced, title="Bokcirkeln"),)),  # a again
            Change("withdrawn", deletes=(("topics", "c"),)),
        ]
        head = tx.lock_event(EVENT.id)
        for seq, change in enumerate(changes, head + 1):
            tx.apply(EVENT.id, seq, change, change.to_patch())

    await store.write(batch)
    board = await store.load_board(EVENT.id)
    assert board is not None and board.seq == 6 and sorted(board.topics) == ["a", "b"]
    assert (board.topics["a"].title, board.topics["a"].space_id) == ("Bokcirkeln", None)
    assert (board.topics["b"].slot_id, board.topics["b"].space_id) == ("r1", "s1")


async def test_a_change_never_writes_another_events_row_that_has_the_same_id(store: Store) -> None:
    """An event's change that names a topic id another event has (an import could) leaves that
    topic as it was: not renamed, not moved out of its cell, not deleted."""
    await with_event(store)
    other = replace(EVENT, id="e2", slug="sjobo")
    await store.write(lambda tx: tx.insert_event(other, "other-secret-hash"))
    grid = (Space("s1", "Rum 1"), Slot("r1", "2026-03-14", "10:00", "10:45"))
    theirs = Topic("t1", "Bokcirkel", slot_id="r1", space_id="s1")

    def write(event_id: str, *changes: Change) -> Any:
        def batch(tx: Transaction) -> None:
            head = tx.lock_event(event_id)
            for seq, change in enumerate(changes, head + 1):
                tx.apply(event_id, seq, change, change.to_patch())

        return store.write(batch)

    await write(EVENT.id, Change("grid", upserts=(*grid, theirs)))
    other_grid = (Space("s9", "Sal"), Slot("r9", "2026-03-14", "10:00", "10:45"))
    intruder = Topic("t1", "Kapad", slot_id=None, space_id=None)
    await write(
        other.id,
        Change("grid", upserts=other_grid),
        Change("two", upserts=(intruder, Topic("t2", "Egen", slot_id="r9", space_id="s9"))),
        Change("gone", deletes=(("topics", "t1"),)),
    )
    board = await store.load_board(EVENT.id)
    assert board is not None and board.topics["t1"] == theirs


async def test_effects_kept_by_the_store_change_the_name_and_the_answers(store: Store) -> None:
    """NameSet renames the login; NameForgotten takes the name out of kept answers; files are not
    the store's business (the service removes them after commit)."""
    await with_event(store)

    def join_and_answer(tx: Transaction) -> None:
        tx.insert_participant("p1", EVENT.id, "Lisa", "token-hash")
        tx.record_action(EVENT.id, "b:browser", "a1", {"seq": 1, "name": "Lisa"})

    await store.write(join_and_answer)
    await store.write(lambda tx: tx.apply_effects(EVENT.id, (NameSet("p1", "Lisa B"), FilesRemoved(("x",)))))
    assert await store.participant_by_token(EVENT.id, "token-hash") == ("p1", "Lisa B")
    assert await store.write(lambda tx: tx.participant_name("p1")) == "Lisa B"
    forget = (NameSet("p1", ""), NameForgotten(("b:browser", "p:p1")))
    await store.write(lambda tx: tx.apply_effects(EVENT.id, forget))
    assert await store.participant_by_token(EVENT.id, "token-hash") == ("p1", "")
    answer = await store.write(lambda tx: tx.applied_result(EVENT.id, "b:browser", "a1"))
    assert answer == {"seq": 1}


async def test_an_action_is_answered_once(store: Store) -> None:
    """The answer recorded for an action id is found again, within the batch and after it."""
    await with_event(store)

    def record(tx: Transaction) -> Any:
        tx.record_action(EVENT.id, "b:x", "a1", {"seq": 7})
        return tx.applied_result(EVENT.id, "b:x", "a1")

    assert await store.write(record) == {"seq": 7}
    assert await store.write(lambda tx: tx.applied_result(EVENT.id, "b:x", "a1")) == {"seq": 7}
    assert await store.write(lambda tx: tx.applied_result(EVENT.id, "b:y", "a1")) is None


async def test_sessions_secrets_meta_and_deletion(store: Store) -> None:
    """The facilitator's secret and sessions, meta values set once, and an event deleted whole."""
    await with_event(store)
    assert await store.event_count() == 1 and await store.event_by_slug("stenhamra") == EVENT
    assert await store.facilitator_secret_hash(EVENT.id) == "secret-hash"
    await store.write(lambda tx: tx.insert_facilitator_session("session-hash", EVENT.id))
    assert await store.facilitator_session(EVENT.id, "session-hash")
    await store.write(lambda tx: tx.replace_facilitator_secret(EVENT.id, "new-hash"))
    assert await store.facilitator_secret_hash(EVENT.id) == "new-hash"
    assert not await store.facilitator_session(EVENT.id, "session-hash")  # everyone logged out
    await store.set_meta("epoch", "first")
    await store.set_meta("epoch", "second")
    assert await store.meta("epoch") == "first" and await store.meta("missing") is None
    await store.write(lambda tx: add_spaces(tx, EVENT.id, 1))
    await store.write(lambda tx: tx.delete_event(EVENT.id))
    assert await store.event_by_slug("stenhamra") is None and await store.load_board(EVENT.id) is None
    assert await store.event_count() == 0
