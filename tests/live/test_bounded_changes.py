"""Patches proportional to what changed, bounded revisions, bounded catch-up (issue #21, cases 4-6)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from openspace.app import create_app
from openspace.domain import harvest
from openspace.settings import Settings
from tests.conftest import ORIGIN, act, create_event, join, new_browser, state


def resume(browser: TestClient, path: str) -> tuple[str, int]:
    html = browser.get(path).text
    match = re.search(r'<script type="application/json" id="os-data">(.*?)</script>', html, re.S)
    assert match
    data = json.loads(match.group(1))
    return f"?since={data['seq']}&epoch={data['epoch']}", int(data["seq"])


def test_a_rename_does_not_resend_the_topics_descriptions(client: TestClient) -> None:
    """Case 4: with 500 topics of 2 KB, one rename broadcast 1.2 MB to every screen."""
    event = create_event(client)
    lisa = join(client, event, "Lisa")
    description = "Lång beskrivning. " * 100
    for n in range(10):
        act(lisa, event, "topic.propose", title=f"Ämne {n}", description=description)
    watcher = new_browser(client)
    query, _ = resume(watcher, event.path)
    with watcher.websocket_connect(f"{event.path}/ws{query}", headers={"origin": ORIGIN}) as ws:
        assert act(lisa, event, "me.rename", name="Lisa Lind").status_code == 303
        frame = ws.receive_text()
    change = json.loads(frame)
    assert change["kind"] == "participant.renamed"
    assert "Lång beskrivning" not in frame and len(frame) < 2000
    rows = change["patch"]["update"]["topics"]
    assert len(rows) == 10 and all(r["convener_name"] == "Lisa Lind" and "description" not in r for r in rows)
    topics = state(client, event)["topics"]
    assert all(t["convener_name"] == "Lisa Lind" and t["description"] == description.strip() for t in topics)


def test_resuming_across_a_rename_reads_the_slim_patch_from_the_log(client: TestClient) -> None:
    """The log keeps the slim patch; catch-up sends it as it was sent live."""
    event = create_event(client)
    lisa = join(client, event, "Lisa")
    act(lisa, event, "topic.propose", title="Ämne", description="Beskrivning " * 50)
    watcher = new_browser(client)
    query, _ = resume(watcher, event.path)
    act(lisa, event, "me.rename", name="Lisa Lind")
    with watcher.websocket_connect(f"{event.path}/ws{query}", headers={"origin": ORIGIN}) as ws:
        change = ws.receive_json()
    assert change["type"] == "change" and change["patch"]["update"]["topics"][0]["convener_name"] == "Lisa Lind"


def test_report_revisions_are_bounded(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 6: 600 saves in 4.8 s added 75 MiB, all of it also held in memory."""
    monkeypatch.setattr(harvest, "MAX_REVISIONS", 3)
    event = create_event(client)
    lisa = join(client, event)
    act(lisa, event, "topic.propose", title="Bibliotek")
    topic = state(lisa, event)["topics"][0]["id"]
    for n in range(8):
        saved = act(lisa, event, "report.save", "report", topic=topic, base=str(n), discussion=f"Version {n}")
        assert saved.status_code == 303, saved.text
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    board = next(iter(runtime.service.boards.values()))
    kept = sorted(r.revision for r in board.revisions.values() if r.topic_id == topic)
    assert kept == [6, 7, 8]


@pytest.fixture
def short_log(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(replace(settings, log_keep=5)), base_url=ORIGIN, follow_redirects=False) as client:
        yield client


def test_catch_up_beyond_the_lag_bound_is_a_snapshot(short_log: TestClient) -> None:
    """Case 5: a socket resuming from 0 had the whole log loaded into memory, whatever its length."""
    event = create_event(short_log)
    watcher = new_browser(short_log)
    query, seq = resume(watcher, event.path)
    for n in range(4):
        act(event.facilitator, event, "topic.propose", "facilitate", title=f"T{n}", convener_name="Ada")
    with watcher.websocket_connect(f"{event.path}/ws{query}", headers={"origin": ORIGIN}) as ws:
        batch = ws.receive_json()  # within the bound: deltas, as one batch frame
        assert batch["type"] == "batch" and [c["seq"] for c in batch["changes"]] == list(range(seq + 1, seq + 5))
    for n in range(6):
        act(event.facilitator, event, "topic.propose", "facilitate", title=f"U{n}", convener_name="Ada")
    with watcher.websocket_connect(f"{event.path}/ws{query}", headers={"origin": ORIGIN}) as ws:
        first = ws.receive_json()
    assert first["type"] == "snapshot" and first["reason"] == "gap" and first["seq"] == seq + 10
