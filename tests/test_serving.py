"""The server bounds slow headers and answers only to its own names (issue #21, cases 12 and 13)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from openspace import metrics, serving
from openspace.settings import Settings
from tests.conftest import create_event
from tests.server import running_server

EVIL = "rebind.evil.example"


def test_default_allowed_hosts_are_the_servers_own_names() -> None:
    """The public URL's host, the listening address and localhost; never anyone's name."""
    assert {"localhost", "127.0.0.1"} <= set(serving.allowed_hosts(Settings()))
    public = serving.allowed_hosts(Settings(public_url="https://open.example.org/x", host="0.0.0.0"))
    assert "open.example.org" in public and EVIL not in public
    assert serving.allowed_hosts(Settings(allowed_hosts="a.example, B.example")) == ["a.example", "b.example"]


def test_a_foreign_host_is_refused_on_http_and_websocket(client: TestClient) -> None:
    """Case 13: with Host and Origin both rebind.evil.example, the upgrade was accepted."""
    event = create_event(client)
    assert client.get(event.path, headers={"host": EVIL}).status_code == 400
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect(
            f"{event.path}/ws", headers={"host": EVIL, "origin": f"http://{EVIL}"}
        ):  # pragma: no cover - refused before it opens
            pass
    assert denied.value.status_code == 400


def read_until_closed(sockets: list[socket.socket], deadline: float) -> int:
    """How many of the sockets the server closed before the deadline."""
    closed: set[int] = set()
    while time.monotonic() < deadline and len(closed) < len(sockets):
        for n, sock in enumerate(sockets):
            if n in closed:
                continue
            try:
                if sock.recv(1024) == b"":
                    closed.add(n)
            except (TimeoutError, BlockingIOError):
                pass
            except OSError:
                closed.add(n)
        time.sleep(0.05)
    return len(closed)


@pytest.mark.slow
def test_slow_headers_are_cut_off_and_foreign_upgrades_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 12: 300 slowloris connections were still held after 60 s. With a 1 s header timeout,
    thirty are closed within a few seconds, while a prompt request is still answered."""
    monkeypatch.setenv("OPENSPACE_HEADER_TIMEOUT", "1")
    with running_server(tmp_path / "s.db", demo=False) as server:
        port = int(server.url.rsplit(":", 1)[1])
        slow = []
        for _ in range(30):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
            sock.setblocking(False)
            slow.append(sock)
        try:
            assert read_until_closed(slow, time.monotonic() + 15) == len(slow)
        finally:
            for sock in slow:
                sock.close()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                b"GET /e/x/ws HTTP/1.1\r\nHost: " + EVIL.encode() + b"\r\nOrigin: http://" + EVIL.encode() + b"\r\n"
                b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            )
            assert sock.recv(1024).split(b"\r\n")[0].endswith(b"400 Bad Request")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")


class Wire:
    """A stand-in transport: records what the protocol asks of the connection."""

    def __init__(self) -> None:
        self.paused = 0
        self.resumed = 0
        self.written = b""

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("192.0.2.7", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.resumed += 1

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        pass

    def set_protocol(self, protocol: object) -> None:
        pass


async def test_an_address_that_sends_past_its_byte_budget_is_read_more_slowly() -> None:
    """Case 8 under load: 285 MB/s of photo posts over loopback. Past the address's budget its
    connection is paused until the budget has refilled, then read again; nothing is dropped."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        pass

    config = Config(app, lifespan="off")
    config.load()
    budget = serving.SMALL * 2
    protocol_class = serving.http_protocol(Settings(limit_bytes_address=f"{budget}/2"))  # refilled in 2 s
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    wire = Wire()
    protocol.connection_made(wire)
    head = f"POST /x HTTP/1.1\r\nhost: localhost\r\ncontent-length: {budget * 2}\r\n\r\n".encode()
    protocol.data_received(head + b"a" * (budget - 10 - len(head)))
    assert protocol._throttle is None  # within the budget: not held back (uvicorn may pause for its own reasons)
    other = protocol_class(config=config, server_state=ServerState(), app_state={})
    other.connection_made(Wire())  # type: ignore[arg-type]
    other.data_received(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
    assert other._throttle is None  # a small request of the same address: read at once, but counted
    protocol.data_received(b"a" * (budget // 2))  # half the budget owed now
    assert protocol._throttle is not None and protocol.flow.read_paused
    wait = protocol._throttle.when() - asyncio.get_running_loop().time()
    assert 0.9 < wait <= 1.0  # half the budget owed, refilled at half the budget a second
    resumed = wire.resumed
    protocol.flow.resume_reading()  # the app took the body so far: uvicorn would read on at once
    assert wire.resumed == resumed and protocol.flow.read_paused  # held back
    protocol._throttle._run()  # the time has come: read again
    assert wire.resumed == resumed + 1 and not protocol.flow.read_paused
    protocol.connection_lost(None)
    assert serving.http_protocol(Settings(limit_bytes_address="0")).ingress is None  # 0: no budget


async def test_what_a_penalised_address_sends_is_read_only_when_its_penalty_ends() -> None:
    """Case 3 and 11: a loop refused at the door got 1,500 bare 429s a second, each a request
    through uvicorn and the app. Now its next request waits, at most TARPIT s, then is read whole."""
    from types import SimpleNamespace

    from uvicorn.config import Config
    from uvicorn.server import ServerState

    penalties = {"192.0.2.7": 5.0}
    limits = SimpleNamespace(penalty=lambda host: penalties.get(host, 0.0))
    seen: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        seen.append(scope["path"])

    app.state = SimpleNamespace(runtime=SimpleNamespace(limits=limits))  # type: ignore[attr-defined]
    config = Config(app, lifespan="off", proxy_headers=False)  # as `openspace serve` runs it
    config.load()
    protocol = serving.http_protocol(Settings())(config=config, server_state=ServerState(), app_state={})
    wire = Wire()
    protocol.connection_made(wire)  # type: ignore[arg-type]
    protocol.data_received(b"GET /first HTTP/1.1\r\nhost: loc")
    protocol.data_received(b"alhost\r\n\r\n")  # came in before the pause took hold: kept, in order
    assert wire.paused == 1 and protocol._tarpit is not None and protocol.cycle is None  # nothing read
    wait = protocol._tarpit.when() - asyncio.get_running_loop().time()
    assert serving.TARPIT - 0.1 < wait <= serving.TARPIT  # the penalty is longer: the tarpit's bound
    del penalties["192.0.2.7"]
    protocol._tarpit._run()
    await asyncio.sleep(0)
    assert wire.resumed == 1 and seen == ["/first"]  # read whole, and met the app (its door)
    protocol.connection_lost(None)


def asks(n: int, live: bool = True) -> list[dict[str, object]]:
    headers = [(b"x-regions", b"abc")] if live else [(b"accept", b"text/html")]
    return [{"type": "http", "headers": headers, "path": f"/{i}"} for i in range(n)]


async def test_live_pages_asks_take_turns_with_other_work() -> None:
    """A hall's asks, all ready at once, start a few each time the loop comes round, in the order
    they came; an action that arrives with them is not held behind them (#20: bench/hall.py)."""
    seen: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        seen.append(scope["path"])  # type: ignore[arg-type]

    async def rounds() -> None:  # marks each time the loop comes round
        for _ in range(40):
            seen.append("|")
            await asyncio.sleep(0)

    turns = serving.Turns(app, per_turn=3)  # type: ignore[arg-type]
    ticker = asyncio.create_task(rounds())
    await asyncio.sleep(0)
    hall = [asyncio.create_task(turns(scope, None, None)) for scope in asks(20)]  # type: ignore[arg-type]
    action = asyncio.create_task(turns(asks(1, live=False)[0] | {"path": "/action"}, None, None))  # type: ignore[arg-type]
    await asyncio.gather(*hall, action, ticker)
    assert [p for p in seen if p not in ("|", "/action")] == [f"/{i}" for i in range(20)]  # in the order they came
    between = "".join("a" if p.startswith("/") else p for p in seen).split("|")
    assert max(len(stretch) for stretch in between) <= 3 + 1  # a few asks a round (and the action)
    assert seen.index("/action") < seen.index("/6")  # not behind the hall
    assert turns.started == 0 and not turns.queue and not turns.ticking


async def test_an_ask_given_up_while_waiting_is_passed_over_and_a_full_queue_says_later() -> None:
    answered: list[object] = []
    done: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        done.append(scope["path"])  # type: ignore[arg-type]

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        answered.append(message.get("status"))

    waiting = metrics.ASKS_WAITING._value.get()
    turns = serving.Turns(app, per_turn=1, waiting=2)  # type: ignore[arg-type]
    first, second, third, fourth = (asyncio.create_task(turns(s, None, send)) for s in asks(4))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # all four have come in: one started, two wait, one is told to ask later
    assert len(turns.queue) == 2 and fourth.done() and answered[0] == 503  # regions.js asks again later
    assert metrics.ASKS_WAITING._value.get() == waiting + 2  # what /metrics says
    second.cancel()
    await asyncio.gather(first, third)
    assert second.cancelled() and done == ["/0", "/2"] and not turns.queue
    assert metrics.ASKS_WAITING._value.get() == waiting
