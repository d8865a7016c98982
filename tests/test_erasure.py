"""Erasure and deletion remove the bytes, and the files are private (issue #21, case 9)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from openspace.app import create_app
from openspace.settings import Settings
from tests.conftest import ORIGIN, act, create_event, join, new_browser, state

NAME = "Zylofona Unikadottir"  # found nowhere else in the database


def page_resume(browser: TestClient, path: str) -> str:
    import json
    import re

    html = browser.get(path).text
    match = re.search(r'<script type="application/json" id="os-data">(.*?)</script>', html, re.S)
    assert match
    return "?since=0&epoch=" + json.loads(match.group(1))["epoch"]


def test_an_erased_name_is_not_in_the_change_log_a_resuming_screen_reads(client: TestClient) -> None:
    """After "erase my name", an anonymous socket resuming from 0 received it from the log."""
    event = create_event(client)
    lisa = join(client, event, NAME)
    act(lisa, event, "topic.propose", title="Mitt ämne")
    act(lisa, event, "me.rename", name=NAME + " B")
    act(lisa, event, "me.forget")
    anonymous = new_browser(client)
    query = page_resume(anonymous, event.path)
    with anonymous.websocket_connect(f"{event.path}/ws{query}", headers={"origin": ORIGIN}) as ws:
        first = ws.receive_text()
        ws.send_json({"type": "ping"})
        frames = [first]
        while '"pong"' not in frames[-1]:
            frames.append(ws.receive_text())
    assert not any("Zylofona" in frame for frame in frames)
    assert '"snapshot"' in first  # the log before the erasure is gone: a snapshot takes over


def test_secure_delete_is_on(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.store._writer.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_a_deleted_event_leaves_no_bytes_in_the_database_or_the_wal(client: TestClient, settings: Settings) -> None:
    """After deleting an event the WAL held 11 copies of names and texts, and a page kept a fragment."""
    event = create_event(client)
    lisa = join(client, event, NAME)
    for n in range(5):
        act(lisa, event, "topic.propose", title=f"Zylofonamne {n}", description="Zylofona text " * 20)
    assert any(t["convener_name"] == NAME for t in state(client, event)["topics"])
    token = event.facilitator.cookies.get("os_csrf")
    gone = event.facilitator.post(f"{event.path}/delete", data={"csrf": token, "confirm": "Open space i biblioteket"})
    assert gone.status_code == 200
    database, wal = Path(settings.db), Path(f"{settings.db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert b"Zylofona" not in database.read_bytes()


@pytest.fixture
def wide_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_the_database_and_its_wal_are_private(settings: Settings, wide_umask: None) -> None:
    """The database and WAL were created world-readable (0644)."""
    with TestClient(create_app(replace(settings, demo=False)), base_url=ORIGIN) as client:
        create_event(client)
        for path in (settings.db, f"{settings.db}-wal", f"{settings.db}-shm"):
            assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600, path
