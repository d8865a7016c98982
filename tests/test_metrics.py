"""Prometheus metrics (#17): /metrics is closed unless enabled and allowed, and its numbers move
with the work: a change counted by kind, its batch, its fan-out, the sockets open, a snapshot."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from openspace import metrics
from openspace.app import create_app
from openspace.guard import address_allowed
from openspace.settings import Settings
from tests.conftest import ORIGIN, act, create_event, join

TOKEN = "scrape-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by name and labels."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_not_served_unless_the_setting_is_on(client: TestClient) -> None:
    assert client.get("/metrics", headers=AUTH).status_code == 404


def test_metrics_need_the_token_or_an_allowed_address(settings: Settings) -> None:
    on = replace(settings, metrics=True, metrics_token=TOKEN)
    with TestClient(create_app(on), base_url=ORIGIN) as client:  # its address is "testclient": on no list
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 403
        assert client.get("/metrics", headers=AUTH).status_code == 200
    without_token = replace(settings, metrics=True)
    with TestClient(create_app(without_token), base_url=ORIGIN) as client:
        assert client.get("/metrics", headers={"authorization": "Bearer "}).status_code == 403


def test_allowed_addresses_and_proxied_requests() -> None:
    settings = Settings(metrics_allow="127.0.0.1, 10.0.0.0/8 ,::1")
    assert metrics.allowed(settings, "10.1.2.3", {})
    assert metrics.allowed(settings, "::1", {})
    assert not metrics.allowed(settings, "192.168.1.5", {})
    # through a proxy every visitor has the proxy's address: never let in by address
    assert not metrics.allowed(settings, "127.0.0.1", {"x-forwarded-for": "203.0.113.9"})
    assert not metrics.allowed(settings, None, {})
    assert metrics.allowed(replace(settings, metrics_token="t"), "203.0.113.9", {"authorization": "Bearer t"})
    assert not address_allowed("testclient", "0.0.0.0/0")
    assert not address_allowed("10.0.0.1", "not-a-network, ")


def test_a_change_moves_the_counters_the_histograms_and_the_gauges(settings: Settings) -> None:
    on = replace(settings, metrics=True, metrics_token=TOKEN)
    with TestClient(create_app(on), base_url=ORIGIN, follow_redirects=False) as client:
        event = create_event(client)
        lisa = join(client, event)
        before = scrape(client)
        with lisa.websocket_connect(f"{event.path}/ws", headers={"origin": ORIGIN}) as ws:
            assert ws.receive_json()["type"] == "snapshot"
            during = scrape(client)
            act(lisa, event, "topic.propose", title="Läsfrämjande")
            while ws.receive_json().get("type") != "change":
                pass
            client.portal.call(client.app.state.runtime.hub.drain)  # type: ignore[attr-defined,union-attr]
            after = scrape(client)
        closed = scrape(client)

    assert (
        value(during, "openspace_connections", audience="public")
        == value(before, "openspace_connections", audience="public") + 1
    )
    assert value(closed, "openspace_connections", audience="public") == value(
        before, "openspace_connections", audience="public"
    )
    assert (
        value(during, "openspace_snapshots_total", reason="initial")
        == value(before, "openspace_snapshots_total", reason="initial") + 1
    )
    kind = "topic.proposed"
    assert value(after, "openspace_changes_total", kind=kind) == value(before, "openspace_changes_total", kind=kind) + 1
    assert value(after, "openspace_writer_batch_size_count") >= value(before, "openspace_writer_batch_size_count") + 1
    assert value(after, "openspace_fanout_seconds_count") == value(before, "openspace_fanout_seconds_count") + 1
    # every write waited for its commit: the proposal and whatever else was written meanwhile
    assert value(after, "openspace_commit_seconds_count") >= value(before, "openspace_commit_seconds_count") + 1
    # kinds, never slugs: the event's slug names no series
    names = "\n".join(str(key) for key in after)
    assert event.slug not in names and "Läsfrämjande" not in names


def test_a_refused_action_counts_as_a_limit_hit(settings: Settings) -> None:
    on = replace(settings, metrics=True, metrics_token=TOKEN, limit_actions_person="1/600")
    with TestClient(create_app(on), base_url=ORIGIN, follow_redirects=False) as client:
        event = create_event(client)
        lisa = join(client, event)
        before = scrape(client)
        act(lisa, event, "topic.propose", title="Ett")
        act(lisa, event, "topic.propose", title="Två")  # over the person's limit
        after = scrape(client)
    limit = "actions_person"
    assert (
        value(after, "openspace_limits_hit_total", limit=limit)
        == value(before, "openspace_limits_hit_total", limit=limit) + 1
    )


def test_the_tally_hands_over_exactly_what_one_observation_at_a_time_would() -> None:
    """metrics.Tally keeps the hot path's observations and adds them to prometheus-client in bulk,
    through the histogram's own bounds and values: the exposition must be the same as observing
    each value alone, bounds themselves, values past the last and counters included. A release of
    prometheus-client that renames what the tally reads fails here."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    one_by_one, tallied = CollectorRegistry(), CollectorRegistry()
    bounds = metrics.LATENCY_BUCKETS
    direct = Histogram("openspace_x_seconds", "x", buckets=bounds, registry=one_by_one)
    kept = Histogram("openspace_x_seconds", "x", buckets=bounds, registry=tallied)
    direct_kinds = Counter("openspace_y", "y", ["kind"], registry=one_by_one)
    kept_kinds = Counter("openspace_y", "y", ["kind"], registry=tallied)
    values = [0.0, 0.0004, *bounds, *(b * 1.01 for b in bounds), 7.5, 100.0, 0.0199, 0.02, 0.0201]
    tally = metrics.Tally()
    for n, value in enumerate(values):
        direct.observe(value)
        tally.observe(kept, value)
        kind = "topic.proposed" if n % 3 else "topic.moved"
        direct_kinds.labels(kind).inc()
        tally.inc(kept_kinds.labels(kind))

    def exposed(registry: CollectorRegistry) -> list[str]:  # but when each was made
        return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]

    assert exposed(tallied) != exposed(one_by_one)  # nothing handed over yet
    tally.flush()
    assert exposed(tallied) == exposed(one_by_one)
    assert not tally.observed and not tally.counted


def test_the_tally_hands_over_by_itself_before_it_grows_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no loop to flush it (or one stalled), what waits stays bounded."""
    from prometheus_client import CollectorRegistry, Histogram

    monkeypatch.setattr(metrics, "MOST_KEPT", 100)
    histogram = Histogram("openspace_z_seconds", "z", registry=CollectorRegistry())
    tally = metrics.Tally()
    for _ in range(250):
        tally.observe(histogram, 0.001)
    assert tally.kept == 50 and len(tally.observed[histogram]) == 50
    assert histogram._sum.get() == pytest.approx(0.2)  # 200 of them handed over
