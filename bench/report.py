"""The one table of `python -m bench`, the machine it ran on, and its place in docs/performance.md.

Where the baseline exists, each figure is given as openspace's value, the baseline's value
from the same run, and their ratio, because absolute numbers move with the machine and the
ratio is what says what openspace adds. The targets are the issue's.
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import shlex
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import abuse, postgres, regions

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
# the abuse phase's own rows, also written when it ran alone (--abuse-only leaves the main table be)
ABUSE_BEGIN, ABUSE_END = "<!-- bench:abuse:begin -->", "<!-- bench:abuse:end -->"
ROOT = Path(__file__).resolve().parent.parent
P99_TARGETS = {500: 30.0, 2000: 60.0, 5000: 150.0}  # ms, action -> last client, at the fixed rate
SATURATION_TARGET = 50_000  # deliveries/s
SCALING_SLACK = 1.15  # "constant" from 500 to 5,000 clients: within 15 %
CPU_RATIO_TARGET = 1.5  # x the baseline, per delivered message
MEMORY_TARGET = 32.0  # KiB per idle connection
DURABLE_TARGET, DURABLE_P99 = 2000, 10.0  # changes/s, ms
SNAPSHOT_TARGET = 5.0  # ms
PAGE_TARGET = 100_000  # bytes, compressed, first load
FROZEN_TARGET = 0.10  # the others' p99 may move by less than this


DISTURBED = 25.0  # % of a core used by anything but the server and the load generator during a phase


def disturbed(result: dict[str, Any] | None) -> float | None:
    """The largest foreign load during a run's measured phases, if it was large enough to matter."""
    loads = [get(result, phase, "other_cpu_pct") for phase in ("rate", "bursts", "control", "frozen")]
    worst = max((x for x in loads if x is not None), default=0.0)
    return worst if worst > DISTURBED else None


def machine() -> dict[str, Any]:
    model, memory = "?", "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    versions = {name: version(name) for name in ("uvicorn", "websockets", "starlette", "uvloop", "aiosqlite", "orjson")}
    source = hashlib.sha256()  # which code was measured (the benchmark runs no git commands)
    for path in sorted((ROOT / "src" / "openspace").rglob("*.py")):
        source.update(path.read_bytes())
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "source": source.hexdigest()[:12],
    }


def machine_line(m: dict[str, Any]) -> str:
    v = m["versions"]
    return (
        f"{m['nproc']} × {m['cpu']}, {m['memory']}, Linux {m['kernel']}, Python {m['python']}, "
        f"uvicorn {v['uvicorn']} (uvloop {v['uvloop']}), websockets {v['websockets']}, starlette {v['starlette']}"
    )


# --- formatting --------------------------------------------------------------------------------------


def num(x: float | None, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    digits = 0 if abs(x) >= 100 else 1
    return f"{x:,.{digits}f}{unit}"


def ratio(ours: float | None, theirs: float | None, what: str = "") -> str:
    if not ours or not theirs:
        return "—"
    return f"×{ours / theirs:.2f}" + (f" ({what})" if what else "")


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def triple(phase: dict[str, Any] | None) -> str:
    if not phase:
        return "—"
    never = "never" if phase.get("missing") else "—"  # JSON has no infinity: a change that never arrived
    cell = " / ".join(num(phase[k]) if phase.get(k) is not None else never for k in ("p50_ms", "p99_ms", "max_ms"))
    if phase.get("missing"):
        cell += f" ({phase['missing']} of {phase['changes']} changes never reached every client)"
    if phase.get("closed_during"):
        cell += f" ({phase['closed_during']} clients closed)"
    if (phase.get("other_cpu_pct") or 0) > DISTURBED:
        cell += f" ⚠ another program used {phase['other_cpu_pct']:.0f} % of a core meanwhile"
    return cell


def get(result: dict[str, Any] | None, *path: str) -> Any:
    value: Any = result or {}
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


# --- the table ---------------------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str, str, str]] = []
    fanout: dict[str, dict[str, Any]] = results.get("fanout", {})
    for n_text, sides in fanout.items():
        n = int(n_text)
        ours, bare = sides.get("project"), sides.get("baseline")
        for side, result in (("openspace", ours), ("baseline", bare)):
            if result and "error" in result:
                rows.append((f"{n} clients: {side} run failed", "", result["error"][:80], "", "", ""))
        rate = get(ours, "rate", "rate") or get(bare, "rate", "rate") or 0
        frame = get(ours, "frame_bytes") or get(bare, "frame_bytes") or 0
        p99, bare_p99 = get(ours, "rate", "p99_ms"), get(bare, "rate", "p99_ms")
        target = P99_TARGETS.get(n)
        rows.append(
            (
                f"{n} clients @ {rate:g} changes/s: action → last client, p50 / p99 / max ms ({frame:.0f} B frames)",
                f"p99 ≤ {target:g} ms" + (" (bare ≈ 41)" if n == 2000 else "") if target else "—",
                triple(get(ours, "rate")),
                triple(get(bare, "rate")),
                ratio(p99, bare_p99, "p99"),
                verdict(p99 is not None and p99 <= target) if target and ours else "—",
            )
        )
        if get(ours, "bursts") or get(bare, "bursts"):
            b = get(ours, "bursts") or get(bare, "bursts")
            rows.append(
                (
                    f"{n} clients, bursts of {b['size']} changes at once: p50 / p99 / max ms",
                    "—",
                    triple(get(ours, "bursts")),
                    triple(get(bare, "bursts")),
                    ratio(get(ours, "bursts", "p99_ms"), get(bare, "bursts", "p99_ms"), "p99"),
                    "—",
                )
            )
        cpu, bare_cpu = get(ours, "rate", "cpu_us_per_delivery"), get(bare, "rate", "cpu_us_per_delivery")
        rows.append(
            (
                f"{n} clients: server CPU (all threads) per delivered frame, µs (at {rate:g}/s)",
                f"≤ {CPU_RATIO_TARGET}× bare",
                num(cpu),
                num(bare_cpu),
                ratio(cpu, bare_cpu),
                verdict(cpu / bare_cpu <= CPU_RATIO_TARGET) if cpu and bare_cpu else "—",
            )
        )
        sat, bare_sat = get(ours, "saturation", "deliveries_per_s"), get(bare, "saturation", "deliveries_per_s")
        if sat or bare_sat:
            rows.append(
                (
                    f"{n} clients: deliveries/s at saturation",
                    f"≥ {SATURATION_TARGET:,}",
                    num(sat) + kicked(ours),
                    num(bare_sat) + kicked(bare),
                    ratio(sat, bare_sat),
                    verdict(sat >= SATURATION_TARGET) if sat else "—",
                )
            )
        mem, bare_mem = get(ours, "memory", "per_connection_kib"), get(bare, "memory", "per_connection_kib")
        rows.append(
            (
                f"{n} clients: server memory per idle connection, KiB",
                f"≤ {MEMORY_TARGET:g} KiB",
                num(mem),
                num(bare_mem),
                ratio(mem, bare_mem),
                verdict(mem <= MEMORY_TARGET) if mem else "—",
            )
        )
        if get(ours, "frozen") or get(bare, "frozen"):
            moved = frozen_change(ours)
            rows.append(
                (
                    f"{n} clients + 1 frozen client @ {rate:g}/s: others' p99 ms, frozen vs control",
                    f"moves < {FROZEN_TARGET:.0%}",
                    frozen_cell(ours),
                    frozen_cell(bare),
                    "—",
                    verdict(moved is not None and moved < FROZEN_TARGET) if ours else "—",
                )
            )
        gen = [get(r, "rate", "client_cpu_pct") for r in (ours, bare)]
        rows.append(
            (
                f"{n} clients: load generator CPU at {rate:g}/s, % of one core (must stay well below 100)",
                "—",
                num(gen[0], " %"),
                num(gen[1], " %"),
                "—",
                "—",
            )
        )
    rows += scaling(fanout)
    durable = results.get("durable")
    if durable:
        at = durable["at_target"]
        rows.append(
            (
                f"Durable changes/s, synchronous=FULL ({durable['connections']} connections over "
                f"{durable['events']} events, open loop, rising rate): most acknowledged results/s",
                f"≥ {DURABLE_TARGET:,}/s",
                num(durable["per_second"]),
                "—",
                "—",
                verdict(durable["per_second"] >= 0.98 * DURABLE_TARGET),
            )
        )
        rows.append(
            (
                f"Durable: action → result (after commit) at {at['offered_per_s']:,.0f} offered/s "
                f"({num(at['per_second'])} acknowledged/s), p50 / p99 / max ms",
                f"p99 ≤ {DURABLE_P99:g} ms",
                triple(at),
                "—",
                "—",
                verdict(at["p99_ms"] is not None and at["p99_ms"] <= DURABLE_P99),
            )
        )
    snap = results.get("snapshot")
    if snap:
        for key, label in (
            ("marketplace", "marketplace: 1,105 interest marks"),
            ("end_of_day", "end of day: + 2,000 check-ins"),
        ):
            s = snap[key]
            rows.append(
                (
                    f"Snapshot, 60 sessions / 200 participants ({label}), median ms (frame {s['frame_bytes']:,} B)",
                    f"≤ {SNAPSHOT_TARGET:g} ms",
                    num(s["median_ms"]),
                    "—",
                    "—",
                    verdict(s["median_ms"] <= SNAPSHOT_TARGET),
                )
            )
    rows += regions.rows(results.get("regions"), num, verdict)
    page = next(
        (get(sides.get("project"), "page") for sides in fanout.values() if get(sides.get("project"), "page")), None
    )
    if page:
        names = ["page", *(Path(i["path"]).name for i in page["items"][1:])]
        parts = ", ".join(f"{name} {i['bytes'] / 1000:.1f}" for name, i in zip(names, page["items"], strict=True))
        rows.append(
            (
                "Participant page first load, gzip, KB as sent (60 sessions)",
                f"≤ {PAGE_TARGET // 1000} KB",
                f"{page['total_bytes'] / 1000:.1f} ({parts})",
                "—",
                "—",
                verdict(page["total_bytes"] <= PAGE_TARGET),
            )
        )
    header = ("Measure", "Target", "openspace", "bare baseline", "openspace ÷ bare", "Target met")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    column = postgres.table(results, num, triple, verdict)
    if column:  # the PostgreSQL column (#17), beside SQLite's figures from this run
        lines += [
            "",
            "**PostgreSQL + Redis** (`openspace serve --workers N` on both, started by the bench):",
            "",
            column,
        ]
    return "\n".join(lines)


def scaling(fanout: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str, str, str]]:
    """Memory per connection constant, and fan-out cost no worse than linear (constant per frame),
    from the fewest clients measured to the most."""
    ours = {int(n): sides.get("project") for n, sides in fanout.items() if get(sides.get("project"), "rate")}
    if len(ours) < 2:
        return []
    low, high = min(ours), max(ours)
    rows = []
    for label, path, unit, target in (
        ("server memory per idle connection", ("memory", "per_connection_kib"), " KiB", "constant"),
        ("server CPU per delivered frame", ("rate", "cpu_us_per_delivery"), " µs", "no worse than linear"),
    ):
        a, b = get(ours[low], *path), get(ours[high], *path)
        if not a or not b:
            continue
        rows.append(
            (
                f"From {low:,} to {high:,} clients: {label}",
                f"{target} (×≤{SCALING_SLACK:g})",
                f"{num(a, unit)} → {num(b, unit)} (×{b / a:.2f})",
                "—",
                "—",
                verdict(b / a <= SCALING_SLACK),
            )
        )
    return rows


def kicked(result: dict[str, Any] | None) -> str:
    """What the server closed while the rising rate ran past saturation, if anything."""
    codes = get(result, "saturation", "reconnected") or {}
    parts = [
        f"{count} {kind} closed with {code}"
        for kind in ("drivers", "listeners")
        for code, count in (codes.get(kind) or {}).items()
    ]
    return f" (past it: {', '.join(parts)})" if parts else ""


def frozen_change(result: dict[str, Any] | None) -> float | None:
    """How much the others' p99 rose with the frozen client (∞: a change never reached them all)."""
    control = get(result, "control", "p99_ms")
    if not control or not get(result, "frozen"):
        return None
    frozen = get(result, "frozen", "p99_ms")
    if frozen is None or get(result, "frozen", "missing"):
        return math.inf
    return float(frozen) / float(control) - 1


def frozen_cell(result: dict[str, Any] | None) -> str:
    if not get(result, "frozen"):
        return "—"
    frozen, control = get(result, "frozen"), get(result, "control") or {}
    moved = frozen_change(result)
    cell = f"{num(frozen.get('p99_ms'))} vs {num(control.get('p99_ms'))}"
    cell += f" ({moved:+.0%})" if moved is not None and not math.isinf(moved) else ""
    if frozen.get("missing"):
        cell += f"; {frozen['missing']} of {frozen['changes']} changes never reached every client"
    closed = frozen.get("frozen_closed_with")
    cell += f"; frozen client closed with {closed}" if closed else "; frozen client never closed"
    return cell


# --- docs/performance.md -------------------------------------------------------------------------------------


def write_doc(path: Path, results: dict[str, Any], table_text: str, argv: list[str]) -> None:
    """Replace the generated part of the document; keep whatever was written around the markers."""
    if results.get("abuse"):
        write_abuse(path, results, argv)
    if results.get("args", {}).get("abuse_only"):
        return
    m = results["machine"]
    v = m["versions"]
    shown = [a for i, a in enumerate(argv) if a != "--json" and (i == 0 or argv[i - 1] != "--json")]
    command = "make bench" if not shown else ".venv/bin/python -m bench " + " ".join(shlex.quote(a) for a in shown)
    generated = f"""{BEGIN}
<!-- Written by `python -m bench` ({m["date"]}); edit outside the markers only. -->

Measured {m["date"]} with `{command}` ({results["elapsed_s"] / 60:.1f} minutes, waits for a quiet machine
included), on the code whose src/openspace/*.py hash to `{m["source"]}` (SHA-256, first 12 hex digits).

{table_text}

**Machine:** {m["nproc"]} CPUs (`nproc`), {m["cpu"]} (from /proc/cpuinfo), {m["memory"]} RAM,
Linux {m["kernel"]}; Python {m["python"]}, uvicorn {v["uvicorn"]} on uvloop {v["uvloop"]},
websockets {v["websockets"]}, Starlette {v["starlette"]}, aiosqlite {v["aiosqlite"]}, orjson {v["orjson"]}.
Server and load generator share these cores.

**Reproduce** (from the repository root, nothing else running):

```
make bench                                   # 500, 1,000, 2,000 and 5,000 clients, durable writes: ~13 minutes
.venv/bin/python -m bench --clients 2000 --no-saturation --no-write   # one quick point
.venv/bin/python -m bench --client websockets --clients 500 --no-write  # listeners on websockets' own client
.venv/bin/python -m bench.snapshot           # the snapshot timing alone
.venv/bin/python -m bench --clients '' --only project --no-write      # durable on both stores, 2,000 clients on PG
.venv/bin/python -m bench.pgfloor                                     # PostgreSQL's floor alone
.venv/bin/python -m bench --abuse-only --abuse-clients 500 --abuse-seconds 5 --no-write  # abuse, scaled down
```
{END}"""
    if path.exists() and BEGIN in (text := path.read_text()) and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        path.write_text(before + generated + after)
    else:
        path.write_text(f"# Performance\n\n{generated}\n")


def abuse_table(results: dict[str, Any]) -> str:
    """The abuse phase's rows (bench/abuse.py) as their own table: each attack against no attack."""
    header = ("Measure", "Target", "openspace", "without the attacker", "attack ÷ none", "Target met")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in abuse.rows(results.get("abuse"), num, verdict)]
    return "\n".join(lines)


def write_abuse(path: Path, results: dict[str, Any], argv: list[str]) -> None:
    """The abuse-under-load rows between their own markers (appended to the document the first time)."""
    m = results["machine"]
    shown = [a for i, a in enumerate(argv) if a != "--json" and (i == 0 or argv[i - 1] != "--json")]
    command = "make bench" if not shown else ".venv/bin/python -m bench " + " ".join(shlex.quote(a) for a in shown)
    table_text = abuse_table(results)
    generated = f"""{ABUSE_BEGIN}
<!-- Written by `python -m bench` ({m["date"]}); edit outside the markers only. -->

Measured {m["date"]} with `{command}`, on the code whose src/openspace/*.py hash to `{m["source"]}`;
{m["nproc"]} CPUs, server, honest clients and attacker on the same cores.

{table_text}
{ABUSE_END}"""
    text = path.read_text() if path.exists() else "# Performance\n"
    if ABUSE_BEGIN in text and ABUSE_END in text:
        before, rest = text.split(ABUSE_BEGIN, 1)
        text = before + generated + rest.split(ABUSE_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Abuse under load (issue #21)\n\n" + generated + "\n"
    path.write_text(text)
