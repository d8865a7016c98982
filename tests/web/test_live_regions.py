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
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx2
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
    created_page,
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
  body.querySelectorAll("input[name=_action_id]").forEach((n) => n.setAttribute("value", ""));
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
    with httpx2.Client(base_url=base) as http:
        return int(http.get(f"/e/{slug}", headers={"x-regions": "{}"}).json()["seq"])


CAUGHT_UP = """(seq) => Number(document.documentElement.dataset.seq) >= seq
  && !document.querySelector('[data-region][aria-busy=true]')"""


def caught_up(page: Page, seq: int) -> None:
    """The page shows regions rendered at `seq` or later (polled: the pages' CSP forbids eval)."""
    for _ in range(200):
        if page.evaluate(CAUGHT_UP, seq):
            return
        page.wait_for_timeout(100)
    pytest.fail(f"{page.url} never caught up with seq {seq}")


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
    data = {"csrf": http.cookies.get("os_csrf") or "", "_action": action, "_return_to": return_to, **args}
    return http.post(f"/e/{slug}/act", data=data).status_code == 303


def joined(base: str, slug: str, name: str) -> httpx2.Client:
    http = httpx2.Client(base_url=base, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', http.get(f"/e/{slug}").text).group(1)  # type: ignore[union-attr]
    assert http.post(f"/e/{slug}/join", data={"csrf": token, "name": name}).status_code == 303
    return http


# Time zones whose day is somewhere between 06 and 18 o'clock at any instant: the event is held in
# the first of them where it is, so its slot around now never crosses midnight whatever the hour
# the test runs at (between 23:00 and 24:00 in Stockholm it once made no slot at all).
ZONES = ("Europe/Stockholm", "America/New_York", "America/Los_Angeles", "Pacific/Auckland", "Asia/Tokyo")


def daytime_zone(instant: datetime) -> str:
    return next(z for z in ZONES if 6 <= instant.astimezone(ZoneInfo(z)).hour < 18)


def today_event(base: str, instant: datetime | None = None) -> tuple[str, str, httpx2.Client]:
    """An event today: one slot running now (check-ins are open), one later, three rooms."""
    instant = instant or datetime.now(UTC)
    timezone = daytime_zone(instant)
    now = instant.astimezone(ZoneInfo(timezone))
    start, end = now - timedelta(minutes=20), now + timedelta(minutes=40)
    http = httpx2.Client(base_url=base, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', http.get("/new").text).group(1)  # type: ignore[union-attr]
    page = created_page(http, data={"csrf": token, "name": "Levande", "starts_on": now.date().isoformat(),
                                    "timezone": timezone, "language": "en"})  # fmt: skip
    link = re.search(r"<code>(http[^<]+)</code>", page).group(1)  # type: ignore[union-attr]
    slug = link.split("/e/")[1].split("/")[0]
    for n in range(3):
        fac_act(http, slug, "space.add", name=f"Rum {n + 1}", capacity=str(2 + n))
    day = now.date().isoformat()
    fac_act(http, slug, "slot.add", day=day, start=start.strftime("%H:%M"), end=end.strftime("%H:%M"))
    fac_act(http, slug, "slot.add", day=day, start=end.strftime("%H:%M"), end="23:00")
    return slug, link, http


def test_the_slot_around_now_stays_within_one_day_at_any_hour() -> None:
    """Every instant of a day, by the quarter hour, in winter and summer time, has a zone where its
    slot fits in one day."""
    for midnight in (datetime(2026, 1, 14, tzinfo=UTC), datetime(2026, 7, 14, tzinfo=UTC)):
        for quarter in range(96):
            instant = midnight + timedelta(minutes=15 * quarter)
            now = instant.astimezone(ZoneInfo(daytime_zone(instant)))
            start, end = now - timedelta(minutes=20), now + timedelta(minutes=40)
            assert start.date() == now.date() == end.date() and end.strftime("%H:%M") < "23:00"


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
        fac_act_ok(
            fac, slug, "topic.place", topic=t["id"], slot=rng.choice(slots)["id"], space=rng.choice(spaces)["id"]
        )
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
        post(
            someone,
            slug,
            rng.choice(["attendance.in", "attendance.out"]),
            "session",
            topic=rng.choice(open_topics)["id"],
        )
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
        post(
            someone,
            slug,
            "report.save",
            "report",
            topic=t["id"],
            base="0",
            discussion=f"Vi pratade om **{t['title']}**",
        )
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
    try:
        play(rng, fac, people, slug, keep, pages, server, seed, actions)
    finally:
        for http in [fac, *people]:
            http.close()


def play(
    rng: random.Random,
    fac: httpx2.Client,
    people: list[httpx2.Client],
    slug: str,
    keep: str,
    pages: dict[str, Page],
    server: Server,
    seed: int,
    actions: int,
) -> None:

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


@pytest.mark.parametrize("seed", [14, 1414])
def test_live_pages_equal_fresh_ones_through_random_actions(
    browser: Browser, server: Server, watch: Watch, seed: int
) -> None:
    """A seeded random day through every phase: each open page equals a fresh load at checkpoints."""
    run_and_compare(browser, server, watch, seed, actions=120)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 110))
def test_live_pages_equal_fresh_ones_through_many_random_days(
    browser: Browser, server: Server, watch: Watch, seed: int, request: pytest.FixtureRequest
) -> None:
    """The same, over more seeds and longer days: asked for by `pytest -m slow` (about 3 minutes),
    left out of `make test`, which runs the two seeds above."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("ten more random days: run `pytest -m slow tests/web/test_live_regions.py`")
    run_and_compare(browser, server, watch, seed, actions=200)


@contextmanager
def marketplace_phone(
    browser: Browser, server: Server, watch: Watch, title: str, name: str
) -> Iterator[tuple[str, httpx2.Client, Page]]:
    """A new event in its marketplace, its facilitator's HTTP client, and a phone that joined it."""
    slug, link = new_event(server.url, title, spaces=2, slots=2)
    with httpx2.Client(base_url=server.url, follow_redirects=False) as fac:
        fac.get(link)
        assert fac_act_ok(fac, slug, "event.phase", phase="marketplace")
        phone = context(browser, watch, PHONE).new_page()
        join(phone, server.url, slug, name)
        mark_loaded(phone)
        yield slug, fac, phone


def test_typing_in_the_propose_form_survives_30_changes(browser: Browser, server: Server, watch: Watch) -> None:
    """Text, caret and focus stay while 30 changes arrive and the marketplace is morphed 30 times."""
    with marketplace_phone(browser, server, watch, "Skriv", "Skribent") as (slug, fac, phone):
        phone.fill("#propose-title", "Bibliotek och spel")  # typed, then the person moves on
        phone.click("#propose-desc")
        phone.keyboard.type("Hur lånar vi ut spel")
        for _ in range(8):
            phone.keyboard.press("ArrowLeft")  # the caret in the middle: "Hur lånar vi| ut spel"
        where = phone.eval_on_selector("#propose-desc", "n => n.getBoundingClientRect().top")
        for n in range(30):
            assert fac_act_ok(fac, slug, "topic.propose", title=f"Förslag {n}", convener_name="Kim")
        caught_up(phone, server_seq(server.url, slug))
    expect(phone.locator("#marketplace")).to_contain_text("Förslag 29")
    expect(phone.locator("#propose-desc")).to_be_focused()
    assert phone.eval_on_selector("#propose-desc", "n => [n.value, n.selectionStart, n.selectionEnd]") == [
        "Hur lånar vi ut spel", 12, 12]  # fmt: skip
    expect(phone.locator("#propose-title")).to_have_value("Bibliotek och spel")
    # 30 topics grew the marketplace above the form, and the form stayed where the person saw it
    assert abs(phone.eval_on_selector("#propose-desc", "n => n.getBoundingClientRect().top") - where) < 40
    phone.keyboard.type(" gärna")  # typing goes on where the caret was
    expect(phone.locator("#propose-desc")).to_have_value("Hur lånar vi gärna ut spel")
    assert not_reloaded(phone)


def test_a_loaded_pages_first_ask_brings_only_what_changed(browser: Browser, server: Server, watch: Watch) -> None:
    """A page comes with its regions' hashes (web/regions.py): its first ask after a change sends
    them and gets one region back, not the whole page's (8.7 KB of a joined phone's)."""
    with marketplace_phone(browser, server, watch, "Först", "Fråga") as (slug, fac, phone):
        with phone.expect_response(lambda r: "x-regions" in r.request.headers) as asked:
            assert fac_act_ok(fac, slug, "announce", text="Fika nu", minutes="10")
        sent = asked.value.request.headers["x-regions"].split()
        answer = asked.value.json()
    assert len(sent) >= 8 and list(answer["regions"]) == ["banner"], (len(sent), list(answer["regions"]))
    expect(phone.locator("[data-announcements]")).to_contain_text("Fika nu")
    assert not_reloaded(phone)


def test_the_propose_form_comes_and_goes_with_the_marketplace(browser: Browser, server: Server, watch: Watch) -> None:
    """Phones that joined during the opening get the propose form when the marketplace opens."""
    slug, link = new_event(server.url, "Faser", spaces=2, slots=2)
    with httpx2.Client(base_url=server.url, follow_redirects=False) as fac:
        fac.get(link)
        assert fac_act_ok(fac, slug, "event.phase", phase="opening")
    phone = context(browser, watch, PHONE).new_page()
    phone.goto(f"{server.url}/e/{slug}")
    phone.fill("#f-name", "Tidig")
    phone.click("#join button[type=submit]")
    expect(phone.locator("#propose .notice")).to_be_visible()
    expect(phone.locator("#propose-title")).to_have_count(0)
    projector = context(browser, watch, PROJECTOR).new_page()
    projector.goto(f"{server.url}/e/{slug}/projector")
    for page in (phone, projector):
        expect(page.locator("#conn")).to_have_attribute("data-state", "online")
        mark_loaded(page)
    expect(projector.locator("[data-proj-opening]")).to_be_visible()
    with httpx2.Client(base_url=server.url, follow_redirects=False) as fac:
        fac.get(link)
        assert fac_act_ok(fac, slug, "event.phase", phase="marketplace")
        expect(phone.locator("#propose-title")).to_be_visible()
        expect(phone.locator("#propose .notice")).to_have_count(0)
        expect(projector.locator("[data-proj-opening]")).to_be_hidden()
        expect(projector.locator(".proj-grid")).to_be_visible()
        phone.fill("#propose-title", "Ett förslag")
        phone.click("#propose button[type=submit]")
        expect(phone.locator("#marketplace")).to_contain_text("Ett förslag")
        expect(phone.locator("#propose [data-action='topic.propose'] .form-status")).to_have_text(
            re.compile(r"\S")
        )  # "Saved."
        assert fac_act_ok(fac, slug, "announce", text="Lunch nu", minutes="15")
        expect(phone.locator("[data-announcements]")).to_contain_text("Lunch nu")
        expect(phone.locator("#propose [data-action='topic.propose'] .form-status")).to_have_text(
            re.compile(r"\S")
        )  # a refresh kept it
        assert fac_act_ok(fac, slug, "event.phase", phase="closed")
        expect(phone.locator("#propose-title")).to_have_count(0)
        expect(phone.locator("#propose .notice")).to_be_visible()
    assert not_reloaded(phone) and not_reloaded(projector)


def test_the_connection_state_is_seen_wherever_the_page_is_scrolled(
    browser: Browser, server: Server, watch: Watch
) -> None:
    """Offline, with the number of changes waiting, in view at the bottom of a long page."""
    slug, _ = new_event(server.url, "Långt", spaces=2, slots=8)
    ctx = context(browser, watch, PHONE)
    phone = ctx.new_page()
    join(phone, server.url, slug, "Scroll")
    phone.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    conn = phone.locator("#conn")
    expect(conn).to_be_in_viewport()
    ctx.set_offline(True)
    expect(conn).to_have_attribute("data-state", re.compile("offline|connecting"))
    phone.locator("details.privacy summary").click()
    phone.locator("details.privacy button").first.click()  # "forget where I have been", offline
    expect(conn).to_contain_text("1")
    expect(conn).to_be_in_viewport()
    ctx.set_offline(False)
    expect(conn).to_have_attribute("data-state", "online", timeout=20_000)
    expect(conn).to_be_in_viewport()


def test_a_refused_keyboard_placement_stays_said_and_ends_the_move(
    browser: Browser, server: Server, watch: Watch
) -> None:
    """Another facilitator took the cell a moment earlier: the refusal stays, the move mode ends."""
    slug, link = new_event(server.url, "Tangent", spaces=1, slots=1)
    page = facilitator_page(browser, watch, link)
    with httpx2.Client(base_url=server.url, follow_redirects=False) as other:
        other.get(link)
        for title in ("Ett", "Två"):
            assert fac_act_ok(other, slug, "topic.propose", title=title, convener_name="Kim")
        expect(page.locator("[data-tray]")).to_contain_text("Två")
        state = board(other, slug)
        mark_loaded(page)
        page.locator("[data-topic]", has_text="Två").get_by_role("link", name=re.compile("Move")).focus()
        page.keyboard.press("Enter")
        expect(page.locator("button.place").first).to_be_focused()
        # this laptop's board goes stale for a moment, while the other facilitator takes the cell
        page.route("**/facilitate?fragment=board*", lambda route: route.abort())
        ett = next(t["id"] for t in state["topics"] if t["title"] == "Ett")
        assert fac_act_ok(other, slug, "topic.place", topic=ett, slot=state["slots"][0]["id"],
                          space=state["spaces"][0]["id"])  # fmt: skip
        page.keyboard.press("Enter")  # "Place here" on the cell it still sees as free
        alert = page.locator("#board-alert")
        expect(alert).to_contain_text("Ett")
        page.unroute("**/facilitate?fragment=board*")
        expect(page.locator("button.place")).to_have_count(0, timeout=10_000)  # the move ended
        expect(page.locator("td.cell").first).to_contain_text("Ett")
        expect(
            page.locator("[data-topic]", has_text="Två").get_by_role("link", name=re.compile("Move"))
        ).to_be_focused()
        assert fac_act_ok(other, slug, "topic.propose", title="Tre", convener_name="Kim")  # more refreshes
        expect(page.locator("[data-tray]")).to_contain_text("Tre")
        expect(alert).to_contain_text("Ett")  # still said
        alert.get_by_role("button").click()
        expect(alert).to_have_count(0)
    assert not_reloaded(page)
    watch.problems = [p for p in watch.problems if "Failed to load resource" not in p]


def test_the_session_page_follows_its_room_capacity_and_crowd(browser: Browser, server: Server, watch: Watch) -> None:
    """A session moved to another room, a capacity changed and a room filled up: all without reload."""
    slug, link, fac = today_event(server.url)
    with closing(fac), closing(joined(server.url, slug, "Till")) as other:
        session_follows(browser, watch, server, slug, link, fac, other)


def session_follows(
    browser: Browser, watch: Watch, server: Server, slug: str, link: str, fac: httpx2.Client, other: httpx2.Client
) -> None:
    fac.get(link)
    assert fac_act_ok(fac, slug, "topic.propose", title="Flyttbart", convener_name="Ada")
    state = board(fac, slug)
    topic, slot = state["topics"][-1]["id"], state["slots"][0]["id"]
    rum1, rum2, rum3 = state["spaces"]
    assert fac_act_ok(fac, slug, "topic.place", topic=topic, slot=slot, space=rum1["id"])
    phone = context(browser, watch, PHONE).new_page()
    join(phone, server.url, slug, "Besökare")
    phone.goto(f"{server.url}/e/{slug}/sessions/{topic}")
    expect(phone.locator("#conn")).to_have_attribute("data-state", "online")
    mark_loaded(phone)
    card = phone.locator("[data-session]")
    expect(card.locator(".meta")).to_contain_text("Rum 1")
    assert fac_act_ok(fac, slug, "topic.place", topic=topic, slot=slot, space=rum2["id"])
    expect(card.locator(".meta")).to_contain_text("Rum 2")
    expect(card.locator("[data-headcount]")).to_contain_text("3 places")
    assert fac_act_ok(fac, slug, "space.update", space=rum2["id"], name="Rum 2", capacity="1")
    expect(card.locator("[data-headcount]")).to_contain_text("1 place")
    phone.get_by_role("button", name=re.compile("I'm here")).click()
    expect(card.locator(".tag")).to_contain_text("You are here")
    assert post(other, slug, "attendance.in", "session", topic=topic)
    expect(card.locator("[data-headcount]")).to_contain_text("2 here")
    expect(card.locator(".t-full")).to_contain_text("Rum 1")  # full, and the free room that fits
    assert fac_act_ok(fac, slug, "space.update", space=rum2["id"], name="Rum 2", capacity="5")
    expect(card.locator(".t-full")).to_have_count(0)
    assert not_reloaded(phone)
    same_as_fresh(phone, "session page")


def test_the_room_and_report_pages_follow_the_board(browser: Browser, server: Server, watch: Watch) -> None:
    """A room sign's page lists a session placed there meanwhile; the report page gets an
    announcement and a rename while the text typed into the report stays."""
    slug, link = new_event(server.url, "Rum och rapport", spaces=2, slots=2)
    ctx = context(browser, watch, PHONE)
    phone = ctx.new_page()
    join(phone, server.url, slug, "Skrivare")
    with httpx2.Client(base_url=server.url, follow_redirects=False) as fac:
        fac.get(link)
        state = board(fac, slug)
        space, slot = state["spaces"][1], state["slots"][1]
        assert fac_act_ok(fac, slug, "topic.propose", title="Rummets samtal", convener_name="Kim")
        topic = board(fac, slug)["topics"][-1]["id"]
        room = ctx.new_page()
        room.goto(f"{server.url}/e/{slug}/rooms/{space['id']}")
        report = ctx.new_page()
        report.goto(f"{server.url}/e/{slug}/sessions/{topic}/report")
        for page in (room, report):
            expect(page.locator("#conn")).to_have_attribute("data-state", "online")
            mark_loaded(page)
        expect(room.locator("[data-region=room]")).not_to_contain_text("Rummets samtal")
        report.fill("#r-discussion", "Vi började med")
        assert fac_act_ok(fac, slug, "topic.place", topic=topic, slot=slot["id"], space=space["id"])
        expect(room.locator("[data-region=room]")).to_contain_text("Rummets samtal")
        assert fac_act_ok(fac, slug, "announce", text="Tio minuter kvar", minutes="15")
        assert fac_act_ok(fac, slug, "topic.edit", topic=topic, title="Rummets stora samtal")
        expect(report.locator("[data-announcements]")).to_contain_text("Tio minuter kvar")
        expect(report.locator("#report-h")).to_contain_text("Rummets stora samtal")
        expect(report.locator("#r-discussion")).to_have_value("Vi började med")
        caught_up(room, server_seq(server.url, slug))
        same_as_fresh(room, "room page")
    assert not_reloaded(room) and not_reloaded(report)
