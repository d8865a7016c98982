"""A phone whose link dies without a reset, as when an access point reboots (issue #20).

The browser never hears that the socket is dead: no reset, no close, no `offline` event. Only
live.js's heartbeat can notice (docs/protocol.md, client behaviour 6). Here the phone reaches the
server through a small proxy that can go silent: its connections stop carrying bytes either way
and stay open, while new connections pass. The page's clock is Playwright's, so the heartbeat's
tens of seconds pass at once, and the test holds live.js to what it promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Browser, expect

from tests.server import Server
from tests.web.test_browser import PHONE, Watch, browser, context, fac_act, new_event, server, watch

__all__ = ["browser", "server", "watch"]  # the fixtures, shared with the other browser tests

pytestmark = pytest.mark.browser

LIVE_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "live.js"


def timer(name: str) -> int:
    match = re.search(rf"const {name} = (\d+);", LIVE_JS.read_text())
    assert match, name
    return int(match.group(1))


class SilentLink:
    """A TCP proxy to the server on a free port of 127.0.0.1; `die()` silences every websocket it
    carries (bytes read after that go nowhere; no FIN, no RST), new connections pass as before.
    Only the websockets: a pooled HTTP connection silenced too would hang the page's next fetch
    in this browser for minutes, which is the browser's matter, not the heartbeat's."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.dead: list[asyncio.Event] = []  # one per connection: set once it is silenced
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0

    def __enter__(self) -> SilentLink:
        self.thread.start()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self.carry, "127.0.0.1", 0), self.loop)
        self.server = server.result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            self.server.close()
            for writer in self.writers:
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers += [writer, up_writer]
        dead = asyncio.Event()

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    if source is reader and b"upgrade: websocket" in data.lower() and dead not in self.dead:
                        self.dead.append(dead)
                    if dead.is_set():
                        return  # the link is gone: nothing passes, nothing is closed
                    sink.write(data)
                sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def die(self) -> None:
        """Every connection open now goes silent (a rebooted access point)."""
        self.loop.call_soon_threadsafe(lambda: [dead.set() for dead in self.dead])


@pytest.fixture
def link(server: Server) -> Iterator[SilentLink]:
    with SilentLink(int(server.url.rsplit(":", 1)[1])) as link:
        yield link


def test_a_silently_dead_link_is_noticed_and_the_phone_is_back_within_the_promise(
    browser: Browser, server: Server, watch: Watch, link: SilentLink
) -> None:
    ping, silent, backoff = timer("PING_EVERY_MS"), timer("SILENT_AFTER_MS"), timer("BACKOFF_MIN_MS")
    slug, facilitator = new_event(server.url, "Tyst länk", spaces=1, slots=1)
    base = f"http://127.0.0.1:{link.port}"
    watch.host = "127.0.0.1"
    phone = context(browser, watch, PHONE).new_page()
    sockets: list[object] = []
    phone.on("websocket", lambda socket: sockets.append(socket))
    phone.clock.install()
    phone.goto(f"{base}/e/{slug}")
    conn = phone.locator("#conn")
    expect(conn).to_have_attribute("data-state", "online")
    phone.clock.run_for(ping + 100)  # one heartbeat answered: the link works
    phone.wait_for_timeout(500)  # (real time, for the pong to come back)
    expect(conn).to_have_attribute("data-state", "online")
    assert len(sockets) == 1
    link.die()
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        http.get(facilitator)
        fac_act(http, slug, "topic.propose", title="Sagt medan länken var död", convener_name="Kim")
    step, elapsed, promise = 250, 0, silent + ping + backoff * 3 // 2
    while len(sockets) < 2 and elapsed <= promise + step:  # the page's clock, a quarter second at a time
        phone.clock.run_for(step)
        elapsed += step
        phone.wait_for_timeout(30)  # (real time, for a new socket to be reported)
    assert len(sockets) == 2, f"no new socket {elapsed} ms after the link died"
    # noticed only once the silence was long enough, and back within live.js's promise
    assert silent <= elapsed <= promise + step, elapsed
    expect(conn).to_have_attribute("data-state", "online", timeout=10_000)
    for _ in range(50):  # the regions are asked for after a short pause of the page's own clock
        phone.clock.run_for(200)
        if "Sagt medan länken var död" in phone.locator("#marketplace").inner_text():
            break
    expect(phone.locator("#marketplace")).to_contain_text("Sagt medan länken var död")
