"""The floor of a durable change on PostgreSQL (issue #17): `python -m bench.pgfloor`.

What any server keeping the issue's guarantee must do for a change, and nothing else: move the
event's head under its row lock, insert the change into the log and the row it changes, and
commit with `synchronous_commit = on` before answering. Two processes, as two workers, each with
one connection that takes every change that arrived while its last transaction ran (the events'
rows locked in id order, the writes pipelined), as openspace's writer does; changes arrive on a
fixed schedule (open loop) over 128 events, at rising offered rates. No HTTP, no websockets, no
rules, no Redis, no load generator's sockets: a lower bound on the durable p99 that the bench's
PostgreSQL column measures through the whole of openspace, on the same PostgreSQL (started as
the tests start it: tests/backends.py). Latency is from a change's arrival to its commit.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from typing import Any

import psycopg

from .loadgen import percentile

SCHEMA = """
CREATE TABLE events (id TEXT PRIMARY KEY, head_seq BIGINT NOT NULL DEFAULT 0);
CREATE TABLE changes (event_id TEXT NOT NULL REFERENCES events(id), seq BIGINT NOT NULL, kind TEXT NOT NULL,
                      patch TEXT NOT NULL, PRIMARY KEY (event_id, seq));
CREATE TABLE topics (id TEXT PRIMARY KEY, event_id TEXT NOT NULL REFERENCES events(id), title TEXT NOT NULL);
"""
PATCH = '{"upserts":[{"type":"topic","title":"Sociala medier på biblioteket","description":"' + "x" * 200 + '"}]}'


def worker(url: str, index: int, rate: float, seconds: float, events: int, out: Any) -> None:
    """One worker's share: `rate` changes/s for `seconds`, each answered at its commit."""
    db = psycopg.connect(url, autocommit=True)
    db.execute("SET synchronous_commit = on")
    start = time.monotonic() + 0.5
    due = [start + k / rate for k in range(int(rate * seconds))]
    waits: list[float] = []
    taken = 0
    while taken < len(due):
        now = time.monotonic()
        if due[taken] > now:
            time.sleep(due[taken] - now)
            now = time.monotonic()
        batch = [k for k in range(taken, len(due)) if due[k] <= now]
        taken += len(batch)
        by_event: dict[str, list[int]] = {}
        for k in batch:
            by_event.setdefault(f"e{(k * 2 + index) % events:04d}", []).append(k)
        with db.pipeline(), db.transaction():
            heads = {
                event: db.execute(
                    "UPDATE events SET head_seq = head_seq + %s WHERE id = %s RETURNING head_seq", (len(ks), event)
                )
                for event, ks in sorted(by_event.items())
            }
            for event, ks in by_event.items():
                head = heads[event].fetchone()
                assert head is not None
                first = head[0] - len(ks) + 1
                with db.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO changes (event_id, seq, kind, patch) VALUES (%s, %s, 'topic.proposed', %s)",
                        [(event, first + i, PATCH) for i in range(len(ks))],
                    )
                    cur.executemany(
                        "INSERT INTO topics (id, event_id, title) VALUES (%s, %s, 'Sociala medier')",
                        [(f"t{index}-{rate:.0f}-{k}", event) for k in ks],
                    )
        done = time.monotonic()
        waits += [(done - due[k]) * 1e3 for k in batch]
    db.close()
    out.put((waits, done - start))


def step(url: str, rate: float, seconds: float, events: int, workers: int) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [
        context.Process(target=worker, args=(url, i, rate / workers, seconds, events, out)) for i in range(workers)
    ]
    for process in processes:
        process.start()
    answers = [out.get(timeout=seconds * 20 + 60) for _ in processes]
    for process in processes:
        process.join(30)
    waits = [w for got, _ in answers for w in got]
    return {
        "offered_per_s": rate,
        "per_second": len(waits) / max(max(took for _, took in answers), seconds),
        "p50_ms": percentile(waits, 50),
        "p99_ms": percentile(waits, 99),
        "max_ms": max(waits),
    }


def steps(
    url: str, rates: list[float], seconds: float = 5.0, events: int = 128, workers: int = 2
) -> list[dict[str, float]]:
    """Every rate in turn on the database at `url` (its tables made here)."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(SCHEMA)
        with db.cursor() as cur:
            cur.executemany("INSERT INTO events (id) VALUES (%s)", [(f"e{i:04d}",) for i in range(events)])
    return [step(url, rate, seconds, events, workers) for rate in rates]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pgfloor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="500,1000,2000,3000,4000", help="offered changes/s, in turn")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds at each rate (default 5)")
    parser.add_argument("--events", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from tests.backends import postgres_server

    with postgres_server() as server:
        rates = [float(r) for r in args.rates.split(",")]
        found = steps(server.create_database("floor"), rates, args.seconds, args.events, args.workers)
    print("| offered/s | committed/s | p50 ms | p99 ms | max ms |\n|---:|---:|---:|---:|---:|")
    for r in found:
        figures = (r["offered_per_s"], r["per_second"], r["p50_ms"], r["p99_ms"], r["max_ms"])
        print("| {:,.0f} | {:,.0f} | {:.1f} | {:.1f} | {:.1f} |".format(*figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
