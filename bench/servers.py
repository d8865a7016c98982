"""Start and stop the servers under test, and the load generator, as separate processes.

openspace is started exactly as users start it (`python -m openspace serve`, uvicorn with
websockets-sansio, production settings) on a fresh database in a temporary directory; the bare
baseline (bench/baseline.py) on the same uvicorn settings. Each runs in its own session, so
stopping it (SIGTERM, then SIGKILL after a grace period) takes its whole process group, also
after an error or Ctrl-C in the benchmark. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_nofile() -> None:
    """Runs in the child before exec (the limit is inherited): thousands of sockets need descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Server:
    kind: str  # "project" or "baseline"
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# The load generator is one address (127.0.0.1) standing for thousands of people and a few tireless
# facilitators, so the per-address, per-person and per-event limits (#21) are raised to bench scale.
# Every limit is still checked on every request: its cost is measured, only its refusals are not.
BENCH_LIMITS = {
    "OPENSPACE_LIMIT_ACTIONS_PERSON": "1000000/10",
    "OPENSPACE_LIMIT_ACTIONS_ADDRESS": "1000000/10",
    "OPENSPACE_LIMIT_ACTIONS_EVENT": "1000000/10",
    "OPENSPACE_LIMIT_PROPOSALS_PERSON": "1000000/10",
    "OPENSPACE_LIMIT_PROPOSALS_ADDRESS": "1000000/10",
    "OPENSPACE_LIMIT_DOWNLOADS": "1000000/10",
    "OPENSPACE_LIMIT_JOINS_ADDRESS": "1000000/600",
    "OPENSPACE_LIMIT_NEW_EVENTS_ADDRESS": "100000/3600",
    "OPENSPACE_LIMIT_NEW_EVENTS": "100000/3600",
    "OPENSPACE_SOCKETS_PER_ADDRESS": "100000",
    "OPENSPACE_SOCKETS_PER_PERSON": "100000",
}


@dataclass(frozen=True)
class Backend:
    """Where the project server keeps its data: a fresh SQLite file (empty URLs), or PostgreSQL and
    Redis with several workers (bench/postgres.py), with /metrics on for the bus lag."""

    database_url: str = ""
    bus_url: str = ""
    workers: int = 1


def start(kind: str, workdir: Path, backend: Backend | None = None) -> Server:
    """kind: "project" (limits at bench scale), "abuse" (openspace as shipped), "baseline", or
    "floor" (the baseline sending each page as made once per change: bench/baseline.py), or "pgbare"
    (the bare app's durable writes on `backend`'s PostgreSQL: bench/pgbare.py)."""
    port = free_port()
    extra: dict[str, str] = {}
    if kind == "project" and backend is not None and backend.database_url:
        command = [sys.executable, "-m", "openspace", "serve", "--no-demo", "--port", str(port)]
        command += ["--database-url", backend.database_url, "--bus-url", backend.bus_url]
        command += ["--workers", str(backend.workers), "--log-level", "warning"]
        extra = {"OPENSPACE_METRICS": "1", "OPENSPACE_DB": ""}
    elif kind == "pgbare" and backend is not None:  # the bare app's durable writes (bench/pgbare.py)
        command = [sys.executable, "-m", "bench.pgbare", "--port", str(port), "--database-url", backend.database_url]
        command += ["--workers", str(backend.workers), "--bus-url", backend.bus_url] if backend.workers > 1 else []
    elif kind in ("project", "abuse"):
        db = workdir / f"bench-{port}.db"
        command = [sys.executable, "-m", "openspace", "serve", "--no-demo", "--db", str(db), "--port", str(port)]
        command += ["--log-level", "warning"]
    else:
        command = [sys.executable, "-m", "bench.baseline", "--port", str(port), "--log-level", "warning"]
        command += ["--cached"] if kind == "floor" else []
    log = workdir / f"{kind}-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(BENCH_LIMITS if kind == "project" else {}), **extra}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=raise_nofile,
        )
    server = Server(kind, port, process, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    answers = 0  # several workers: several good answers in a row, so that every one is up
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {kind} server exited at startup:\n{server.tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz" if backend and backend.workers > 1 and kind == "project" else "/")
            answers = answers + 1 if conn.getresponse().status == 200 else 0
            conn.close()
            if answers >= (5 if backend and backend.workers > 1 else 1):
                return server
            time.sleep(0.1)
        except OSError:
            answers = 0
            time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"the {kind} server did not answer within {STARTUP_SECONDS} s:\n{server.tail()}")


def stop(server: Server, grace: float = 5.0) -> None:
    """SIGTERM to the process group; SIGKILL if it is still there after `grace` seconds."""
    _end(server.process, grace)


def _end(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(timeout=grace)


def machine_load(seconds: float = 2.0) -> float:
    """How busy the machine is, in % of one core (200 = two cores flat out), over `seconds`."""

    def busy() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return sum(values) - values[3] - values[4], sum(values)

    b0, t0 = busy()
    time.sleep(seconds)
    b1, t1 = busy()
    cores = len(os.sched_getaffinity(0))
    return 100 * cores * (b1 - b0) / max(1, t1 - t0)


def wait_quiet(threshold: float = 20.0, patience: float = 180.0) -> float:
    """Wait (bounded) until nothing else keeps the machine busy: another program's load would
    count against whichever side happened to run beside it. Returns the last load seen."""
    deadline = time.monotonic() + patience
    load = machine_load()
    while load > threshold and time.monotonic() < deadline:
        print(f"  the machine is busy with something else ({load:.0f} % of a core); waiting ...", flush=True)
        time.sleep(5)
        load = machine_load()
    return load


def run_loadgen(config: dict[str, Any], timeout: float, module: str = "bench.loadgen") -> dict[str, Any]:
    """Run bench.loadgen (or `module`) in its own process (own event loop) and read its JSON result."""
    out = Path(config["out"])
    out.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", module, orjson.dumps(config).decode()],
        cwd=ROOT,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end(process, 2.0)
        raise RuntimeError(f"the load generator took longer than {timeout:.0f} s and was stopped") from None
    finally:
        _end(process, 2.0)  # also on Ctrl-C: the generator's group goes with us
    if code != 0 or not out.exists():
        raise RuntimeError(f"the load generator failed (exit {code})")
    result: dict[str, Any] = orjson.loads(out.read_bytes())
    return result
