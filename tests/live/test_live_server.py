"""Against a real uvicorn on a free port, with real websocket clients, across a restart."""

from __future__ import annotations

import asyncio
import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx2
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.server import running_server

TIMEOUT = 10.0


def page_data(http: httpx2.Client, path: str) -> dict[str, Any]:
    html = http.get(path).text
    match = re.search(r'<script type="application/json" id="os-data">(.*?)</script>', html, re.S)
    assert match, html[:500]
    return orjson.loads(match.group(1))  # type: ignore[no-any-return]


def join(base: str, slug: str, name: str) -> httpx2.Client:
    http = httpx2.Client(base_url=base, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', http.get(f"/e/{slug}").text).group(1)  # type: ignore[union-attr]
    assert http.post(f"/e/{slug}/join", data={"csrf": token, "name": name}).status_code == 303
    return http


def propose(http: httpx2.Client, slug: str, title: str) -> None:
    token = http.cookies.get("os_csrf")
    response = http.post(f"/e/{slug}/act", data={"csrf": token, "_action": "topic.propose", "title": title})
    assert response.status_code == 303, response.text


async def open_socket(base: str, slug: str, data: dict[str, Any], cookies: str = "") -> ClientConnection:
    url = base.replace("http", "ws") + f"/e/{slug}/ws?since={data['seq']}&epoch={data['epoch']}"
    return await connect(url, origin=base, additional_headers={"cookie": cookies} if cookies else None)  # type: ignore[arg-type]


async def next_change(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] == "change":
            return message  # type: ignore[no-any-return]


async def changes(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next `count` changes, whether they come alone or in a batch (a catch-up does)."""
    got: list[dict[str, Any]] = []
    while len(got) < count:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        got += message["changes"] if message["type"] == "batch" else [message] if message["type"] == "change" else []
    return got


def test_real_server_fans_out_and_clients_resume_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    with ExitStack() as clients, running_server(db) as server:
        participant_link = server.link("Participant link")
        assert server.link("Facilitator link").startswith(participant_link + "/f/")
        slug = participant_link.rsplit("/", 1)[1]
        lisa = join(server.url, slug, "Lisa")
        clients.callback(lisa.close)
        data = page_data(lisa, f"/e/{slug}")
        assert len(data["state"]["topics"]) == 7  # the Stenhamra demo

        async def fan_out() -> list[int]:
            sockets = [await open_socket(server.url, slug, data) for _ in range(3)]
            propose(lisa, slug, "Bibliotekens roll för digital delaktighet")
            changes = [await next_change(ws) for ws in sockets]
            for ws in sockets:
                await ws.close()
            return [c["seq"] for c in changes]

        assert asyncio.run(fan_out()) == [data["seq"] + 1] * 3
        seen = page_data(lisa, f"/e/{slug}")

        async def closed_on_shutdown() -> int | None:
            ws = await open_socket(server.url, slug, seen)
            server.process.terminate()
            try:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
            return None

        assert asyncio.run(closed_on_shutdown()) == 1012  # "service restart": clients reconnect
        server.process.wait(timeout=15)

    with ExitStack() as clients, running_server(db) as again:  # same database: no second demo
        assert not any("Participant link" in line for line in again.output)
        lisa = httpx2.Client(base_url=again.url, follow_redirects=False, cookies=lisa.cookies)
        clients.callback(lisa.close)
        for i in range(3):
            propose(lisa, slug, f"Efter omstarten {i}")

        async def resume() -> list[dict[str, Any]]:
            ws = await open_socket(again.url, slug, seen)
            got = await changes(ws, 3)
            await ws.close()
            return got

        missed = asyncio.run(resume())
        assert [m["seq"] for m in missed] == [seen["seq"] + 1, seen["seq"] + 2, seen["seq"] + 3]
        assert [m["patch"]["upsert"]["topics"][0]["title"] for m in missed] == [
            f"Efter omstarten {i}" for i in range(3)
        ]
        assert lisa.get(f"/e/{slug}").text.count("Efter omstarten") >= 3  # and the name cookie survived


def test_real_server_refuses_foreign_origins(tmp_path: Path) -> None:
    with running_server(tmp_path / "o.db", demo=False) as server, httpx2.Client(base_url=server.url) as http:
        token = re.search(r'name="csrf" value="([^"]+)"', http.get("/new").text).group(1)  # type: ignore[union-attr]
        created = http.post(
            "/new",
            data={
                "csrf": token,
                "name": "X",
                "starts_on": "2026-05-02",
                "timezone": "Europe/Stockholm",
                "language": "en",
            },
        )
        slug = re.search(r"/e/([a-z0-9]+)/ready", created.headers["location"]).group(1)  # type: ignore[union-attr]

        async def attempt(origin: str) -> bool:
            try:
                ws = await connect(server.url.replace("http", "ws") + f"/e/{slug}/ws", origin=origin)  # type: ignore[arg-type]
            except Exception:
                return False
            await ws.close()
            return True

        assert asyncio.run(attempt(server.url)) is True
        assert asyncio.run(attempt("http://evil.example")) is False
        assert asyncio.run(attempt(server.url + ".evil.example")) is False
