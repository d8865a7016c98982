"""Webhooks delivered for real: a receiver on 127.0.0.1 (allowed by setting) verifies every
signature with the Standard Webhooks reference library; retries keep the id; kill -9 during a
delivery leads to the same message after restart; a dead endpoint never holds up the screens.
Loops are bounded; traffic stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2
import orjson
import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient
from websockets.asyncio.client import connect

from openspace.app import create_app
from openspace.live import webhooks as delivery
from openspace.settings import Settings
from tests.conftest import ORIGIN, UNLIMITED, EventHandle, act, create_event, join, new_browser, settings_on
from tests.server import running_server, stop

DEADLINE = 20.0  # seconds a bounded wait may take on a loaded machine before the test fails


@dataclass
class Receiver:
    """An endpoint on 127.0.0.1 that records every POST; `answer` decides each reply's status
    (None: hold the request open until `release` is set, as a dead endpoint would)."""

    answer: Callable[[int], int | None] = lambda n: 204
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + DEADLINE
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.seen) >= count, f"{len(self.seen)} of {count} deliveries arrived"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["content-length"]))
            state.seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
            state.arrived.set()
            status = state.answer(len(state.seen))
            if status is None:
                state.release.wait(DEADLINE)
                status = 503
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Every webhook test on both stores (#17)."""
    return settings_on(request, tmp_path, webhook_allow_private=True, webhook_retry_ms=50, webhook_timeout=30)


def register(event: EventHandle, url: str, *kinds: str, shape: str = "standard") -> str:
    """Add an endpoint from the facilitator's page; returns its signing secret."""
    token = event.facilitator.cookies.get("os_csrf")
    data = {"csrf": token, "url": url, "format": shape, **{f"kind_{k}": "1" for k in kinds}}
    response = event.facilitator.post(f"{event.path}/webhooks/add", data=data, headers={"origin": ORIGIN})
    assert response.status_code == 201, response.text
    secret = re.search(r"<code data-secret>(whsec_[^<]+)</code>", response.text)
    assert secret
    return secret.group(1)


def test_a_bell_reaches_the_receiver_signed_and_is_logged_as_delivered(client: TestClient, receiver: Receiver) -> None:
    """One POST per change subscribed to, its signature valid, the log saying delivered."""
    event = create_event(client)
    secret = register(event, receiver.url, "bell", "announcement")
    assert act(event.facilitator, event, "bell.set", "facilitate", minutes="5").status_code == 303
    assert act(event.facilitator, event, "topic.propose", "facilitate", title="Inte skickad").status_code == 303
    assert act(event.facilitator, event, "announce", "facilitate", text="Lunch nu").status_code == 303
    receiver.wait_for(2)
    # each message is posted on its own delivery thread, so they may arrive in either order
    bodies = {b["type"]: b for b in (Webhook(secret).verify(body, headers) for headers, body in receiver.seen)}
    assert sorted(bodies) == ["announcement", "bell"]
    announced = bodies["announcement"]
    assert announced["data"]["announcement"]["text"] == "Lunch nu" and announced["text"] == "Lunch nu"
    assert len({headers["webhook-id"] for headers, _ in receiver.seen}) == 2
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        page = event.facilitator.get(f"{event.path}/webhooks").text
        if page.count('data-state="delivered"') == 2:
            break
        time.sleep(0.05)
    assert page.count('data-state="delivered"') == 2, page


def test_a_chat_endpoint_gets_only_the_text_in_the_events_language(client: TestClient, receiver: Receiver) -> None:
    """Slack, Mattermost and Matrix bridges take {"text": …}; it is signed all the same."""
    event = create_event(client)  # a Swedish event
    secret = register(event, receiver.url, "phase.changed", shape="chat")
    assert act(event.facilitator, event, "event.phase", "facilitate", phase="sessions").status_code == 303
    receiver.wait_for(1)
    headers, body = receiver.seen[0]
    assert Webhook(secret).verify(body, headers) == {"text": "Samtalen pågår"}


def test_failures_are_retried_with_the_same_id_until_delivered(client: TestClient, receiver: Receiver) -> None:
    """Two 500s, then 200: three tries of one message, each with the same webhook-id, all signed."""
    receiver.answer = lambda n: 500 if n <= 2 else 200
    event = create_event(client)
    secret = register(event, receiver.url, "phase.changed")
    assert act(event.facilitator, event, "event.phase", "facilitate", phase="sessions").status_code == 303
    receiver.wait_for(3)
    ids = {headers["webhook-id"] for headers, _ in receiver.seen}
    assert len(ids) == 1
    for headers, body in receiver.seen:
        assert Webhook(secret).verify(body, headers)["data"]["phase"] == "sessions"
    deadline = time.monotonic() + DEADLINE
    while 'data-state="delivered"' not in (page := event.facilitator.get(f"{event.path}/webhooks").text):
        assert time.monotonic() < deadline, page
        time.sleep(0.05)
    assert re.search(r'data-state="delivered">.*?<td>3</td>', page, re.S)


def test_a_dead_endpoint_never_holds_up_a_change(client: TestClient, receiver: Receiver) -> None:
    """While the endpoint holds the first delivery open, changes are still answered and shown."""
    receiver.answer = lambda n: None
    event = create_event(client)
    register(event, receiver.url, "announcement")
    assert act(event.facilitator, event, "announce", "facilitate", text="Första").status_code == 303
    assert receiver.arrived.wait(DEADLINE)
    for n in range(10):  # the receiver is still holding the first delivery open
        assert act(event.facilitator, event, "announce", "facilitate", text=f"Nr {n}").status_code == 303
    texts = {a["text"] for a in client.get(f"{event.path}/state.json").json()["announcements"]}
    assert {f"Nr {n}" for n in range(10)} <= texts
    assert not receiver.release.is_set()
    receiver.release.set()


def test_private_targets_are_refused_without_the_setting(tmp_path: Path) -> None:
    """Loopback, private and link-local addresses (and names that resolve to them) are refused."""
    settings = Settings(db=str(tmp_path / "p.db"), demo=False, secret_key="k", allowed_hosts="testserver", **UNLIMITED)
    with TestClient(create_app(settings), base_url=ORIGIN, follow_redirects=False) as client:
        event = create_event(client)
        token = event.facilitator.cookies.get("os_csrf")
        for url in ("https://127.0.0.1/x", "https://localhost/x", "https://10.1.2.3/", "https://[::1]/",
                    "https://169.254.169.254/latest", "http://93.184.215.14/"):  # fmt: skip
            data = {"csrf": token, "url": url, "kind_bell": "1"}
            response = event.facilitator.post(f"{event.path}/webhooks/add", data=data, headers={"origin": ORIGIN})
            assert response.status_code == 400, url
        assert "data-secret" not in event.facilitator.get(f"{event.path}/webhooks").text
    for address in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.1.1", "::1", "fe80::1",
                    "fc00::1", "::ffff:127.0.0.1", "100.64.0.1", "224.0.0.1", "0.0.0.0"):  # fmt: skip
        assert not delivery.public(address), address
    assert delivery.public("93.184.215.14") and delivery.public("2606:4700::1111")
    with pytest.raises(delivery.Refused):
        delivery.post("https://127.0.0.1:9/x", b"{}", {}, allow_private=False, timeout=1)


def test_only_the_facilitator_sees_and_changes_webhooks(client: TestClient, receiver: Receiver) -> None:
    """Others are refused; a removed endpoint gets nothing more, its waiting messages gone with it."""
    event = create_event(client)
    assert client.get(f"{event.path}/webhooks").status_code == 403
    lisa = join(client, event)
    token = lisa.cookies.get("os_csrf")
    data = {"csrf": token, "url": receiver.url, "kind_bell": "1"}
    assert lisa.post(f"{event.path}/webhooks/add", data=data, headers={"origin": ORIGIN}).status_code == 403
    register(event, receiver.url, "bell")
    page = event.facilitator.get(f"{event.path}/webhooks").text
    webhook = re.search(r'id="webhook-([^"]+)"', page)
    assert webhook
    remove = f"{event.path}/webhooks/{webhook.group(1)}/remove"
    assert lisa.post(remove, data={"csrf": token}, headers={"origin": ORIGIN}).status_code == 403
    assert event.facilitator.post(remove, data={"csrf": "wrong"}, headers={"origin": ORIGIN}).status_code == 403
    fac_token = event.facilitator.cookies.get("os_csrf")
    assert event.facilitator.post(remove, data={"csrf": fac_token}, headers={"origin": ORIGIN}).status_code == 303
    assert "data-secret" not in event.facilitator.get(f"{event.path}/webhooks").text
    assert act(event.facilitator, event, "bell.set", "facilitate", minutes="5").status_code == 303
    # the outbox is written with the change, so a queued message would be in the log by now
    assert "data-delivery" not in event.facilitator.get(f"{event.path}/webhooks").text


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_kill_9_during_a_delivery_delivers_the_same_message_after_restart(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, store: str
) -> None:
    """The server dies while the endpoint holds the POST; after restart it posts the same id again
    (once the dead worker's lease on it has run out: 2 × 2 s + 5 s here). Meanwhile, a screen got
    the change at once: the dead endpoint did not hold it up."""
    monkeypatch.setenv("OPENSPACE_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("OPENSPACE_WEBHOOK_RETRY_MS", "100")
    monkeypatch.setenv("OPENSPACE_WEBHOOK_TIMEOUT", "2")
    receiver.answer = lambda n: None if n == 1 else 200
    db = tmp_path / "k.db"
    url = request.getfixturevalue("postgres_url") if store == "postgres" else ""
    with running_server(db, demo=True, database_url=url) as server:
        link = server.link("Facilitator link")
        slug = link.split("/e/")[1].split("/")[0]
        with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
            assert http.get(link.replace(link.split("/e/")[0], server.url)).status_code == 303
            token = http.cookies.get("os_csrf")
            data = {"csrf": token, "url": receiver.url, "kind_announcement": "1"}
            assert http.post(f"/e/{slug}/webhooks/add", data=data).status_code == 201
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())

            async def announce_and_watch() -> str:
                url = server.url.replace("http", "ws") + f"/e/{slug}/ws"
                async with connect(url, origin=server.url, additional_headers={"cookie": cookie}) as ws:  # type: ignore[arg-type]
                    assert orjson.loads(await ws.recv())["type"] == "snapshot"
                    action = {"type": "action", "id": "kill-9-announce-1", "name": "announce", "args": {"text": "Paus"}}
                    await ws.send(orjson.dumps(action).decode())
                    kinds = set()
                    while not {"change", "result"} <= kinds:
                        frame = orjson.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
                        assert frame.get("ok", True), frame
                        kinds.add("change" if frame["type"] == "batch" else frame["type"])
                    return "screen got it"

            assert asyncio.run(announce_and_watch()) == "screen got it"
            assert receiver.arrived.wait(DEADLINE)  # the endpoint is holding the delivery open
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=DEADLINE)
    stop(server)
    first_id = receiver.seen[0][0]["webhook-id"]
    with running_server(db, demo=False, database_url=url):
        receiver.wait_for(2)
    assert [headers["webhook-id"] for headers, _ in receiver.seen[:2]] == [first_id, first_id]
    assert orjson.loads(receiver.seen[1][1])["data"]["announcement"]["text"] == "Paus"


@pytest.fixture
def two_apps(postgres_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    """Two app instances on one PostgreSQL database, each with its own delivery worker: two
    workers, as `openspace serve --workers 2` runs them (no bus needed: the outbox is shared)."""
    settings = Settings(
        database_url=postgres_url,
        demo=False,
        secret_key="test-secret-key",
        webhook_allow_private=True,
        webhook_retry_ms=50,
        webhook_timeout=30,
        allowed_hosts="testserver",
        **UNLIMITED,
    )
    with (
        TestClient(create_app(settings), base_url=ORIGIN, follow_redirects=False) as a,
        TestClient(create_app(settings), base_url=ORIGIN, follow_redirects=False) as b,
    ):
        yield a, b


def test_two_workers_on_one_database_post_each_message_once(
    two_apps: tuple[TestClient, TestClient], receiver: Receiver
) -> None:
    """Changes made on both workers, both workers delivering: every message reaches the endpoint
    exactly once, whichever worker claimed it, and the log says delivered for each."""
    a, b = two_apps
    event = create_event(a)
    secret = register(event, receiver.url, "announcement")
    on_b = new_browser(b)
    for name, value in event.facilitator.cookies.items():
        on_b.cookies.set(name, value)
    for n in range(12):
        browser = event.facilitator if n % 2 == 0 else on_b
        assert act(browser, event, "announce", "facilitate", text=f"Nr {n}").status_code == 303
    receiver.wait_for(12)
    deadline = time.monotonic() + DEADLINE
    while (page := on_b.get(f"{event.path}/webhooks").text).count('data-state="delivered"') < 12:
        assert time.monotonic() < deadline, page
        time.sleep(0.05)
    time.sleep(0.3)  # a second post of any message would have arrived by now
    ids = [headers["webhook-id"] for headers, _ in receiver.seen]
    assert len(ids) == 12 and len(set(ids)) == 12, ids
    texts = sorted(Webhook(secret).verify(body, headers)["text"] for headers, body in receiver.seen)
    assert texts == sorted(f"Nr {n}" for n in range(12))
