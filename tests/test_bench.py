"""`make bench` still runs: a scaled-down pass over every phase, so the harness cannot rot unseen.

The benchmark is never part of `make test` for its figures (tests never assert on wall-clock
time); this only checks that each phase runs to the end against the current code and returns
results of the right shape, with nothing lost on the way. It broke twice unnoticed when the server
gained guards (allowed hosts, limits) that the harness had not been told about.
"""

from __future__ import annotations

import contextlib
import http.client
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.backends import RedisServer

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run(module: str, *args: str, timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_the_benchmark_runs_every_phase_at_small_scale(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = run(
        "bench",
        *("--clients", "20", "--seconds", "2", "--bursts", "1", "--frozen-at", "20", "--frozen-seconds", "2"),
        *("--no-saturation", "--durable-conns", "8", "--durable-events", "4", "--durable-seconds", "1"),
        *("--abuse-clients", "20", "--abuse-seconds", "2", "--abuse-rounds", "2", "--attacks", "previews,act_flood"),
        *("--patience", "0", "--retries", "0", "--no-write", "--json", str(out)),
        *("--pg-clients", "20", "--pg-workers", "2"),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = orjson.loads(out.read_bytes())
    for side in ("project", "baseline"):
        fanout = results["fanout"]["20"][side]
        assert "error" not in fanout, fanout
        assert fanout["rate"]["p99_ms"] is not None and not fanout["rate"].get("missing"), fanout
    assert results["durable"]["per_second"] > 0
    postgres = results["postgres"]  # the PostgreSQL + Redis column (#17): both runs, and the bus lag
    assert postgres["durable"]["per_second"] > 0, postgres["durable"]
    # each step's commits as the server measured them: the step's own, as many as it acknowledged
    steps = postgres["durable"]["steps"]
    assert all(step["commit"]["count"] >= step["results"] and step["commit"]["p99_ms"] > 0 for step in steps), steps
    assert "openspace_commit_seconds" in done.stdout
    fanout = postgres["fanout"]  # the load generator's own words, if it failed, are in the bench's stderr
    assert "error" not in fanout and not fanout["rate"].get("missing"), (fanout, done.stderr[-3000:])
    assert postgres["fanout"]["metrics"]["bus_lag_seconds"]["count"] > 0
    assert postgres["floor"] and all(step["per_second"] > 0 and step["p99_ms"] > 0 for step in postgres["floor"])
    bare = postgres["bare"]  # the same writes behind a bare app (bench/pgbare.py): every action answered
    assert "error" not in bare and bare["steps"] and not any(step["unanswered"] for step in bare["steps"]), bare
    assert all(step["results"] == step["offered_per_s"] for step in bare["steps"]), bare  # steps of 1 s
    bare = postgres["bare_workers"]  # and as openspace runs: two workers, Redis between them
    assert "error" not in bare and all(step["results"] == step["offered_per_s"] for step in bare["steps"]), bare
    assert "2 workers with Redis between them" in done.stdout
    assert "PostgreSQL + Redis, 2 workers" in done.stdout
    assert results["snapshot"] and results["regions"]
    abuse = results["abuse"]
    assert "error" not in abuse, abuse
    assert set(abuse["attacks"]) == {"previews", "act_flood"}
    assert all(a["attacker"]["requests"] > 0 and a["rss_peak_kib"] > 0 for a in abuse["attacks"].values()), abuse
    assert all(len(a["rounds"]) == 2 and a["ratio"] in a["rounds"] for a in abuse["attacks"].values())
    assert "| Measure |" in done.stdout


def test_the_cowriting_benchmark_runs(tmp_path: Path) -> None:
    done = run("bench.cowrite", "--authors", "2", "--rate", "2", "--seconds", "1", "--updates", "200")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = orjson.loads(done.stdout)
    assert results["typing"] and results["loading"]


def test_the_storms_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "storms.json"
    done = run(
        "bench.storms",
        *("--clients", "20", "--phases", "reconnect,join,hall", "--changes", "20", "--outage", "1"),
        *("--reconnect-spread", "1", "--join-spread", "2", "--patience", "0", "--no-write", "--json", str(out)),
        *("--hall-clients", "20", "--hall-rate", "2", "--hall-seconds", "2"),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = orjson.loads(out.read_bytes())
    for side in ("project", "baseline"):
        storm = results["reconnect"][side]["storm"]
        assert (storm["failures"], storm["lost"], storm["duplicates"], storm["out_of_order"]) == (0, 0, 0, 0), storm
        assert storm["not_caught_up"] == 0, storm
        assert results["join"][side]["join"]["failures"] == 0, results["join"][side]
        hall = results["hall"][side]["hall"]  # open pages asking for their regions after each change
        assert hall["changes"] >= 2 and hall["asks"] >= 20 and (hall["failures"], hall["not_shown"]) == (0, 0), hall
        assert 0 < hall["shown"]["p50_ms"] <= hall["shown"]["max_ms"], hall
    floor = results["join"]["floor"]["join"]  # the bare app sending pages made once per change
    assert floor["failures"] == 0 and floor["cpu_ms_per_phone"] > 0, floor
    assert (
        0
        < results["join"]["project"]["join"]["loop_cpu_ms_per_phone"]
        <= results["join"]["project"]["join"]["cpu_ms_per_phone"]
    )


def test_the_bare_app_as_two_workers_sends_every_change_to_every_socket(
    postgres_url: str, redis: RedisServer, tmp_path: Path
) -> None:
    """The floor the durable target is compared with (#17) must be a real two-worker server: a
    change written on one worker reaches the event's sockets on the other, once each."""
    from bench import servers

    server = servers.start("pgbare", tmp_path, servers.Backend(postgres_url, redis.url, 2))
    try:
        with contextlib.ExitStack() as opened:
            sockets = sockets_on_both_workers(server.port, opened)
            for i, ws in enumerate(sockets):  # one action from each socket: written on both workers
                args = {"topic": "t0001", "title": f"t{i}", "description": ""}
                ws.send(orjson.dumps({"type": "action", "id": f"a{i}", "args": args}).decode())
            for ws in sockets:
                changes, results = [], 0
                while len(changes) < len(sockets) or not results:
                    message = orjson.loads(ws.recv(timeout=20))
                    if message["type"] == "change":
                        changes.append(message["seq"])
                    else:
                        results += 1
                assert sorted(changes) == list(range(1, len(sockets) + 1)) and results == 1
    finally:
        servers.stop(server)


def sockets_on_both_workers(port: int, opened: contextlib.ExitStack) -> list[ClientConnection]:
    """Sockets on event e0001 until each worker says it holds some (the kernel picks the worker)."""
    sockets: list[ClientConnection] = []
    counts: dict[str, int] = {}
    while len([n for n in counts.values() if n]) < 2 and len(sockets) < 40:
        sockets.append(opened.enter_context(connect(f"ws://127.0.0.1:{port}/d/e0001")))
        for _ in range(20):  # each request reaches one worker or the other: ask until both told
            home = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            home.request("GET", "/")
            pid, _, rest = home.getresponse().read().decode().removeprefix("pgbare ").partition(": ")
            home.close()
            counts[pid] = int(rest.split()[0])  # "pgbare <pid>: <n> connections"
    assert len([n for n in counts.values() if n]) == 2, counts
    return sockets
