"""What issue #21's live attack tests share: browsers on loopback addresses of their own (the
limits see each as one client), the forms as a browser posts them, websockets as live.js opens
them, and the `openspace serve` they run against."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.server import Server, running_server

BOMB = "![" * 4999  # case 1: 150 ms of Markdown a field


def attacked_server(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[Server]:
    """`openspace serve` with the limits it ships with, and these OPENSPACE_* settings."""
    db: Path = tmp_path_factory.mktemp("attacks") / "attacks.db"
    with running_server(
        db, demo=False, limits=True, env={f"OPENSPACE_{k.upper()}": v for k, v in env.items()}
    ) as server:
        yield server


OPEN: list[httpx.Client] = []


def close_browsers() -> None:
    """Every browser a test opened is closed after it (each test module's autouse fixture)."""
    while OPEN:
        OPEN.pop().close()


def browser(server: Server, source: str) -> httpx.Client:
    """A browser on its own address (each test's attacker is one address, as the limits see it)."""
    transport = httpx.HTTPTransport(local_address=source)
    client = httpx.Client(base_url=server.url, transport=transport, headers={"origin": server.url}, timeout=60)
    OPEN.append(client)
    return client


def csrf(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match, f"no csrf field on {path}"
    return match.group(1)


def new_event(client: httpx.Client, **fields: str) -> str:
    """A new event from this browser, which keeps its facilitator cookie; its slug."""
    form = {"name": "Open space i biblioteket", "starts_on": "2026-03-14", "timezone": "Europe/Stockholm"}
    form |= {"language": "en", "csrf": csrf(client, "/new"), **fields}
    created = client.post("/new", data=form)
    assert created.status_code == 303, created.text
    return created.headers["location"].split("/e/")[1].split("/")[0]


def join(server: Server, source: str, slug: str, name: str) -> httpx.Client:
    person = browser(server, source)
    assert person.post(f"/e/{slug}/join", data={"csrf": csrf(person, f"/e/{slug}"), "name": name}).status_code == 303
    return person


def act(client: httpx.Client, slug: str, action: str, back: str = "participant", **args: str) -> httpx.Response:
    token = client.cookies.get("os_csrf") or csrf(client, f"/e/{slug}")
    return client.post(f"/e/{slug}/act", data={"csrf": token, "_action": action, "_return_to": back, **args})


def topic_ids(client: httpx.Client, slug: str) -> list[str]:
    return [t["id"] for t in client.get(f"/e/{slug}/state.json").json()["topics"]]


def socket_to(
    server: Server, slug: str, query: str = "", cookie: str = "", max_size: int | None = 2**20
) -> ClientConnection:
    """A websocket to the event, as live.js opens it (its page's origin, the browser's cookies)."""
    url = server.url.replace("http://", "ws://") + f"/e/{slug}/ws{query}"
    headers = {"Cookie": cookie} if cookie else {}
    return connect(url, origin=Origin(server.url), additional_headers=headers, open_timeout=10, max_size=max_size)


def cookie_header(client: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def page_data(server: Server, source: str, slug: str) -> dict[str, Any]:
    data = re.search(r'id="os-data">(.*?)</script>', browser(server, source).get(f"/e/{slug}").text, re.S)
    assert data
    return dict(json.loads(data.group(1)))
