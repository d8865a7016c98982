"""Heavy work runs in the bounded job pool, off the event loop and outside the writer (issue #21)."""

from __future__ import annotations

import asyncio
import os
import pickle
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from openspace.app import create_app
from openspace.domain import hints, markup
from openspace.domain.errors import N_, Invalid, Unavailable
from openspace.jobs import BUSY, NICE, TOO_BIG, TOO_SLOW, Cache, JobPool
from openspace.metrics import JobCounts
from openspace.settings import Settings
from openspace.web import exports as web_exports
from tests.conftest import ORIGIN, act, create_event, join, setup_grid, state


def calls_in_parent(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[str]:
    """Record every call of `module.name` in this process (a job pool worker is another one)."""
    seen: list[str] = []
    original = getattr(module, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return seen


def jobs_of(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions the app hands to its job pool, in order."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    names: list[str] = []
    original = runtime.jobs.run

    async def recording(fn: Any, *args: Any) -> Any:
        names.append(fn.__name__)
        return await original(fn, *args)

    monkeypatch.setattr(runtime.jobs, "run", recording)
    monkeypatch.setattr(runtime.service, "offload", recording)  # the service was handed `run` at startup
    return names


def test_a_report_preview_is_rendered_in_the_job_pool(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 1: a costly preview never runs on the event loop, nor anywhere in the server's process."""
    event = create_event(client)
    lisa = join(client, event)
    act(lisa, event, "topic.propose", title="Bibliotek")
    topic = state(lisa, event)["topics"][0]["id"]
    here, jobs = calls_in_parent(monkeypatch, markup, "_sanitise"), jobs_of(client, monkeypatch)
    markup.forget()
    response = act(lisa, event, "", "report", topic=topic, _preview="1", discussion="*Sagor* " + "![" * 500)
    assert response.status_code == 200
    assert "<em>Sagor</em>" in response.text  # rendered, by a worker
    assert jobs == ["render_preview"] and here == []


def test_saving_a_report_renders_its_markdown_outside_the_writer(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 7: the writer's transaction finds the rendered text ready, so other events' writes wait for nothing."""
    event = create_event(client)
    lisa = join(client, event)
    act(lisa, event, "topic.propose", title="Bibliotek")
    topic = state(lisa, event)["topics"][0]["id"]
    here, jobs = calls_in_parent(monkeypatch, markup, "_sanitise"), jobs_of(client, monkeypatch)
    markup.forget()
    response = act(lisa, event, "report.save", "report", topic=topic, base="0", discussion="*viktigt* " * 200)
    assert response.status_code == 303, response.text
    assert "rendered_texts" in jobs
    assert not any(name.startswith("openspace-db-writer") for name in here), here


def test_placement_hints_for_the_whole_grid_are_worked_out_in_the_job_pool(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 16: hints for every cell are planned in a worker process, none of it in the server's."""
    event = create_event(client)
    setup_grid(client, event, spaces=3, slots=3)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    topic = state(event.facilitator, event)["topics"][0]["id"]
    here, jobs = calls_in_parent(monkeypatch, hints, "people_of"), jobs_of(client, monkeypatch)
    response = event.facilitator.get(f"{event.path}/facilitate?pick={topic}")
    assert response.status_code == 200
    assert jobs == ["plan"] and here == []


def test_a_published_export_is_built_once_per_change(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 2: a hundred readers of the published proceedings cost one build, until the board changes."""
    monkeypatch.setattr(web_exports, "PUBLIC_FRESH_SECONDS", 0.0)
    event = create_event(client)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    jobs = jobs_of(client, monkeypatch)
    reader = join(client, event, "Bo")
    bodies = {reader.get(f"{event.path}/export/md").text for _ in range(5)}
    assert len(bodies) == 1 and "Bibliotek" in bodies.pop()
    assert jobs == ["write_file"]
    act(event.facilitator, event, "topic.propose", "facilitate", title="Sagor", convener_name="Ada")
    assert reader.get(f"{event.path}/export/md").status_code == 200
    assert jobs == ["write_file", "write_file"]


def test_readers_of_a_busy_event_share_a_recent_build(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The abuse bench: an event changing many times a second made every PDF request a new build.
    Readers get a build at most PUBLIC_FRESH_SECONDS old; the facilitator gets the board as it is."""
    event = create_event(client)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    jobs = jobs_of(client, monkeypatch)
    reader = join(client, event, "Bo")
    for n in range(3):
        act(event.facilitator, event, "topic.propose", "facilitate", title=f"Sagor {n}", convener_name="Ada")
        assert "Bibliotek" in reader.get(f"{event.path}/export/md").text
    assert jobs == ["write_file"]
    assert "Sagor 2" in event.facilitator.get(f"{event.path}/export/md").text
    assert jobs == ["write_file", "write_file"]


# --- the pool itself: jobs run in processes that are killed at their time (issue #21, item 2) -----------------


def forever(megabytes: int) -> None:
    """A job that holds memory and never ends (run in a worker)."""
    held = bytearray(megabytes * 1024 * 1024)
    held[::4096] = b"x" * len(held[::4096])  # touched: resident, not only reserved
    while True:
        time.sleep(0.01)


def refuse(limit: int) -> None:
    raise Invalid(N_("At most %(max)s."), field="photos", max=limit)


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def until(condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


async def test_a_job_past_its_time_is_stopped_its_memory_freed_and_the_next_runs() -> None:
    """A job that would run for ever is killed at the timeout with its worker: its memory is gone, the next job runs."""
    pool = JobPool(workers=1, queue=1, timeout=6.0)  # room for a slow start (a busy machine, coverage)
    try:
        running = asyncio.ensure_future(pool.run(forever, 200))
        await until(lambda: any(resident_kib(pid) > 150 * 1024 for pid in pool.pids()))
        (hog,) = pool.pids()
        with pytest.raises(Unavailable) as refused:
            await running
        assert refused.value.message == TOO_SLOW
        assert not Path(f"/proc/{hog}").exists()  # the process and all it held are gone
        assert pool.killed == 1
        pid = await pool.run(os.getpid)
        assert pid not in (hog, os.getpid())
    finally:
        pool.close()


async def test_a_job_beyond_its_memory_is_refused_not_the_server() -> None:
    """The worker's address space is limited: a job asking for more is refused, and the pool carries on."""
    pool = JobPool(workers=1, queue=0, timeout=30, memory_mb=512)
    try:
        with pytest.raises(Unavailable) as refused:
            await pool.run(bytearray, 1024 * 1024 * 1024)
        assert refused.value.message == TOO_BIG
        assert await pool.run(len, "fyra") == 4
    finally:
        pool.close()


def counted(job: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("openspace_jobs_total", {"job": job, "outcome": outcome}) or 0.0


async def test_the_pool_refuses_beyond_its_queue_and_keeps_refusals_whole() -> None:
    """At most workers + queue jobs at once; a job's refusal arrives with its field and numbers.
    Each ending is counted for the operator's metrics, by job and outcome."""
    outcomes = [("forever", "too_slow"), ("len", "busy"), ("refuse", "refused"), ("len", "done")]
    before = [counted(*o) for o in outcomes]
    pool = JobPool(workers=1, queue=1, timeout=1.0, counts=JobCounts())
    try:
        first = asyncio.ensure_future(pool.run(forever, 1))
        second = asyncio.ensure_future(pool.run(forever, 1))
        await asyncio.sleep(0)
        with pytest.raises(Unavailable) as busy:
            await pool.run(len, "")
        assert busy.value.message == BUSY
        for job in (first, second):
            with pytest.raises(Unavailable):
                await job  # the first killed at its time, the second never started
    finally:
        pool.close()
    patient = JobPool(workers=1, queue=0, timeout=30, counts=JobCounts())  # a fresh worker imports this module
    try:
        with pytest.raises(Invalid) as invalid:
            await patient.run(refuse, 5)
        assert (invalid.value.field, invalid.value.params) == ("photos", {"max": 5})
        assert await patient.run(len, "tre") == 3
    finally:
        patient.close()
    assert [counted(*o) - b for o, b in zip(outcomes, before, strict=True)] == [2, 1, 1, 1]
    assert REGISTRY.get_sample_value("openspace_jobs_pending") == 0


def test_actions_are_answered_while_a_job_runs_to_its_time(settings: Settings) -> None:
    """A runaway job holds one worker, never the event loop: actions are answered meanwhile, then it is stopped."""
    app = create_app(replace(settings, jobs_workers=1, jobs_timeout=6))
    with TestClient(app, base_url=ORIGIN, follow_redirects=False) as client:
        event = create_event(client)
        pool: JobPool = client.app.state.runtime.jobs  # type: ignore[attr-defined]
        job = client.portal.start_task_soon(pool.run, forever, 50)
        for n in range(5):  # a blocked loop would answer only once the job was stopped, 6 s on
            assert act(event.facilitator, event, "space.add", "facilitate", name=f"Rum {n}").status_code == 303
            assert not job.done()
        with pytest.raises(Unavailable):
            job.result(timeout=10)
        assert pool.killed == 1


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


async def test_a_job_that_cannot_be_pickled_is_refused_and_the_pool_carries_on() -> None:
    """A closure cannot cross to a worker: the caller hears why at once, and the next job runs."""
    pool = JobPool(workers=1, queue=0, timeout=30)
    try:
        with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
            await pool.run(lambda: 1)
        assert await pool.run(len, "tre") == 3 and pool.pending == 0
    finally:
        pool.close()


def modules_loaded(names: tuple[str, ...]) -> list[bool]:
    """Which of these modules a worker already has (run in a worker)."""
    import sys

    return [name in sys.modules for name in names]


async def test_a_warmed_pool_has_its_workers_and_weasyprint_before_the_first_job() -> None:
    """The server warms its pool when it is up: the first preview or PDF no longer pays for the
    forkserver's imports on the event loop's cores, and the PDF engine is loaded once, there."""
    pool = JobPool(workers=2, queue=0, timeout=30)
    try:
        pool.warm()
        await until(lambda: len(pool.pids()) == 2, seconds=30.0)
        warmed = set(pool.pids())
        assert await pool.run(modules_loaded, ("weasyprint", "PIL.Image")) == [True, True]
        assert set(pool.pids()) == warmed  # the job ran on a warmed worker, none was added
    finally:
        pool.close()


async def test_a_worker_is_below_the_server_even_where_sessions_share_the_cpu() -> None:
    """With autogroup scheduling a nice value ranks a process only within its session, and a PDF
    build took a core from the event loop at nice 10: a worker leads a session of its own, niced."""
    pool = JobPool(workers=1, queue=0, timeout=30)
    try:
        assert await pool.run(len, "tre") == 3
        (pid,) = pool.pids()
        assert os.getsid(pid) == pid != os.getsid(0)
        assert int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16]) == NICE
        autogroup = Path(f"/proc/{pid}/autogroup")
        if autogroup.exists():  # kernels built with autogroup scheduling
            assert autogroup.read_text().split()[-1] == str(NICE)
    finally:
        pool.close()
