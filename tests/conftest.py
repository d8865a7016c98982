"""Shared fixtures: an app on a fresh database, a test client, and small factories for events
and participants that go through the real HTTP routes, as a person's browser would."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from openspace.app import create_app
from openspace.settings import Settings
from openspace.store import Store
from openspace.store.postgres import PostgresStore
from openspace.store.sqlite import SQLiteStore
from tests.backends import PostgresServer, RedisServer, postgres_server, redis_server
from tests.server import UNLIMITED as SERVER_UNLIMITED

ORIGIN = "http://testserver"
FACILITATOR_ACTIONS = [
    "topic.hide",
    "topic.place",
    "topic.unplace",
    "space.add",
    "space.update",
    "space.move",
    "space.remove",
    "slot.add",
    "slot.update",
    "slot.remove",
    "event.update",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # every test client shares one address and loops faster than people: the per-address and
    # per-event limits are tested on their own (tests/test_limits.py), with their defaults
    return Settings(
        db=str(tmp_path / "test.db"),
        demo=False,
        secret_key="test-secret-key",
        port=8000,
        allowed_hosts="testserver",  # the test client's Host
        **UNLIMITED,
    )


UNLIMITED: dict[str, Any] = dict(SERVER_UNLIMITED)


def settings_on(request: pytest.FixtureRequest, tmp_path: Path, **overrides: Any) -> Settings:
    """The `settings` fixture's values on the store a test is parametrised with (`request.param`:
    "sqlite" or "postgres", a fresh database each), for modules whose tests run on both (#17)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    fields: dict[str, Any] = {
        "db": "" if url else str(tmp_path / "test.db"),
        "database_url": url,
        "demo": False,
        "secret_key": "test-secret-key",
        "port": 8000,
        "allowed_hosts": "testserver",
        **UNLIMITED,
        **overrides,
    }
    return Settings(**fields)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url=ORIGIN, follow_redirects=False) as client:
        yield client


def csrf_of(client: TestClient, path: str = "/") -> str:
    html = client.get(path).text
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, f"no csrf field on {path}"
    return match.group(1)


@dataclass
class EventHandle:
    slug: str
    facilitator_url: str
    facilitator: TestClient  # a client holding the facilitator's session

    @property
    def path(self) -> str:
        return f"/e/{self.slug}"


def new_browser(client: TestClient) -> TestClient:
    """Another person's browser on the same app (own cookies, same event loop and database)."""
    other = TestClient(client.app, base_url=ORIGIN, follow_redirects=False)
    other.portal = client.portal  # share the running app's event loop, database and hub
    return other


def create_event(client: TestClient, **fields: str) -> EventHandle:
    data = {
        "name": "Open space i biblioteket",
        "theme": "Hur når vi våra användare?",
        "starts_on": "2026-03-14",
        "ends_on": "",
        "timezone": "Europe/Stockholm",
        "language": "sv",
        **fields,
    }
    browser = new_browser(client)
    data["csrf"] = csrf_of(browser, "/new")
    created = browser.post("/new", data=data)
    assert created.status_code == 303, created.text  # post/redirect/get: to the page with the links
    response = browser.get(created.headers["location"])
    assert response.status_code == 200, response.text
    url = re.search(r"<code>(http://[^<]+/f/[^<]+)</code>", response.text)
    assert url
    slug = url.group(1).split("/e/")[1].split("/")[0]
    return EventHandle(slug=slug, facilitator_url=url.group(1), facilitator=browser)


def join(client: TestClient, event: EventHandle, name: str = "Lisa") -> TestClient:
    browser = new_browser(client)
    token = csrf_of(browser, event.path)
    response = browser.post(f"{event.path}/join", data={"csrf": token, "name": name})
    assert response.status_code == 303, response.text
    return browser


def act(browser: TestClient, event: EventHandle, action: str, return_to: str = "participant", **args: str):  # type: ignore[no-untyped-def]
    token = browser.cookies.get("os_csrf") or csrf_of(browser, event.path)
    data = {"csrf": token, "_action": action, "_return_to": return_to, **args}
    return browser.post(f"{event.path}/act", data=data, headers={"origin": ORIGIN})


def state(browser: TestClient, event: EventHandle) -> dict:  # type: ignore[type-arg]
    response = browser.get(f"{event.path}/state.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def setup_grid(client: TestClient, event: EventHandle, spaces: int = 2, slots: int = 2) -> tuple[list[str], list[str]]:
    for n in range(spaces):
        assert (
            act(event.facilitator, event, "space.add", "facilitate", name=f"Rum {n + 1}", capacity="10").status_code
            == 303
        )
    for n in range(slots):
        r = act(event.facilitator, event, "slot.add", "facilitate", day="2026-03-14", start=f"1{n}:00", end=f"1{n}:45")
        assert r.status_code == 303, r.text
    s = state(event.facilitator, event)
    return [x["id"] for x in s["spaces"]], [x["id"] for x in s["slots"]]


@pytest.fixture
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server of our own on a free port of 127.0.0.1 (skipped if not installed)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresServer]:
    """One real PostgreSQL cluster for the session (initdb + pg_ctl on 127.0.0.1)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_cluster: PostgresServer) -> str:
    """A fresh, empty database on it for each test."""
    return postgres_cluster.create_database(f"t{secrets.token_hex(6)}")


MakeStore = Callable[..., Store]


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """Stores of one database, SQLite or PostgreSQL: the same tests run against both (issue #17)."""
    if request.param == "sqlite":
        return lambda log_keep=1000: SQLiteStore(tmp_path / "s.db", log_keep=log_keep)
    url = request.getfixturevalue("postgres_url")
    return lambda log_keep=1000: PostgresStore(url, log_keep=log_keep)
