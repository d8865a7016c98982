"""Reports written together across workers (issue #16, point 3): two server processes on one
PostgreSQL and one Redis, a writer on each. Each sees the other's text and presence live, every
update is durable and numbered once, and a page that drops catches up exactly on either worker."""

from __future__ import annotations

import asyncio
import base64
from contextlib import ExitStack
from typing import Any

import httpx2
import orjson
from websockets.asyncio.client import ClientConnection, connect

from tests.backends import RedisServer
from tests.live.test_cowrite import Browser
from tests.live.test_live_server import TIMEOUT, join, propose
from tests.live.test_workers import link, workers

CHECKPOINT_WAIT = 15.0  # seconds for a checkpoint (2 s after typing pauses) to reach both boards


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Page:
    """One report page's socket on one worker, with its copy of the document."""

    def __init__(self, base: str, slug: str, http: httpx2.Client, topic: str, browser: Browser | None = None) -> None:
        self.base, self.slug, self.http, self.topic = base, slug, http, topic
        self.browser = browser or Browser()
        self.inbox: list[dict[str, Any]] = []
        self.ws: ClientConnection | None = None

    async def open(self) -> dict[str, Any]:
        url = self.base.replace("http", "ws") + f"/e/{self.slug}/ws"
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        self.ws = await connect(url, origin=self.base, additional_headers={"cookie": cookie})  # type: ignore[arg-type]
        sv = b64(self.browser.doc.get_state())
        await self.ws.send(orjson.dumps({"type": "doc.sub", "topic": self.topic, "sv": sv}).decode())
        state = await self.next("doc.state")
        self.browser.take(state)
        return state

    async def next(self, kind: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
        """The next message of `kind` (matching `where`), applying every update met on the way."""
        assert self.ws is not None
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = orjson.loads(await self.ws.recv())
                if message["type"] in ("doc.update", "doc.state") and message["type"] != kind:
                    self.browser.take(message)
                if message["type"] == "doc.refused":
                    raise AssertionError(f"refused: {message}")
                if message["type"] == kind and all(message.get(k) == v for k, v in (where or {}).items()):
                    return message  # type: ignore[no-any-return]

    async def type(self, text: str, push_id: str) -> None:
        assert self.ws is not None
        update = self.browser.type(text)
        await self.ws.send(
            orjson.dumps({"type": "doc.push", "topic": self.topic, "id": push_id, "update": b64(update)}).decode()
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None


def stored_text(base: str, slug: str, topic: str) -> str:
    with httpx2.Client(base_url=base) as http:
        reports = http.get(f"/e/{slug}/state.json").json()["reports"]
    return next((r["discussion"] for r in reports if r["id"] == topic), "")


def test_two_writers_on_two_workers_see_each_other_live_and_catch_up_exactly_on_either(
    postgres_url: str, redis: RedisServer
) -> None:
    with ExitStack() as stack:
        a, output = stack.enter_context(workers(postgres_url, redis.url, count=1))
        b, _ = stack.enter_context(workers(postgres_url, redis.url, count=1))  # the second process
        slug = link(output, "Participant link").rsplit("/", 1)[1]
        eva, olle = join(a, slug, "Eva"), join(b, slug, "Olle")
        stack.callback(eva.close)
        stack.callback(olle.close)
        propose(eva, slug, "Rapporten")
        topic = eva.get(f"/e/{slug}/state.json").json()["topics"][-1]["id"]

        async def run() -> None:
            on_a, on_b = Page(a, slug, eva, topic), Page(b, slug, olle, topic)
            await on_a.open()
            await on_b.open()
            # one writer on each worker: the other sees the text, and who is writing where
            await on_a.type("Eva: hej. ", "eva-000001")
            assert (await on_a.next("doc.ack"))["rseq"] == 1
            arrived = await on_b.next("doc.update", {"by": "Eva"})
            on_b.browser.take(arrived)
            assert on_b.browser.text() == "Eva: hej. "
            await on_b.ws.send(orjson.dumps({"type": "doc.presence", "topic": topic, "field": "insights"}).decode())  # type: ignore[union-attr]
            presence = await on_a.next("doc.presence")
            assert (presence["who"], presence["field"]) == ("Olle", "insights")
            # both at once, interleaved: every update numbered once, gap-free, whichever worker took it
            for n in range(10):
                await on_a.type(f"a{n} ", f"eva-{n + 2:06d}")
                await on_b.type(f"b{n} ", f"olle-{n + 1:06d}")
            acks = [(await on_a.next("doc.ack"))["rseq"] for _ in range(10)]
            acks += [(await on_b.next("doc.ack"))["rseq"] for _ in range(10)]
            assert sorted(acks) == list(range(2, 22))
            for page in (on_a, on_b):  # each has every update, its own and the other's
                while page.browser.rseq < 21:
                    page.browser.take(await page.next("doc.update"))
            assert on_a.browser.text() == on_b.browser.text()
            for n in range(10):
                assert f"a{n} " in on_a.browser.text() and f"b{n} " in on_a.browser.text()
            # Olle drops; Eva keeps writing; Olle comes back on the other worker, then on his own
            await on_b.close()
            for n in range(3):
                await on_a.type(f"medan Olle var borta {n}. ", f"eva-{n + 20:06d}")
                await on_a.next("doc.ack")
            back = Page(a, slug, olle, topic, on_b.browser)
            state = await back.open()
            assert state["rseq"] == 24
            assert back.browser.text() == on_a.browser.text()
            await back.close()
            await on_a.type("Sist. ", "eva-000030")
            await on_a.next("doc.ack")
            again = Page(b, slug, olle, topic, back.browser)
            state = await again.open()
            assert state["rseq"] == 25 and again.browser.text() == on_a.browser.text()
            assert again.browser.text().count("Sist. ") == 1  # what it lacked, once
            await again.close()
            await on_a.close()
            expected = on_a.browser.text()
            for _ in range(int(CHECKPOINT_WAIT / 0.2)):  # the checkpoint puts it in both boards
                if stored_text(a, slug, topic) == expected == stored_text(b, slug, topic):
                    break
                await asyncio.sleep(0.2)
            assert stored_text(a, slug, topic) == expected == stored_text(b, slug, topic)

        asyncio.run(run())
