"""Start the real server (uvicorn, as `openspace serve` runs it) on a free port, for tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def unlimited_env() -> dict[str, str]:
    """The environment for a server the suite starts. The suite drives it from one address faster
    than people do: the limits are tested on their own (tests/test_limits.py), so here they are
    out of the way unless the environment already sets them."""
    unlimited = {f"OPENSPACE_{name.upper()}": value for name, value in UNLIMITED.items()}
    return {**unlimited, **os.environ, "PYTHONUNBUFFERED": "1"}


UNLIMITED = {
    "limit_actions_person": "100000/1",
    "limit_actions_address": "100000/1",
    "limit_actions_event": "100000/1",
    "limit_previews": "100000/1",
    "limit_joins_address": "100000/1",
    "limit_new_events_address": "100000/1",
    "limit_new_events": "100000/1",
    "limit_uploads_person": "100000/1",
    "limit_heavy_person": "100000/1",
    "limit_proposals_person": "100000/1",
    "limit_proposals_address": "100000/1",
    "limit_downloads": "100000/1",
    "limit_refusals_address": "100000/1",
}
STARTUP_SECONDS = float(os.environ.get("OPENSPACE_TEST_STARTUP", "30"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    output: list[str]
    reader: threading.Thread | None = None
    db: Path | None = None  # its SQLite file, when it has one

    def link(self, label: str) -> str:
        for line in self.output:
            match = re.match(rf"{label}:\s+(\S+)", line)
            if match:
                return match.group(1)
        raise AssertionError(f"no {label!r} line in the server's output:\n" + "".join(self.output))


@contextmanager
def running_server(
    db: Path,
    port: int | None = None,
    demo: bool = True,
    log_level: str = "warning",
    database_url: str = "",
    limits: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """A real server on `db`, or on the database at `database_url` when one is given. `limits`:
    with the limits it ships with (the attacks' tests), not lifted out of the suite's way."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "openspace",
        "serve",
        *(["--database-url", database_url] if database_url else ["--db", str(db)]),
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]
    command.append("--demo" if demo else "--no-demo")
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"} if limits else unlimited_env()
    environment |= env or {}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    output: list[str] = []
    deadline = time.monotonic() + STARTUP_SECONDS
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if "openspace is running on" in line:
            break
    else:
        process.kill()
    if not output or "openspace is running on" not in output[-1]:
        process.kill()
        raise AssertionError("the server did not start:\n" + "".join(output))
    # "is running" is printed during startup, a moment before uvicorn binds: wait for the port
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.02)
    server = Server(url=f"http://127.0.0.1:{port}", process=process, output=output, db=None if database_url else db)
    # keep reading, so the server never blocks on a full pipe and its later output is kept
    reader = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    reader.start()
    server.reader = reader
    try:
        yield server
    finally:
        stop(server)


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    if server.reader is not None:
        server.reader.join(timeout=5)  # the process has ended: its pipe reaches EOF
    if server.process.stdout is not None and (server.reader is None or not server.reader.is_alive()):
        server.process.stdout.close()
