"""Heavy work runs in the bounded job pool, off the event loop and outside the writer (issue #21)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from openspace.domain import hints, markup
from openspace.domain.errors import Unavailable
from openspace.exports import formats
from openspace.jobs import Cache, JobPool
from tests.conftest import act, create_event, join, setup_grid, state


def threads_of(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[str]:
    """Record the thread every call of `module.name` runs on."""
    seen: list[str] = []
    original = getattr(module, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return seen


def test_a_report_preview_is_rendered_in_the_job_pool(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 1: a costly preview never runs on the event loop, where it stalls every socket."""
    event = create_event(client)
    lisa = join(client, event)
    act(lisa, event, "topic.propose", title="Bibliotek")
    topic = state(lisa, event)["topics"][0]["id"]
    seen = threads_of(monkeypatch, markup, "_sanitise")
    markup.render.cache_clear()
    response = act(lisa, event, "", "report", topic=topic, _preview="1", discussion="![" * 500)
    assert response.status_code == 200
    assert seen and all(name.startswith("openspace-job") for name in seen), seen


def test_saving_a_report_renders_its_markdown_outside_the_writer(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 7: the writer's transaction finds the rendered text ready, so other events' writes wait for nothing."""
    event = create_event(client)
    lisa = join(client, event)
    act(lisa, event, "topic.propose", title="Bibliotek")
    topic = state(lisa, event)["topics"][0]["id"]
    seen = threads_of(monkeypatch, markup, "_sanitise")
    markup.render.cache_clear()
    response = act(lisa, event, "report.save", "report", topic=topic, base="0", discussion="*viktigt* " * 200)
    assert response.status_code == 303, response.text
    assert seen and not any(name.startswith("openspace-db-writer") for name in seen), seen


def test_placement_hints_for_the_whole_grid_are_worked_out_in_the_job_pool(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 16: hints for every cell are planned off the event loop, conveners and people counted once."""
    event = create_event(client)
    setup_grid(client, event, spaces=3, slots=3)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    topic = state(event.facilitator, event)["topics"][0]["id"]
    seen = threads_of(monkeypatch, hints, "people_of")
    response = event.facilitator.get(f"{event.path}/facilitate?pick={topic}")
    assert response.status_code == 200
    assert seen and all(name.startswith("openspace-job") for name in seen), seen
    assert len(seen) <= 2  # once for the board's hints, once for the picked topic's cells


def test_a_published_export_is_built_once_per_change(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 2: a hundred readers of the published proceedings cost one build, until the board changes."""
    event = create_event(client)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    builds = threads_of(monkeypatch, formats, "write")
    reader = join(client, event, "Bo")
    bodies = {reader.get(f"{event.path}/export/md").text for _ in range(5)}
    assert len(bodies) == 1 and len(builds) == 1
    assert all(name.startswith("openspace-job") for name in builds)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Sagor", convener_name="Ada")
    assert reader.get(f"{event.path}/export/md").status_code == 200
    assert len(builds) == 2


async def test_the_pool_refuses_beyond_its_queue_and_answers_within_its_time() -> None:
    """At most workers + queue jobs at once; a job past its time is answered "try again"."""
    pool = JobPool(workers=1, queue=1, timeout=0.2)
    release = threading.Event()
    try:
        first = asyncio.ensure_future(pool.run(release.wait, 10))
        second = asyncio.ensure_future(pool.run(release.wait, 10))
        await asyncio.sleep(0)
        with pytest.raises(Unavailable):
            await pool.run(lambda: None)
        with pytest.raises(Unavailable):
            await first  # waited past the time limit
        await asyncio.gather(second, return_exceptions=True)
    finally:
        release.set()
        pool.close()


async def test_the_cache_shares_one_build_and_forgets_the_oldest() -> None:
    """Concurrent askers share one build; beyond its size the oldest entry is evicted."""
    gone: list[Any] = []
    cache = Cache(size=1, evict=gone.append)
    calls = 0

    async def build() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return calls

    assert list(await asyncio.gather(cache.get(("e", 1), build), cache.get(("e", 1), build))) == [1, 1]
    assert await cache.get(("e", 2), build) == 2
    assert gone == [1] and calls == 2
