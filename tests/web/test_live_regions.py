"""Every screen live in every phase (issue #14), proven in chromium: a page left open equals the
same page loaded fresh after any sequence of changes, typing survives a storm of updates, a
refused keyboard placement stays said and ends the move, the session page follows its room.

The live pages ask the server for their changed regions (web/regions.py) and morph them in
(static/js/regions.js); these tests compare the whole body, normalised only for what is the
person's and the device's own (listed in NORMALISE).
"""

from __future__ import annotations

import difflib
import random
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx2
import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.server import Server
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    LAPTOP,
    PHONE,
    PROJECTOR,
    Watch,
    browser,
    context,
    fac_act,
    facilitator_page,
    join,
    mark_loaded,
    new_event,
    not_reloaded,
    server,
    watch,
)

pytestmark = pytest.mark.browser

# The body as a canonical string: attributes sorted, whitespace collapsed. Left out, as the
# person's or the device's own: the connection line, scripts (page data carries the server's
# clock), a message addressed to the person (.form-status, #board-alert, [data-keep] nodes'
# text and visibility), which <details> are open, the projector's fitted type size (style),
# busy and invalid marks, each render's fresh no-script form id, and the countdown's ticking text.
NORMALISE = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll("script, #conn, #board-alert, .form-status").forEach((n) => n.remove());
  body.querySelectorAll("[data-keep]").forEach((n) => { n.removeAttribute("hidden"); n.textContent = ""; });
  body.querySelectorAll("[data-countdown]").forEach((n) => { n.textContent = ""; });
  body.querySelectorAll("input[name=action_id]").forEach((n) => n.setAttribute("value", ""));
  const own = new Set(["style", "aria-busy", "aria-invalid", "data-dirty", "data-keep"]);
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.nodeValue.replace(/\\s+/g, " ");
      if (text.trim()) out.push(text.trim());
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    const attrs = [...node.attributes]
      .filter((a) => !own.has(a.name) && !(a.name === "open" && node.tagName === "DETAILS"))
      .map((a) => `${a.name}="${a.value}"`).sort();
    out.push(`<${node.tagName.toLowerCase()}${attrs.length ? " " + attrs.join(" ") : ""}>`);
    if (node.tagName === "TEXTAREA") out.push(node.defaultValue.trim());
    else node.childNodes.forEach(walk);
    out.push(`</${node.tagName.toLowerCase()}>`);
  };
  walk(body);
  return out.join("\\n");
}"""


def server_seq(base: str, slug: str) -> int:
    """The event's newest seq, as a live page learns it: from a regions answer."""
    answer = httpx2.get(f"{base}/e/{slug}", headers={"x-regions": "{}"})
    return int(answer.json()["seq"])


def caught_up(page: Page, seq: int) -> None:
    page.wait_for_function(f"Number(document.documentElement.dataset.seq) >= {seq}", timeout=20_000)
    page.wait_for_function("!document.querySelector('[data-region][aria-busy=true]')", timeout=20_000)


def same_as_fresh(page: Page, label: str) -> None:
    fresh = page.context.new_page()
    fresh.goto(page.url)
    expect(fresh.locator("#conn")).to_have_attribute("data-state", "online")
    live, loaded = page.evaluate(NORMALISE), fresh.evaluate(NORMALISE)
    fresh.close()
    if live != loaded:
        diff = "\n".join(difflib.unified_diff(loaded.splitlines(), live.splitlines(), "fresh", "live", lineterm=""))
        pytest.fail(f"{label}: the live page differs from a fresh load\n{diff[:6000]}")


def http_of(ctx: BrowserContext, base: str) -> httpx2.Client:
    """An HTTP client that is the same person as a browser context (its cookies)."""
    http = httpx2.Client(base_url=base, follow_redirects=False)
    for cookie in ctx.cookies():
        http.cookies.set(cookie["name"], cookie["value"], path=cookie["path"])
    return http


def post(http: httpx2.Client, slug: str, action: str, return_to: str = "participant", **args: str) -> bool:
    data = {"csrf": http.cookies.get("os_csrf") or "", "action": action, "return_to": return_to, **args}
    return http.post(f"/e/{slug}/act", data=data).status_code == 303


def joined(base: str, slug: str, name: str) -> httpx2.Client:
    http = httpx2.Client(base_url=base, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', http.get(f"/e/{slug}").text).group(1)  # type: ignore[union-attr]
    assert http.post(f"/e/{slug}/join", data={"csrf": token, "name": name}).status_code == 303
    return http


def today_event(base: str) -> tuple[str, str, httpx2.Client]:
    """An event today: one slot running now (check-ins are open), two later, three rooms."""
    zone = ZoneInfo("Europe/Stockholm")
    now = datetime.now(zone)
    start = max(now - timedelta(minutes=20), now.replace(hour=0, minute=0))
    end = min(now + timedelta(minutes=40), now.replace(hour=23, minute=0))
    http = httpx2.Client(base_url=base, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', http.get("/new").text).group(1)  # type: ignore[union-attr]
    page = http.post("/new", data={"csrf": token, "name": "Levande", "starts_on": now.date().isoformat(),
                                   "timezone": "Europe/Stockholm", "language": "en"}).text  # fmt: skip
    link = re.search(r"<code>(http[^<]+)</code>", page).group(1)  # type: ignore[union-attr]
    slug = link.split("/e/")[1].split("/")[0]
    for n in range(3):
        fac_act(http, slug, "space.add", name=f"Rum {n + 1}", capacity=str(2 + n))
    day = now.date().isoformat()
    fac_act(http, slug, "slot.add", day=day, start=start.strftime("%H:%M"), end=end.strftime("%H:%M"))
    later = end.replace(hour=23, minute=0) if end.hour < 23 else end
    if later > end:
        fac_act(http, slug, "slot.add", day=day, start=end.strftime("%H:%M"), end=later.strftime("%H:%M"))
    return slug, link, http


def board(http: httpx2.Client, slug: str) -> dict:  # type: ignore[type-arg]
    return http.get(f"/e/{slug}/state.json").json()  # type: ignore[no-any-return]


PHASES = ["opening", "marketplace", "closed", "sessions", "closing"]


def random_action(rng: random.Random, fac: httpx2.Client, people: list[httpx2.Client], slug: str, keep: str) -> None:
    """One action by the facilitator or a participant; refusals are part of the game."""
    state = board(fac, slug)
    topics = [t for t in state["topics"] if t["status"] != "merged"]
    open_topics = [t for t in topics if t["status"] == "open"]
    spaces, slots = state["spaces"], state["slots"]
    someone = rng.choice(people)
    pick = rng.random()
    if pick < 0.12:
        post(someone, slug, "topic.propose", title=f"Ämne {rng.randrange(1000)} <b>&</b>", description="Varför?")
    elif pick < 0.2:
        fac_act_ok(fac, slug, "topic.propose", title=f"Lapp {rng.randrange(1000)}", convener_name="Kim")
    elif pick < 0.32 and open_topics and spaces and slots:
        t = rng.choice(open_topics)
        fac_act_ok(fac, slug, "topic.place", topic=t["id"], slot=rng.choice(slots)["id"], space=rng.choice(spaces)["id"])
    elif pick < 0.36 and open_topics:
        t = rng.choice([t for t in open_topics if t["id"] != keep] or open_topics)
        if t["id"] != keep:
            fac_act_ok(fac, slug, "topic.unplace", topic=t["id"])
    elif pick < 0.40 and topics:
        t = rng.choice([t for t in topics if t["id"] != keep] or topics)
        if t["id"] != keep:
            fac_act_ok(fac, slug, "topic.hide", topic=t["id"], show="1" if t["status"] == "hidden" else "")
    elif pick < 0.48 and open_topics:
        post(someone, slug, "topic.interest", topic=rng.choice(open_topics)["id"], on=rng.choice(["1", "0"]))
    elif pick < 0.56 and open_topics:
        post(someone, slug, rng.choice(["attendance.in", "attendance.out"]), "session", topic=rng.choice(open_topics)["id"])
    elif pick < 0.62:
        fac_act_ok(fac, slug, "event.phase", phase=rng.choice(PHASES))
    elif pick < 0.66 and spaces:
        space = rng.choice(spaces)
        fac_act_ok(fac, slug, "space.update", space=space["id"], name=space["name"], capacity=str(rng.randint(1, 6)))
    elif pick < 0.70:
        fac_act_ok(fac, slug, "announce", text=f"Kaffe om {rng.randrange(60)} minuter", minutes="15")
    elif pick < 0.73 and state["announcements"]:
        fac_act_ok(fac, slug, "announce.end", announcement=rng.choice(state["announcements"])["id"])
    elif pick < 0.77:
        spot = rng.choice(open_topics)["id"] if open_topics and rng.random() < 0.6 else ""
        fac_act_ok(fac, slug, "pitch.spotlight", topic=spot)
    elif pick < 0.81 and open_topics:
        post(someone, slug, rng.choice(["pitch.join", "pitch.leave"]), topic=rng.choice(open_topics)["id"])
    elif pick < 0.85:
        fac_act_ok(fac, slug, "voting.set", dots=str(rng.choice([0, 3, 5])))
    elif pick < 0.90 and open_topics:
        post(someone, slug, "vote", "news", topic=rng.choice(open_topics)["id"], on=rng.choice(["1", "1", "0"]))
    elif pick < 0.94 and open_topics:
        t = rng.choice(open_topics)
        post(someone, slug, "report.save", "report", topic=t["id"], base="0", discussion=f"Vi pratade om **{t['title']}**")
    elif pick < 0.97:
        fac_act_ok(fac, slug, "bell.set", minutes=str(rng.choice([0, 5])))
    else:
        post(someone, slug, "me.rename", name=f"Namn {rng.randrange(100)}")


def fac_act_ok(http: httpx2.Client, slug: str, action: str, **args: str) -> bool:
    return post(http, slug, action, "facilitate", **args)


def run_and_compare(browser: Browser, server: Server, watch: Watch, seed: int, actions: int) -> None:
    rng = random.Random(seed)
    slug, link, fac = today_event(server.url)
    fac.get(link)  # the facilitator's session, for the HTTP client too
    fac_act_ok(fac, slug, "topic.propose", title="Sessionen", convener_name="Ada")
    state = board(fac, slug)
    keep = state["topics"][-1]["id"]
    fac_act_ok(fac, slug, "topic.place", topic=keep, slot=state["slots"][0]["id"], space=state["spaces"][0]["id"])

    phone_ctx = context(browser, watch, PHONE)
    phone = phone_ctx.new_page()
    join(phone, server.url, slug, "Telefon")
    session = phone_ctx.new_page()
    session.goto(f"{server.url}/e/{slug}/sessions/{keep}")
    news = phone_ctx.new_page()
    news.goto(f"{server.url}/e/{slug}/news")
    projector = context(browser, watch, PROJECTOR).new_page()
    projector.goto(f"{server.url}/e/{slug}/projector")
    board_page = facilitator_page(browser, watch, link)
    pages = {"phone": phone, "session": session, "news": news, "projector": projector, "facilitator": board_page}
    for page in pages.values():
        expect(page.locator("#conn")).to_have_attribute("data-state", "online")
        mark_loaded(page)
    people = [http_of(phone_ctx, server.url)] + [joined(server.url, slug, f"Deltagare {n}") for n in range(3)]

    checkpoints = sorted({actions // 3, 2 * actions // 3, actions})
    for n in range(1, actions + 1):
        random_action(rng, fac, people, slug, keep)
        if n in checkpoints:
            seq = server_seq(server.url, slug)
            for name, page in pages.items():
                caught_up(page, seq)
                same_as_fresh(page, f"seed {seed}, after {n} actions, {name}")
    for name, page in pages.items():
        assert not_reloaded(page), f"{name} was reloaded"
    for http in [fac, *people]:
        http.close()


@pytest.mark.parametrize("seed", [14, 1414])
def test_live_pages_equal_fresh_ones_through_random_actions(
    browser: Browser, server: Server, watch: Watch, seed: int
) -> None:
    """A seeded random day through every phase: each open page equals a fresh load at checkpoints."""
    run_and_compare(browser, server, watch, seed, actions=120)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 110))
def test_live_pages_equal_fresh_ones_through_many_random_days(
    browser: Browser, server: Server, watch: Watch, seed: int
) -> None:
    """The same, over more seeds and longer days."""
    run_and_compare(browser, server, watch, seed, actions=200)
