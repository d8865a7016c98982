"""A hall of open pages following the facilitator's changes (issue #20): the `hall` storm.

Every page left open on a phone asks its own address again after each burst of changes, with
the hashes of the regions it has (static/js/regions.js, web/regions.py), and morphs in what
changed. The other storms measure the socket's frames only; in a hall those asks are most of the
server's work: one change makes every open page ask once. Here N phones with their sockets open
(joined participants, their cookies shared as the fan-out phase shares them) each ask as
regions.js does: `PACE_MS` after a change arrives, at most one ask in flight, one more after it
if changes came meanwhile, keeping the hashes each answer sends. The facilitator edits topics at
`rate` changes/s for `seconds`, the pages being the participant page or one session's page
(`page`: "participant" or "session"). Measured: from the facilitator's action to each phone's answer
showing it (every change, every phone), the facilitator's action → result, the server's CPU per
ask (frames included), and asks that failed. The bare app answers each ask with a JSON body it
made once per change (bench/baseline.py), what uvicorn and Starlette cost for the same asks.
"""

from __future__ import annotations

import asyncio
import re
from functools import partial
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from .loadgen import Meter, bounded_gather, summary

if TYPE_CHECKING:
    from .stormload import Phone, PhoneBrowser, Storm

REGIONS_JS = Path(__file__).resolve().parent.parent / "static" / "js" / "regions.js"


def pace_ms() -> int:
    """regions.js's own pause after a change, so that the phones ask as the page does."""
    return int(re.search(r"const PACE_MS = (\d+);", REGIONS_JS.read_text()).group(1))  # type: ignore[union-attr]


class Page:
    """One open page: its socket, its own connection for asks, what it has, what it was shown."""

    def __init__(self, phone: Phone, browser: PhoneBrowser, path: str, pace: float) -> None:
        self.phone, self.browser, self.path, self.pace = phone, browser, path, pace
        self.hashes: dict[str, str] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.running = self.again = False
        self.shown: list[tuple[int, int]] = []  # (seq an answer was at, when it arrived)
        self.asks = self.failures = 0
        self.problem = ""
        heard = phone.changes
        phone.changes = self.heard(heard)  # type: ignore[method-assign]

    def heard(self, original: Any) -> Any:
        def changes(seqs: list[int], now: int, length: int) -> None:
            original(seqs, now, length)
            self.schedule()

        return changes

    def schedule(self) -> None:
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.pace, self.fire)

    def fire(self) -> None:
        self.timer = None
        if self.running:
            self.again = True
            return
        asyncio.ensure_future(self.ask())

    async def ask(self) -> None:
        self.running = True
        try:
            self.browser.headers = {"X-Regions": " ".join(set(self.hashes.values()))}
            status, body = await self.browser.request("GET", self.path)
            now = perf_counter_ns()
            self.asks += 1
            if status != 200:
                raise RuntimeError(f"ask: {status}")
            answer = orjson.loads(body)
            self.hashes.update(answer.get("hashes", {}))
            self.shown.append((int(answer["seq"]), now))
        except Exception as problem:  # counted and reported; the page asks again at the next change
            self.failures += 1
            self.problem = repr(problem)
            self.browser.close()
        finally:
            self.running = False
        if self.again:
            self.again = False
            self.schedule()


def showing(made: list[int], sent: dict[int, int], pages: list[Page]) -> tuple[list[float], int]:
    """From each change to each page's first answer at or past it, ms; and how many never came."""
    shown, missing = [], 0
    for seq in made:
        for page in pages:
            at = next((t for s, t in page.shown if s >= seq), None)
            if at is None or sent.get(seq) is None:
                missing += 1
            else:
                shown.append((at - sent[seq]) / 1e6)
    return shown, missing


async def hall(storm: Storm) -> dict[str, Any]:
    from .stormload import PhoneBrowser, open_phone

    c, n = storm.c, storm.c["clients"]
    head, epoch = await storm.head_and_epoch()
    page = {"participant": "", "session": f"/sessions/{storm.run.topics[0]}" if storm.project else ""}[c["page"]]
    path = f"/e/{storm.run.slug}{page}" if storm.project else f"/e/{c['page_bytes']}"
    ws = f"{storm.ws_base()}?since={head}&epoch={quote(epoch)}"
    opening = (partial(open_phone, c["port"], ws, storm.cookie(i), head, head) for i in range(n))
    phones = await bounded_gather(opening, 64)
    pages = []
    for i, phone in enumerate(phones):
        if isinstance(phone, BaseException):
            raise RuntimeError(f"a phone failed to connect: {phone!r}")
        browser = PhoneBrowser(c["port"])
        if storm.cookie(i):
            key, _, value = storm.cookie(i).partition("=")
            browser.cookies[key] = value
        pages.append(Page(phone, browser, path, pace_ms() / 1e3))
    laptops = []  # the facilitator's board, open on a laptop: rendered for each of its asks
    for _ in range(c.get("laptops", 0) if storm.project else 0):
        phone = await open_phone(c["port"], ws, storm.run.facilitator, head, head)
        browser = PhoneBrowser(c["port"])
        key, _, value = storm.run.facilitator.partition("=")
        browser.cookies[key] = value
        laptops.append(Page(phone, browser, f"/e/{storm.run.slug}/facilitate", pace_ms() / 1e3))
    pages += laptops
    await bounded_gather((page.ask for page in pages), 64)  # each page's first ask brings every region
    if any(not page.hashes and storm.project for page in pages):
        raise RuntimeError(f"a page's first ask failed: {next(p.problem for p in pages if not p.hashes)}")
    await asyncio.sleep(1.0)
    for page in pages:
        page.asks, page.shown = 0, []
    storm.run.result_ms = []
    stop = asyncio.Event()
    meter = Meter(c["pid"])
    acting = asyncio.create_task(storm.acting(c["storm_rate"], stop))
    await asyncio.sleep(c["seconds"])
    stop.set()
    made = await acting
    final = made[-1] if made else head
    for _ in range(600):  # every page shows the last change, or 30 s have passed
        if all(p.shown and p.shown[-1][0] >= final for p in pages):
            break
        await asyncio.sleep(0.05)
    usage = meter.read()
    for page in pages:
        page.phone.close()
        page.browser.close()
    phones_shown, missing = showing(made, storm.run.sent, [p for p in pages if p not in laptops])
    laptops_shown, laptops_missing = showing(made, storm.run.sent, laptops)
    asks = sum(p.asks for p in pages)
    storm.result["hall"] = {
        "page": c["page"],
        "phones": n,
        "changes": len(made),
        "asks": asks,
        "failures": sum(p.failures for p in pages),
        "first_failure": next((p.problem for p in pages if p.problem), None),
        "shown": summary(phones_shown),
        "not_shown": missing + laptops_missing,
        "laptops": len(laptops),
        "laptop_shown": summary(laptops_shown),
        "facilitator": {"changes": len(made), **summary(storm.run.result_ms)},
        "cpu_ms_per_ask": 1e3 * usage["server_cpu_s"] / max(1, asks),
        **usage,
    }
    return storm.result
