"""The write path against the store's seams: every transaction locks an event before it numbers
a change of it, and a change's effects beyond the board are applied in one place (names in the
transaction, files only after the commit)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from openspace import media
from openspace.domain.errors import Unavailable
from openspace.domain.rules import Actor
from openspace.live.bus import MemoryBus
from openspace.live.hub import LocalHub
from openspace.media import PhotoStore
from openspace.service import Service
from openspace.store import Store, Transaction, open_store, sqlite_url
from openspace.store import sqlite as sqlite_store
from tests.store.test_files import MemoryFiles
from tests.test_media import encode, two_halves

FAC = Actor(facilitator=True)
EVENT = {"name": "Test", "starts_on": "2026-03-14", "timezone": "Europe/Stockholm", "language": "sv"}


class SpyTransaction:
    """Passes every call on to the store's transaction and notes its name and event."""

    def __init__(self, tx: Transaction, calls: list[tuple[str, Any]]) -> None:
        self.tx, self.calls = tx, calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.tx, name)

        def call(*args: Any) -> Any:
            self.calls.append((name, args[0] if args else None))
            return method(*args)

        return call


class SpyStore:
    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write(self, work: Callable[[Transaction], Any]) -> Any:
        def spied(tx: Transaction) -> Any:
            self.calls.append(("BEGIN", None))
            return work(SpyTransaction(tx, self.calls))  # type: ignore[arg-type]

        return await self.inner.write(spied)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Service, SpyStore, MemoryFiles]]:
    store = SpyStore(await open_store(sqlite_url(tmp_path / "w.db")))
    files = MemoryFiles()
    hub = LocalHub()
    service = Service(store, MemoryBus(), PhotoStore(files))  # type: ignore[arg-type]
    await hub.start()
    await service.start()
    try:
        yield service, store, files
    finally:
        await service.stop()
        await hub.stop()
        await store.close()


async def lisa_with_a_topic(service: Service, event_id: str) -> tuple[Actor, str]:
    participant_id, _ = await service.join(event_id, "Lisa")
    lisa = Actor(participant_id=participant_id, name="Lisa")
    topic = (await service.execute(event_id, lisa, "topic.propose", {"title": "Policy"}))["topic"]
    return lisa, topic


async def add_photo(service: Service, event_id: str, actor: Actor, topic: str) -> str:
    photo = media.process(encode(two_halves(20, 20), "JPEG"))
    name: str = service.photos.save(photo)  # type: ignore[union-attr]
    photo = {"name": name, "width": "20", "height": "20", "thumb_width": "20", "thumb_height": "20"}
    args = {"topic": topic, "photos": [photo]}
    await service.execute(event_id, actor, "photo.add", args, internal=True)
    return name


async def test_every_numbered_change_is_written_under_its_events_lock(
    running: tuple[Service, SpyStore, MemoryFiles],
) -> None:
    """create, execute (several in one batch too), rename, import and delete all lock first."""
    service, store, _ = running
    event, _ = await service.create_event(EVENT)
    lisa, _ = await lisa_with_a_topic(service, event.id)
    await service.execute(event.id, FAC, "space.add", {"name": "A"})
    await service.execute(event.id, lisa, "me.rename", {"name": "Lisa B"})
    imported, _ = await service.import_event({"name": "Kopia", "starts_on": "2026-03-14"}, [])
    await service.delete_event(imported.id)
    locked: set[str] = set()
    applied = 0
    for name, event_id in store.calls:
        if name == "BEGIN":
            locked = set()
        elif name == "lock_event":
            locked.add(event_id)
        elif name in ("apply", "apply_effects", "delete_event"):
            assert event_id in locked, (name, event_id, store.calls)
            applied += name == "apply"
    assert applied >= 4


async def test_a_rename_reaches_the_login_through_its_effect(running: tuple[Service, SpyStore, MemoryFiles]) -> None:
    """The participant's own name follows me.rename and me.forget; the write path has no special case."""
    service, store, _ = running
    event, _ = await service.create_event(EVENT)
    participant_id, token = await service.join(event.id, "Lisa")
    lisa = Actor(participant_id=participant_id, name="Lisa")
    await service.execute(event.id, lisa, "me.rename", {"name": "Lisa B"})
    assert await store.write(lambda tx: tx.participant_name(participant_id)) == "Lisa B"
    await service.execute(event.id, lisa, "me.forget", {})
    assert await store.write(lambda tx: tx.participant_name(participant_id)) == ""


async def test_photo_files_go_only_after_their_rows_are_committed_gone(
    running: tuple[Service, SpyStore, MemoryFiles], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A removal that fails to commit keeps the files; one that commits removes them; deleting the
    event removes the rest, whichever page or command asked."""
    service, _, files = running
    event, _ = await service.create_event(EVENT)
    lisa, topic = await lisa_with_a_topic(service, event.id)
    first = await add_photo(service, event.id, lisa, topic)
    second = await add_photo(service, event.id, lisa, topic)
    assert sorted(files.files) == sorted([f"{first}.jpg", f"{first}.thumb.jpg", f"{second}.jpg", f"{second}.thumb.jpg"])
    photo_id = next(p.id for p in (await service.board(event.id)).photos.values() if p.name == first)

    def disk_full(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlite_store.SQLiteTransaction, "apply", disk_full)
    with pytest.raises(Unavailable):
        await service.execute(event.id, lisa, "photo.remove", {"photo": photo_id})
    assert f"{first}.jpg" in files.files  # nothing committed, nothing removed
    monkeypatch.undo()
    await service.execute(event.id, lisa, "photo.remove", {"photo": photo_id})
    assert sorted(files.files) == [f"{second}.jpg", f"{second}.thumb.jpg"]
    await service.delete_event(event.id)
    assert files.files == {}
