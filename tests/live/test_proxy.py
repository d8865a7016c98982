"""Two servers on PostgreSQL and Redis behind nginx, run with deploy/nginx/openspace-proxy.conf:
a server killed with SIGKILL costs its clients nothing but a reconnect (issue #17)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.backends import RedisServer, need
from tests.live.test_live_server import join, open_socket, page_data
from tests.live.test_workers import link, workers
from tests.server import free_port

PROXY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "openspace-proxy.conf"
TIMEOUT = 10.0


@contextmanager
def nginx(folder: Path, upstreams: list[str]) -> Iterator[str]:
    """nginx in the foreground on a free port of 127.0.0.1, in front of `upstreams`."""
    program = need("nginx", ("/usr/sbin",))
    port = free_port()
    (folder / "tmp").mkdir(parents=True)
    servers = "".join(f"server {u} max_fails=1 fail_timeout=5s;\n" for u in upstreams)
    temp = " ".join(
        f"{kind}_temp_path {folder}/tmp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        + "events { worker_connections 1024; }\n"
        + f"http {{\naccess_log off;\n{temp}\nupstream openspace {{\n{servers}}}\n"
        + f"server {{\nlisten 127.0.0.1:{port};\ninclude {PROXY_CONF};\n}}\n}}\n"
    )
    process = subprocess.Popen([program, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"])
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx2.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("nginx did not start: " + (folder / "error.log").read_text())
        yield base
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def follow(base: str, slug: str, data: dict[str, Any], count: int, drops: list[int]) -> list[int]:
    """A screen that reads `count` changes, reconnecting with its resume point when dropped."""
    seen: list[int] = []
    epoch = data["epoch"]
    ws: ClientConnection = await open_socket(base, slug, data)
    for _ in range(count * 4):  # bounded: every round reads a message or reconnects
        if len(seen) >= count:
            break
        try:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        except ConnectionClosed:
            drops.append(1)
            last = seen[-1] if seen else data["seq"]
            ws = await open_socket(base, slug, {"seq": last, "epoch": epoch})
            continue
        if message["type"] == "change":
            seen.append(message["seq"])
        elif message["type"] == "batch":
            seen.extend(c["seq"] for c in message["changes"])
        elif message["type"] == "snapshot":
            raise AssertionError(f"a snapshot ({message['reason']}) where the log had every change")
    await ws.close()
    return seen


def propose_at(http: httpx2.Client, base: str, slug: str, title: str) -> None:
    """Propose through one server directly, past the proxy (the other may be stopped)."""
    token = http.cookies.get("os_csrf")
    response = http.post(f"{base}/e/{slug}/act", data={"csrf": token, "_action": "topic.propose", "title": title})
    assert response.status_code == 303, response.text


@pytest.mark.slow
def test_screens_behind_nginx_lose_nothing_through_every_fault(
    tmp_path: Path, postgres_url: str, redis: RedisServer
) -> None:
    """Two servers on PostgreSQL and Redis behind nginx, screens spread over both, changes flowing
    while: the bus subscriptions are killed, Redis restarts, one server is stopped (SIGSTOP) for
    3 s, and one is killed (SIGKILL). Every screen ends with every change once, in order."""
    with ExitStack() as stack:
        processes: list[subprocess.Popen[str]] = []
        first, first_output = stack.enter_context(workers(postgres_url, redis.url, count=1, processes=processes))
        second, _ = stack.enter_context(workers(postgres_url, redis.url, count=1, processes=processes))
        hosts = [first.removeprefix("http://"), second.removeprefix("http://")]
        base = stack.enter_context(nginx(tmp_path / "nginx", hosts))
        slug = link(first_output, "Participant link").rsplit("/", 1)[1]
        person = join(base, slug, "Lisa")
        stack.callback(person.close)
        data = page_data(person, f"/e/{slug}")
        drops: list[int] = []
        per_phase, phases = 3, 5

        async def write(at: str, name: str) -> None:
            for i in range(per_phase):
                await asyncio.to_thread(propose_at, person, at, slug, f"{name} {i}")
                await asyncio.sleep(0.05)

        async def run() -> list[list[int]]:
            screens = [asyncio.create_task(follow(base, slug, data, per_phase * phases, drops)) for _ in range(6)]
            await asyncio.sleep(0.5)  # connected, over both servers
            await write(base, "Lugnt")
            redis.cli("client", "kill", "type", "pubsub")  # every server's subscription drops
            await write(first, "Utan prenumeration")
            redis.stop()
            await write(first, "Utan Redis")
            redis.start()
            processes[1].send_signal(signal.SIGSTOP)  # the second server freezes
            await write(first, "Fryst")
            await asyncio.sleep(3)
            processes[1].send_signal(signal.SIGCONT)
            processes[0].kill()  # SIGKILL the first server: no goodbye to its sockets
            processes[0].wait()
            await write(base, "Efter")
            return await asyncio.gather(*screens)

        seen = asyncio.run(run())
        expected = list(range(data["seq"] + 1, data["seq"] + per_phase * phases + 1))
        assert seen == [expected] * 6  # nothing lost, nothing twice, in order, on every screen
        assert drops  # some screens were on the killed server, and resumed on the other


def test_metrics_are_never_served_through_the_proxy_and_requests_carry_its_id(
    tmp_path: Path, postgres_url: str, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/metrics is for a scraper on the host's own port: nginx answers 404 for it, although the
    worker behind (metrics on, 127.0.0.1 allowed) would serve it; nginx's request id reaches the logs."""
    monkeypatch.setenv("OPENSPACE_METRICS", "1")
    with ExitStack() as stack:
        server, _ = stack.enter_context(workers(postgres_url, redis.url, count=1))
        base = stack.enter_context(nginx(tmp_path / "nginx", [server.removeprefix("http://")]))
        assert httpx2.get(f"{server}/metrics").status_code == 200
        assert httpx2.get(f"{base}/metrics").status_code == 404
        answer = httpx2.get(f"{base}/healthz")
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])  # nginx's $request_id
