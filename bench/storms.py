"""The storms at the edges of the day (issue #20): `python -m bench.storms` (also run by `make bench`).

A whole hall coming back after an access point rebooted, a whole hall joining at the opening,
phones whose link dies without a reset, and a hall of open pages asking for their regions after
each change (bench/hall.py). Each storm runs against the real server (`python -m
openspace serve`, as bench/servers.py starts it) and then against the bare Starlette app
(bench/baseline.py) in the same run, with the load generator (bench/stormload.py) in its own
process; figures are given beside the bare app's and as their ratio. The silent drop has no bare
counterpart: it measures live.js's promise and the server's own detection. The join storm runs a
third time against the floor: the bare app sending a page it made once per change (`--cached`),
what uvicorn, Starlette and the kernel cost for the same requests whatever an app does. Traffic only to
127.0.0.1; every phase is bounded in count and time. `--clients 200` is a quick look.
"""

from __future__ import annotations

import argparse
import math
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from . import report, servers

DOC = servers.ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- storms:begin -->", "<!-- storms:end -->"
TARGETS = {"caught_up_ratio": 1.5, "facilitator_p99_ms": 100.0, "join_p99_ms": 1000.0, "cpu_per_join_ms": 2.5}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.storms", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000, help="phones in each storm (default %(default)s)")
    parser.add_argument("--phases", default="reconnect,join,silent,hall", help="which storms (default %(default)s)")
    parser.add_argument("--changes", type=int, default=200, help="changes made during the outage (default 200)")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the phones are away (default 5)")
    parser.add_argument("--reconnect-spread", type=float, default=2.0, help="seconds they come back within")
    parser.add_argument("--join-spread", type=float, default=10.0, help="seconds the phones join within")
    parser.add_argument("--storm-rate", type=float, default=5.0, help="facilitator's changes/s during a storm")
    parser.add_argument(
        "--page-bytes", type=int, default=40_000, help="the bare page's size if openspace's is not measured first"
    )
    parser.add_argument(
        "--connection-close",
        action="store_true",
        help="a joining phone opens a new connection per request (browsers keep one open)",
    )
    parser.add_argument("--silent-clients", type=int, default=20, help="phones whose link dies (default 20)")
    parser.add_argument("--hall-clients", type=int, default=1000, help="open pages asking after changes (1000)")
    parser.add_argument("--hall-rate", type=float, default=2.0, help="facilitator's changes/s in the hall (2)")
    parser.add_argument("--hall-seconds", type=float, default=10.0, help="seconds of changes in the hall (10)")
    parser.add_argument("--hall-page", choices=("participant", "session"), default="participant", help="their page")
    parser.add_argument("--hall-laptops", type=int, default=0, help="facilitator's board pages open too (0)")
    parser.add_argument("--only", choices=("project", "baseline", "floor"), help="run one side only (no ratios)")
    parser.add_argument("--patience", type=float, default=180.0, help="seconds to wait for a quiet machine")
    parser.add_argument("--json", type=Path, help="also write every raw result to this file")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {DOC.relative_to(servers.ROOT)}")
    return parser.parse_args(argv)


def run(kind: str, config: dict[str, Any], workdir: Path, patience: float) -> dict[str, Any]:
    """One storm against one server: started fresh, the generator in its own process, stopped."""
    load = servers.wait_quiet(patience=patience)
    server = servers.start(kind, workdir)
    out = workdir / f"{config['mode']}-{kind}.json"
    target = "project" if kind == "project" else "baseline"  # the floor is the baseline, its pages kept
    config = {**config, "target": target, "port": server.port, "pid": server.pid, "out": str(out)}
    if target == "baseline":  # one connection's broadcasts go out one after another, in order, as
        config["drivers"] = 1  # openspace's hub sends them; several would interleave their loops
    print(f"  {config['mode']}: {kind}, {config['clients']} phones on port {server.port} ...", flush=True)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.stormload", orjson.dumps(config).decode()],
            cwd=servers.ROOT,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            preexec_fn=servers.raise_nofile,
        )
        try:
            code = process.wait(timeout=config["limit"] + 30)
        finally:
            servers._end(process, 2.0)
        if code != 0 or not out.exists():
            raise RuntimeError(f"the storm's load generator failed (exit {code})")
        result: dict[str, Any] = orjson.loads(out.read_bytes())
        result["load_before_pct"] = load
        return result
    except Exception as problem:
        print(f"  {kind} failed: {problem}\n{server.tail()}", file=sys.stderr, flush=True)
        return {"error": str(problem)}
    finally:
        servers.stop(server)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sides = [args.only] if args.only else ["project", "baseline"]
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    results: dict[str, Any] = {"machine": report.machine(), "argv": sys.argv[1:] if argv is None else argv}
    started = time.monotonic()
    print("openspace storms:", report.machine_line(results["machine"]), flush=True)
    common = {"clients": args.clients, "storm_rate": args.storm_rate, "drivers": 8}
    with tempfile.TemporaryDirectory(prefix="openspace-storms-") as tmp:
        workdir = Path(tmp)
        if "reconnect" in phases:
            config = {**common, "mode": "reconnect", "participants": 200, "changes": args.changes}
            config |= {"outage": args.outage, "spread": args.reconnect_spread, "deadline": 60.0, "limit": 240.0}
            results["reconnect"] = {side: run(side, config, workdir, args.patience) for side in sides}
        if "join" in phases:
            config = {**common, "mode": "join", "participants": 1, "spread": args.join_spread, "limit": 240.0}
            config |= {"page_bytes": args.page_bytes, "keep_alive": not args.connection_close}
            results["join"] = {}
            for side in sides + (["floor"] if not args.only else []):
                results["join"][side] = run(side, config, workdir, args.patience)
                config["page_bytes"] = results["join"][side].get("join", {}).get("page_bytes", config["page_bytes"])
        if "silent" in phases and "project" in sides:
            config = {**common, "mode": "silent", "clients": args.silent_clients, "participants": 20, "limit": 240.0}
            results["silent"] = {"project": run("project", config, workdir, args.patience)}
        if "hall" in phases:
            config = {**common, "mode": "hall", "clients": args.hall_clients, "participants": 200, "limit": 240.0}
            config |= {"storm_rate": args.hall_rate, "seconds": args.hall_seconds, "page_bytes": args.page_bytes}
            config |= {"page": args.hall_page, "laptops": args.hall_laptops}
            results["hall"] = {side: run(side, config, workdir, args.patience) for side in sides}
    results["elapsed_s"] = time.monotonic() - started
    text = table(results)
    print()
    print(text)
    print(f"\n({results['elapsed_s']:.0f} s)")
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    if not args.no_write:
        write_doc(text, results)
        print(f"wrote {DOC.relative_to(servers.ROOT)}")
    return 0


def pick(result: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(result, dict):
            return None
        result = result.get(key)
    return result


def cell(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isinf(value):
            return "never"
        return f"{value:,.1f}{unit}" if value < 100 else f"{value:,.0f}{unit}"
    return f"{value:,}{unit}"


def ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b or math.isinf(a) or math.isinf(b):
        return "–"
    return f"{a / b:.2f}×"


def table(results: dict[str, Any]) -> str:
    """One markdown table: each figure for openspace, the bare app, their ratio, and the target."""
    rows = ["| storm | figure | openspace | bare app | ratio | target |", "|---|---|---:|---:|---:|---|"]

    def row(
        storm: str,
        figure: str,
        path: tuple[str, ...],
        unit: str,
        target: str,
        with_ratio: bool = True,
        against: str = "baseline",
    ) -> None:
        side = results.get(storm, {})
        a, b = pick(side.get("project"), *path), pick(side.get(against), *path)
        times = ratio(a, b) if with_ratio else "–"
        rows.append(f"| {storm} | {figure} | {cell(a, unit)} | {cell(b, unit)} | {times} | {target} |")

    def facilitator(storm: str, path: tuple[str, ...]) -> None:
        figure = "facilitator action → result, p99 (bare: its echo)"
        row(storm, figure, (*path, "facilitator", "p99_ms"), " ms", "≤ 100 ms")

    if "reconnect" in results:
        s = ("storm",)
        row("reconnect", "last phone caught up", (*s, "last_caught_up_ms"), " ms", "≤ 1.5× bare")
        row("reconnect", "caught up, p50", (*s, "caught_up", "p50_ms"), " ms", "")
        for side in ("project", "baseline"):
            got = [pick(results["reconnect"].get(side), *s, k) for k in ("lost", "duplicates", "out_of_order")]
            counts = " / ".join(cell(g) for g in got)
            rows.append(f"| reconnect | lost / duplicated / out of order ({side}) | {counts} | | | 0 / 0 / 0 |")
        row("reconnect", "snapshots", (*s, "snapshots"), "", "0 (gap within the log)", False)
        row("reconnect", "time to 101, p99", (*s, "to_101", "p99_ms"), " ms", "")
        facilitator("reconnect", s)
        row("reconnect", "server CPU per phone", (*s, "cpu_ms_per_phone"), " ms", "")
        row("reconnect", "failures", (*s, "failures"), "", "0", False)
    if "join" in results:
        j = ("join",)
        row("join", "first GET → socket in, p99", (*j, "in", "p99_ms"), " ms", "≤ 1,000 ms")
        row("join", "first GET → socket in, p50", (*j, "in", "p50_ms"), " ms", "")
        row("join", "failures", (*j, "failures"), "", "0", False)
        facilitator("join", j)
        row("join", "server CPU per phone", (*j, "cpu_ms_per_phone"), " ms", "≤ 2.5 ms")
        row("join", "server CPU per phone: its event loop", (*j, "loop_cpu_ms_per_phone"), " ms", "")
        row("join", "page as sent (gzip), bytes", (*j, "page_wire_bytes"), "", "")
        floor = "server CPU per phone; bare column: the floor"
        row("join", floor, (*j, "cpu_ms_per_phone"), " ms", "", against="floor")
    if "silent" in results:
        x = ("silent",)
        promise = pick(results["silent"].get("project"), *x, "promise_s")
        row(
            "silent",
            "link dead → dropped by live.js, max",
            (*x, "detected", "max_ms"),
            " s",
            f"≤ {cell(promise)} s",
            False,
        )
        row("silent", "link dead → back and up to date, max", (*x, "back", "max_ms"), " s", "", False)
        row("silent", "link dead → server let go, max", (*x, "server_closed", "max_ms"), " s", "", False)
    if "hall" in results:
        h = ("hall",)
        row("hall", "change → every open page shows it, p99", (*h, "shown", "p99_ms"), " ms", "")
        row("hall", "change → every open page shows it, p50", (*h, "shown", "p50_ms"), " ms", "")
        row("hall", "changes a page never showed", (*h, "not_shown"), "", "0", False)
        if pick(results["hall"].get("project"), "hall", "laptops"):
            board = "the facilitator's open board: change → it shows it, p99"
            row("hall", board, (*h, "laptop_shown", "p99_ms"), " ms", "", False)
        row("hall", "asks failed", (*h, "failures"), "", "0", False)
        facilitator("hall", h)
        row("hall", "asks answered", (*h, "asks"), "", "", False)
        row("hall", "server CPU per ask (its frames included)", (*h, "cpu_ms_per_ask"), " ms", "")
    return "\n".join(rows)


def write_doc(text: str, results: dict[str, Any]) -> None:
    m = results["machine"]
    block = (
        f"{BEGIN}\n`python -m bench.storms {' '.join(results['argv'])}`, {m['date']}, source {m['source']}, "
        f"on {report.machine_line(m)}:\n\n{text}\n{END}"
    )
    doc = DOC.read_text()
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip() + "\n\n## Storms (issue #20)\n\n" + block + "\n"
    DOC.write_text(doc)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
