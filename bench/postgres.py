"""The PostgreSQL column of `make bench` (issue #17): openspace as it runs on several workers.

PostgreSQL and Redis are started the way the tests start them (tests/backends.py: Debian's
`initdb` + `pg_ctl` into a temporary folder, `redis-server` daemonized, both on 127.0.0.1 only,
fsync and `synchronous_commit` left on), and openspace as `openspace serve --workers N` on them,
a fresh database for each run. Two runs, each measured as the SQLite side is:

* the durable phase: many connections over many events at rising offered rates, until
  acknowledged results/s stop rising (the real ceiling, for both stores);
* N listening clients spread over the workers by the kernel (one port, no stickiness) at the
  fixed rate, action → last client, as the first table's rows.

The bus lag (a change's commit on one worker to its arrival over Redis on another) is the
server's own histogram, read from `/metrics` at the end of each run (openspace_bus_lag_seconds);
its percentiles are interpolated within the histogram's buckets, as Prometheus's
histogram_quantile does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import histograms, pgfloor

DURABLE_P99 = 20.0  # ms, on PostgreSQL (the target; SQLite's is 10 ms)
FANOUT_P99 = 60.0  # ms, 2,000 clients over 2 workers at 20 changes/s


def scrape(port: int) -> dict[str, Any]:
    """The bus-lag and fan-out histograms, as the workers measured them over the whole run."""
    found = histograms.read(port, ("openspace_bus_lag_seconds", "openspace_fanout_seconds"))
    return {name: histograms.summary(histogram) for name, histogram in found.items()}


def run(
    args: Any,
    workdir: Path,
    run_one: Callable[..., dict[str, Any]],
    fanout_config: Callable[..., dict[str, Any]],
    durable_config: Callable[[Path], dict[str, Any]],
) -> dict[str, Any]:
    """Both runs on a PostgreSQL cluster and a Redis server of their own."""
    from tests.backends import postgres_server, redis_server

    from .servers import Backend

    results: dict[str, Any] = {"workers": args.pg_workers}
    with postgres_server() as pg, redis_server(workdir / "redis") as redis:
        if not args.skip_durable:
            print(f"durable changes on PostgreSQL + Redis, {args.pg_workers} workers ...", flush=True)
            backend = Backend(pg.create_database("durable"), redis.url, args.pg_workers)
            done = run_one("project", durable_config(workdir / "pg-durable.json"), workdir, backend)
            results["durable"] = done.get("durable") or {"error": done.get("error", "no result")}
            results["durable_metrics"] = done.get("metrics")
            print("the floor: the same durable writes with nothing of openspace (bench/pgfloor.py) ...", flush=True)
            offered = [s["offered_per_s"] for s in results["durable"].get("steps", [])]
            rates = [r for r in offered if r <= 6000] or [500.0, 1000.0, 2000.0]  # the target is at 2,000/s
            results["floor"] = pgfloor.steps(pg.create_database("floor"), rates, args.durable_seconds)
            print("the bare app's same writes behind uvicorn and websockets (bench/pgbare.py) ...", flush=True)
            config = {**durable_config(workdir / "pg-bare.json"), "target": "baseline"}
            bare = run_one("pgbare", config, workdir, Backend(pg.create_database("bare")))
            results["bare"] = bare.get("durable") or {"error": bare.get("error", "no result")}
            if args.pg_workers > 1:  # the same app as openspace's workers: the configuration's own cost
                print(f"the bare app as {args.pg_workers} workers, Redis between them (bench/pgbare.py) ...")
                backend = Backend(pg.create_database("bare_workers"), redis.url, args.pg_workers)
                bare = run_one("pgbare", {**config, "out": str(workdir / "pg-bare-workers.json")}, workdir, backend)
                results["bare_workers"] = bare.get("durable") or {"error": bare.get("error", "no result")}
        n = args.pg_clients
        if n:
            print(f"{n} clients on PostgreSQL + Redis, {args.pg_workers} workers:", flush=True)
            config = fanout_config(args, "project", n, workdir / "pg-fanout.json", 600)
            config.update(saturation=False, frozen=False, page=False)
            backend = Backend(pg.create_database("fanout"), redis.url, args.pg_workers)
            results["fanout"] = run_one("project", config, workdir, backend)
    return results


def table(
    results: dict[str, Any], num: Callable[..., str], triple: Callable[..., str], verdict: Callable[..., str]
) -> str:
    """The PostgreSQL column beside SQLite's figures from the same run."""
    pg = results.get("postgres")
    if not pg:
        return ""
    workers = pg["workers"]
    sqlite_durable, pg_durable = results.get("durable") or {}, pg.get("durable") or {}
    rows: list[tuple[str, str, str, str, str]] = []
    if sqlite_durable or pg_durable:
        rows.append(
            (
                "Durable changes/s, the real ceiling: most acknowledged results/s while the offer rose until "
                "acknowledged/s stopped rising",
                "≥ 2,000/s",
                ceiling_cell(sqlite_durable, num),
                ceiling_cell(pg_durable, num),
                verdict((pg_durable.get("per_second") or 0) >= 0.98 * 2000) if pg_durable.get("steps") else "—",
            )
        )
        rows.append(
            (
                "Durable: action → result (after commit) at "
                f"{num((pg_durable.get('at_target') or sqlite_durable.get('at_target') or {}).get('offered_per_s'))}"
                " offered/s, p50 / p99 / max ms",
                f"p99 ≤ 10 ms (SQLite), ≤ {DURABLE_P99:g} ms (PostgreSQL)",
                triple(sqlite_durable.get("at_target")),
                triple(pg_durable.get("at_target")),
                verdict(p99_within(pg_durable.get("at_target"), DURABLE_P99)) if pg_durable.get("steps") else "—",
            )
        )
        commit = (pg_durable.get("at_target") or {}).get("commit")
        if commit:
            rows.append(
                (
                    "Durable, the same on the server (`openspace_commit_seconds`): a write queued for the writer → "
                    "committed, without the sockets and the load generator's own turn, p50 / p99 / mean ms",
                    "reported",
                    "—",
                    " / ".join(num(commit.get(k)) for k in ("p50_ms", "p99_ms", "mean_ms")),
                    "—",
                )
            )
        rows.append(
            (
                "Durable: every step, offered → acknowledged/s (p99 ms)",
                "—",
                steps_cell(sqlite_durable, num),
                steps_cell(pg_durable, num),
                "—",
            )
        )
        floor = pg.get("floor") or []
        if floor:
            rows.append(
                (
                    "Durable, the floor: the same writes with nothing of openspace, two processes, "
                    "offered → committed/s (p99 ms; bench/pgfloor.py); then openspace's p99 ÷ the floor's",
                    "—",
                    "—",
                    f"{steps_cell({'steps': floor}, num)}; {floor_ratios(pg_durable, floor)}",
                    "—",
                )
            )
        for key, how in (("bare", "one process"), ("bare_workers", f"{workers} workers with Redis between them")):
            bare = pg.get(key) or {}
            if bare:
                cell = f"failed: {bare['error'][:60]}" if "error" in bare else steps_cell(bare, num)
                ratios = floor_ratios(pg_durable, bare.get("steps") or []) if "error" not in bare else "—"
                rows.append(
                    (
                        "Durable, the bare app: the same writes behind the same uvicorn, websockets and load "
                        f"generator, {how}, offered → acknowledged/s (p99 ms; bench/pgbare.py); then openspace's "
                        "p99 ÷ the bare app's",
                        "—",
                        "—",
                        f"{cell}; {ratios}",
                        "—",
                    )
                )
    fanout = pg.get("fanout")
    if fanout:
        n, rate = fanout.get("config", {}).get("clients", 0), fanout.get("rate", {}).get("rate", 0)
        sqlite_side = (results.get("fanout", {}).get(str(n)) or {}).get("project")
        cell = f"{fanout['error'][:80]}" if "error" in fanout else triple(fanout.get("rate"))
        rows.append(
            (
                f"{n} clients @ {rate:g} changes/s: action → last client, p50 / p99 / max ms "
                f"(PostgreSQL: spread over {workers} workers)",
                f"p99 ≤ {FANOUT_P99:g} ms",
                triple((sqlite_side or {}).get("rate")),
                cell,
                verdict(p99_within(fanout.get("rate"), FANOUT_P99)) if "error" not in fanout else "**no**",
            )
        )
        lag = (fanout.get("metrics") or {}).get("bus_lag_seconds") or {}
        rows.append(
            (
                "Bus lag: commit on one worker → arrival over Redis on another, p50 / p99 / mean ms "
                f"(the server's histogram, {num(lag.get('count'))} changes)",
                "reported",
                "— (one process: no bus)",
                " / ".join(num(lag.get(k)) for k in ("p50_ms", "p99_ms", "mean_ms")) if lag else "—",
                "—",
            )
        )
    header = ("Measure", "Target", "SQLite, 1 process", f"PostgreSQL + Redis, {workers} workers", "Target met")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ceiling_cell(durable: dict[str, Any], num: Callable[..., str]) -> str:
    if "error" in durable:
        return f"failed: {durable['error'][:60]}"
    if not durable.get("steps"):
        return "—"
    last = durable["steps"][-1]
    why = (
        "the connections' most"
        if last["offered_per_s"] >= durable.get("offer_ceiling", math.inf)
        else f"{num(last['per_second'])}/s at {num(last['offered_per_s'])} offered"
    )
    return f"{num(durable['per_second'])} (last step: {why})"


def steps_cell(durable: dict[str, Any], num: Callable[..., str]) -> str:
    steps = durable.get("steps") or []
    return ", ".join(f"{num(s['offered_per_s'])} → {num(s['per_second'])} ({num(s['p99_ms'])})" for s in steps) or "—"


def floor_ratios(durable: dict[str, Any], floor: list[dict[str, Any]]) -> str:
    by_rate = {s["offered_per_s"]: s["p99_ms"] for s in floor}
    pairs = [(s["offered_per_s"], s["p99_ms"], by_rate.get(s["offered_per_s"])) for s in durable.get("steps") or []]
    return ", ".join(f"{r:,.0f}/s ×{times(a / b)}" for r, a, b in pairs if a is not None and b) or "—"


def times(ratio: float) -> str:
    """Two digits: under 1 (faster than the other) as much as over it."""
    return f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.2g}"


def p99_within(phase: dict[str, Any] | None, limit: float) -> bool:
    return bool(phase) and phase.get("p99_ms") is not None and not phase.get("missing") and phase["p99_ms"] <= limit  # type: ignore[union-attr]
