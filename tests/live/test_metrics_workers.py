"""Metrics across two workers (#17): any worker's /metrics adds up every worker's numbers
(prometheus-client's multiprocess mode), so a scrape gives the same totals whichever it lands on."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from openspace import metrics
from tests.backends import RedisServer
from tests.live.test_live_server import join, next_change, open_socket, page_data, propose
from tests.live.test_workers import link, workers

CHANGES = 6
SOCKETS = 8


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx2.get(f"{base}/metrics")  # from 127.0.0.1: on the default allow-list
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_every_worker_answers_with_the_totals_of_all(
    postgres_url: str, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENSPACE_METRICS", "1")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with ExitStack() as stack:
        base, output = stack.enter_context(workers(postgres_url, redis.url))
        slug = link(output, "Participant link").rsplit("/", 1)[1]
        people = [join(base, slug, f"Person {i}") for i in range(3)]  # their requests spread over the workers
        for http in people:
            stack.callback(http.close)
        data = page_data(people[0], f"/e/{slug}")
        before = scrape(base)

        def moved(after: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
            return total(after, name) - total(before, name)

        async def run() -> list[dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
            sockets = [await open_socket(base, slug, data) for _ in range(SOCKETS)]
            for i in range(CHANGES):
                propose(people[i % 3], slug, f"Ämne {i}")
            for ws in sockets:
                for _ in range(CHANGES):
                    await next_change(ws)
            # the fan-out is timed after the last frame is written, and each worker hands its tally
            # over every FLUSH_SECONDS: wait (bounded) until a scrape has every change's
            for _ in range(40):
                await asyncio.sleep(metrics.FLUSH_SECONDS)
                seen = scrape(base)
                lags, fanouts = (moved(seen, f"openspace_{name}_seconds_count") for name in ("bus_lag", "fanout"))
                if min(lags, fanouts) >= CHANGES:
                    break
            await asyncio.sleep(metrics.FLUSH_SECONDS)  # both workers' last tally, whichever a scrape reaches
            scrapes = [scrape(base) for _ in range(8)]  # the kernel hands them to either worker
            for ws in sockets:
                await ws.close()
            return scrapes

        scrapes = asyncio.run(run())

    kind = "topic.proposed"

    for after in scrapes:
        assert total(after, "openspace_connections", audience="public") == SOCKETS
        assert (
            total(after, "openspace_changes_total", kind=kind)
            == total(before, "openspace_changes_total", kind=kind) + CHANGES
        )
        # every change crossed the bus to the worker that did not write it
        assert moved(after, "openspace_bus_lag_seconds_count") >= CHANGES
        assert moved(after, "openspace_fanout_seconds_count") >= CHANGES
        assert moved(after, "openspace_catchups_total") == SOCKETS
