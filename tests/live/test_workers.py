"""Several workers on PostgreSQL and Redis, as `openspace serve --workers N` runs them; the
`migrate` and `copy` commands; health and readiness (issue #17)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx2
from click.testing import CliRunner

from openspace.cli import main
from openspace.store.postgres import PostgresStore
from openspace.store.sqlite import SQLiteStore
from tests.backends import RedisServer
from tests.live.test_live_server import join, next_change, open_socket, page_data, propose
from tests.server import STARTUP_SECONDS, free_port, unlimited_env


@contextmanager
def workers(
    database_url: str, bus_url: str, count: int = 2, processes: list[subprocess.Popen[str]] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """`openspace serve --workers N` on a free port; its URL and its output so far. The process
    is appended to `processes`, for a test that kills it."""
    port = free_port()
    command = [sys.executable, "-m", "openspace", "serve", "--port", str(port), "--workers", str(count),
               "--database-url", database_url, "--bus-url", bus_url, "--log-level", "warning"]  # fmt: skip
    env = unlimited_env()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    if processes is not None:
        processes.append(process)
    output: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        ready = 0
        while time.monotonic() < deadline and ready < 5:  # several answers in a row: every worker is up
            try:
                ready = ready + 1 if httpx2.get(f"{base}/readyz").status_code == 200 else 0
            except httpx2.TransportError:
                ready = 0
            time.sleep(0.1)
        assert ready, "the workers did not become ready:\n" + "".join(output)
        yield base, output
    finally:
        lingering = stop_group(process)
        reader.join(timeout=5)
        if not reader.is_alive():  # closing a pipe another thread still reads blocks for ever
            process.stdout.close()
    assert not lingering, f"still running 20 s after SIGTERM: {lingering}\n" + "".join(output)


def stop_group(process: subprocess.Popen[str]) -> list[str]:
    """SIGTERM to the server, as systemd sends it; what of its process group was still running
    20 s later, then killed. A worker left behind once held the test's pipe open and hung CI in
    its teardown (sharedlimits.Shared.close waited for a task that had swallowed its cancel)."""
    process.send_signal(signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    deadline = time.monotonic() + 20
    while (running := group_members(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return running


def group_members(group: int) -> list[str]:
    """The command lines of the live (not zombie) processes in a process group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
    return found


def link(output: list[str], label: str) -> str:
    line = next(line for line in output if line.startswith(f"{label}:"))
    return line.split()[-1]


def test_changes_through_any_worker_reach_every_socket_on_every_worker_in_order(
    postgres_url: str, redis: RedisServer
) -> None:
    with ExitStack() as stack:
        base, output = stack.enter_context(workers(postgres_url, redis.url))
        assert httpx2.get(f"{base}/healthz").text == "ok"
        slug = link(output, "Participant link").rsplit("/", 1)[1]
        people = [join(base, slug, f"Person {i}") for i in range(3)]  # their requests spread over the workers
        for http in people:
            stack.callback(http.close)
        data = page_data(people[0], f"/e/{slug}")

        async def run() -> list[list[int]]:
            sockets = [await open_socket(base, slug, data) for _ in range(8)]
            for i in range(12):
                propose(people[i % 3], slug, f"Ämne {i}")
            seen = [[(await next_change(ws))["seq"] for _ in range(12)] for ws in sockets]
            for ws in sockets:
                await ws.close()
            return seen

        expected = list(range(data["seq"] + 1, data["seq"] + 13))
        assert asyncio.run(run()) == [expected] * 8
        assert page_data(people[1], f"/e/{slug}")["seq"] == expected[-1]


def test_readyz_says_no_while_the_bus_is_down(postgres_url: str, redis: RedisServer) -> None:
    with workers(postgres_url, redis.url, count=2) as (base, _):
        redis.stop()
        statuses = set()
        for _ in range(100):
            statuses.add(httpx2.get(f"{base}/readyz").status_code)
            if 503 in statuses:
                break
            time.sleep(0.05)
        assert 503 in statuses
        redis.start()


def test_migrate_then_copy_moves_events_from_sqlite_into_postgres(tmp_path: Path, postgres_url: str) -> None:
    runner = CliRunner()
    db = tmp_path / "old.db"
    made = runner.invoke(main, ["new-event", "--name", "Biblioteksdagen", "--date", "2026-05-02", "--db", str(db)])
    assert made.exit_code == 0, made.output
    assert runner.invoke(main, ["migrate", "--database-url", postgres_url]).exit_code == 0
    copied = runner.invoke(main, ["copy", str(db), "--database-url", postgres_url])
    assert copied.exit_code == 0, copied.output
    assert "Copied 1 events" in copied.output
    again = runner.invoke(main, ["copy", str(db), "--database-url", postgres_url])
    assert "Copied 0 events" in again.output and "1 were there already" in again.output

    async def boards() -> tuple[object, object, str | None, str | None]:
        lite, pg = SQLiteStore(db), PostgresStore(postgres_url)
        await lite.open()
        await pg.open()
        try:
            slug = re.search(r"/e/([a-z0-9]+)", made.output).group(1)  # type: ignore[union-attr]
            event = await lite.event_by_slug(slug)
            assert event is not None
            return (
                await lite.load_board(event.id),
                await pg.load_board(event.id),
                await lite.meta("secret_key"),
                await pg.meta("secret_key"),
            )
        finally:
            await lite.close()
            await pg.close()

    old, new, old_key, new_key = asyncio.run(boards())
    assert old == new and old is not None
    assert old_key == new_key  # cookies carry over


def settled(
    http: httpx2.Client, path: str, holds: Callable[[httpx2.Response], bool], seconds: float = 10.0, rounds: int = 8
) -> None:
    """`rounds` answers in a row hold, whichever worker gives them (each remembers slugs and cookies)."""
    deadline, row = time.monotonic() + seconds, 0
    while row < rounds:
        assert time.monotonic() < deadline, f"{path} never settled"
        row = row + 1 if holds(http.get(path)) else 0


def test_every_worker_forgets_a_renamed_name_and_a_deleted_event(postgres_url: str, redis: RedisServer) -> None:
    """What the workers keep in memory (runtime.Logins) follows a rename and a deletion made on any
    one of them: the bus tells them all (#20)."""
    with ExitStack() as stack:
        base, output = stack.enter_context(workers(postgres_url, redis.url))
        slug = link(output, "Participant link").rsplit("/", 1)[1]
        page = f"/e/{slug}"
        lisa = join(base, slug, "Lisa")
        stack.callback(lisa.close)
        settled(lisa, page, lambda r: 'value="Lisa"' in r.text)  # every worker has her by now
        token = lisa.cookies.get("os_csrf") or ""
        renamed = lisa.post(f"{page}/act", data={"csrf": token, "_action": "me.rename", "name": "Elisabet"})
        assert renamed.status_code == 303
        settled(lisa, page, lambda r: 'value="Elisabet"' in r.text and 'value="Lisa"' not in r.text)
        fac = httpx2.Client(base_url=base, follow_redirects=True)
        stack.callback(fac.close)
        board = fac.get(link(output, "Facilitator link").split(base, 1)[1]).text
        name = re.search(r'<a class="brand" href="[^"]*">([^<]+)</a>', board).group(1)  # type: ignore[union-attr]
        deleted = fac.post(f"{page}/delete", data={"csrf": fac.cookies.get("os_csrf") or "", "confirm": name})
        assert deleted.status_code == 200, deleted.text[:300]
        settled(lisa, page, lambda r: r.status_code == 404)


def test_a_renames_slim_patch_keeps_every_workers_board_whole(postgres_url: str, redis: RedisServer) -> None:
    """A rename reaches the other workers as a slim patch: only the changed fields of the topics
    the screens have (domain/patches.py). A worker that took it as a plain change kept the old
    convener name in its cached board, at the new sequence number, and served it from then on."""
    with ExitStack() as stack:
        base, output = stack.enter_context(workers(postgres_url, redis.url))
        slug = link(output, "Participant link").rsplit("/", 1)[1]
        lisa = join(base, slug, "Lisa")
        stack.callback(lisa.close)
        propose(lisa, slug, "Bokcirkel")
        path = f"/e/{slug}/state.json"
        # a connection per request: one kept alive stays with one worker, and the other is never asked
        anyone = httpx2.Client(base_url=base, limits=httpx2.Limits(max_keepalive_connections=0))
        stack.callback(anyone.close)

        def conveners(answer: httpx2.Response) -> set[str]:
            return {t["convener_name"] for t in answer.json()["topics"] if t["title"] == "Bokcirkel"}

        settled(anyone, path, lambda r: conveners(r) == {"Lisa"}, rounds=16)  # both workers have it cached
        token = lisa.cookies.get("os_csrf") or ""
        renamed = lisa.post(f"/e/{slug}/act", data={"csrf": token, "_action": "me.rename", "name": "Elisabet"})
        assert renamed.status_code == 303
        settled(anyone, path, lambda r: conveners(r) == {"Elisabet"}, rounds=16)
