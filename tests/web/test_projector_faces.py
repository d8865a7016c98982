"""Every projector face, measured in chromium at 1920x1080 and 1280x720 (#15).

For the demo and for a 6 x 5 event with 60-80 character Swedish titles, eight topics waiting and
two announcements: titles stay at 24 px or more on the large screen (18 px on the small one),
names at 18 px or more, every topic title shown lies inside the screen and inside every ancestor
that clips, and what does not fit on one page is on another page (the arrow keys turn them), so
every topic is shown whole at some point. Screenshots of each face and page land in screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.server import Server
from tests.web.test_accessibility import violations
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    SHOTS,
    Watch,
    browser,
    context,
    fac_act,
    new_event,
    running_event,
    server,
    watch,
)

pytestmark = pytest.mark.browser

SCREENS = [{"width": 1920, "height": 1080}, {"width": 1280, "height": 720}]
FLOOR = {1920: 24.0, 1280: 18.0}

SUBJECTS = ["Sociala medier", "Lässtimulans för unga", "Digital delaktighet", "Meröppna bibliotek",
            "Skolbibliotekets roll", "Källkritik i vardagen"]  # fmt: skip
PLACES = ["Ekerö kommun", "Stenhamra", "Botkyrka", "Norrtälje", "Sigtuna"]


def swedish_titles(count: int) -> list[str]:
    """Distinct, realistic titles of 60 to 80 characters, with long Swedish compound words."""
    titles = []
    for place in PLACES + ["Järfälla", "Upplands-Bro"]:
        for subject in SUBJECTS:
            title = f"{subject} på folkbiblioteken i {place}: erfarenheter och samarbeten"
            titles.append(title if len(title) <= 80 else f"{subject} i {place}: erfarenheter och samarbeten")
    titles = titles[:count]
    assert all(60 <= len(t) <= 80 for t in titles) and len(set(titles)) == count, titles
    return titles


MEASURE = """() => {
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const size = (el) => parseFloat(getComputedStyle(el).fontSize);
  const faces = '.proj-spotlight, .proj-votes, .proj-wall, .proj-closing, .proj-grid';
  const clipped = (el) => {
    const r = el.getBoundingClientRect();
    if (r.left < -1 || r.top < -1 || r.right > innerWidth + 1 || r.bottom > innerHeight + 1) return 'viewport';
    for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
      const b = a.getBoundingClientRect();
      if (r.left < b.left - 1 || r.top < b.top - 1 || r.right > b.right + 1 || r.bottom > b.bottom + 1)
        return a.className || a.tagName;
    }
    return '';
  };
  const titles = [...document.querySelectorAll(`:is(${faces}) :is(.t-title, .t-what, .spot-title)`)].filter(shown);
  const names = [...document.querySelectorAll(`:is(${faces}) :is(.t-conv, .spot-conv)`)].filter(shown);
  const pager = document.querySelector('[data-pager]');
  return {
    titles: titles.map((el) => ({text: el.textContent.replaceAll('\u00ad', '').trim(), size: size(el),
                                 clipped: clipped(el), hyphens: getComputedStyle(el).hyphens})),
    names: names.map((el) => ({text: el.textContent.trim(), size: size(el), clipped: clipped(el)})),
    pages: pager.hidden ? 1 : Number(pager.textContent.match(/\\d+/g)[1]),  // 'Page 1 of 3'
    lang: document.documentElement.lang,
    scroll: document.documentElement.scrollHeight - innerHeight,
  };
}"""


def pages_of(page: Page, screen: dict[str, int], name: str) -> list[dict]:  # type: ignore[type-arg]
    """Every page of the face now showing, measured and photographed; the arrow key turns them."""
    shoot(page, f"{name}-1", screen)
    found = [page.evaluate(MEASURE)]
    for number in range(1, found[0]["pages"]):
        page.keyboard.press("ArrowRight")
        expect(page.locator("[data-pager]")).to_have_text(re.compile(rf"\b{number + 1}\D+{found[0]['pages']}$"))
        shoot(page, f"{name}-{number + 1}", screen)
        found.append(page.evaluate(MEASURE))
    for number, measured in enumerate(found, start=1):
        floor = FLOOR[screen["width"]]
        assert measured["scroll"] == 0, (name, number)
        assert measured["lang"] in ("sv", "en")
        small = [t for t in measured["titles"] if t["size"] < floor - 0.01]
        assert not small, (name, screen, number, small[:3])
        assert not [t for t in measured["titles"] if t["clipped"]], (name, screen, number, measured["titles"])
        assert all(t["hyphens"] == "auto" for t in measured["titles"]), (name, number)
        assert not [n for n in measured["names"] if n["size"] < 18 - 0.01 or n["clipped"]], (name, number)
    return found


def shoot(page: Page, name: str, screen: dict[str, int]) -> None:
    page.screenshot(path=str(SHOTS / f"projector-{name}-{screen['width']}.png"))


@pytest.fixture(scope="module")
def big(server: Server) -> Iterator[tuple[str, httpx2.Client, list[str], list[str]]]:
    """A 6 x 5 Swedish event: 30 placed titles, 8 waiting (two of them in the pitch queue), two
    announcements; an HTTP client signed in as its facilitator."""
    slug, link = new_event(server.url, "Biblioteksdagen i Stockholms län", spaces=6, slots=5, language="sv")
    titles = swedish_titles(38)
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        http.get(link.replace(link.split("/e/")[0], server.url))
        state = http.get(f"/e/{slug}/state.json").json()
        cells = [(s["id"], p["id"]) for s in state["slots"] for p in state["spaces"]]
        ids = []
        for n, title in enumerate(titles):
            fac_act(http, slug, "topic.propose", title=title, convener_name="Anna-Stina Axelsson-Lindqvist")
            ids.append(http.get(f"/e/{slug}/state.json").json()["topics"][-1]["id"])
            if n < len(cells):
                fac_act(http, slug, "topic.place", topic=ids[-1], slot=cells[n][0], space=cells[n][1])
        for topic in ids[30:32]:
            fac_act(http, slug, "pitch.join", topic=topic)
        fac_act(http, slug, "announce", text="Lunch serveras klockan tolv i caféet på entréplanet", minutes="120")
        fac_act(http, slug, "announce", text="Rum 4 har flyttat till hörsalen en trappa upp", minutes="120")
        yield slug, http, titles[:30], titles[30:]


def test_a_6x5_swedish_agenda_pages_instead_of_shrinking_or_cutting(
    browser: Browser, server: Server, watch: Watch, big: tuple[str, httpx2.Client, list[str], list[str]]
) -> None:
    """Marketplace: the wall and the agenda take turns; sessions: the agenda alone; every title whole."""
    slug, http, placed, waiting = big
    for phase in ("marketplace", "sessions"):
        fac_act(http, slug, "event.phase", phase=phase)
        for screen in SCREENS:
            page = context(browser, watch, screen).new_page()
            page.goto(f"{server.url}/e/{slug}/projector")
            expect(page.locator("#conn")).to_have_attribute("data-state", "online")
            found = pages_of(page, screen, f"6x5-{phase}")
            seen = {t["text"] for measured in found for t in measured["titles"]}
            assert set(placed) <= seen, (phase, screen, set(placed) - seen)
            if phase == "marketplace":
                assert set(waiting) <= seen, (screen, set(waiting) - seen)
            page.context.close()


def add_actions(http: httpx2.Client, slug: str, state: dict) -> None:  # type: ignore[type-arg]
    """Fourteen action items with names and dates: more than one closing page holds at 1280."""
    if state["actions"]:
        return
    for n, topic in enumerate(state["topics"][:14]):
        what = f"Skicka sammanfattningen av {topic['title']} till alla"
        fac_act(http, slug, "action.add", topic=topic["id"], what=what, who="Anna-Stina Axelsson-Lindqvist",
                due=f"2026-06-{10 + n}")  # fmt: skip


@pytest.mark.parametrize("face", ["spotlight", "votes", "opening", "closing"])
def test_the_other_faces_fit_with_long_titles(
    browser: Browser,
    server: Server,
    watch: Watch,
    big: tuple[str, httpx2.Client, list[str], list[str]],
    face: str,
) -> None:
    slug, http, placed, waiting = big
    state = http.get(f"/e/{slug}/state.json").json()
    queued = next(t["id"] for t in state["topics"] if t["title"] == waiting[0])
    fac_act(http, slug, "event.phase", phase="marketplace")
    if face == "spotlight":
        fac_act(http, slug, "pitch.spotlight", topic=queued)
    elif face == "votes":
        fac_act(http, slug, "voting.set", dots="3")
    elif face == "opening":
        fac_act(http, slug, "event.phase", phase="opening")
    else:
        add_actions(http, slug, state)
        fac_act(http, slug, "event.phase", phase="closing")
    try:
        for screen in SCREENS:
            page = context(browser, watch, screen).new_page()
            page.goto(f"{server.url}/e/{slug}/projector")
            expect(page.locator("#conn")).to_have_attribute("data-state", "online")
            pages_of(page, screen, f"6x5-{face}")
            page.context.close()
    finally:
        fac_act(http, slug, "pitch.spotlight", topic="")
        fac_act(http, slug, "voting.set", dots="0")


def test_the_demo_fits_every_face(browser: Browser, server: Server, watch: Watch) -> None:
    projector = server.link("Projector")
    for screen in SCREENS:
        page = context(browser, watch, screen).new_page()
        page.goto(projector)
        expect(page.locator("#conn")).to_have_attribute("data-state", "online")
        pages_of(page, screen, "demo")
        page.context.close()


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_face_has_no_accessibility_violations(
    browser: Browser,
    server: Server,
    watch: Watch,
    big: tuple[str, httpx2.Client, list[str], list[str]],
    language: str,
) -> None:
    slug, http, placed, waiting = big
    state = http.get(f"/e/{slug}/state.json").json()
    queued = next(t["id"] for t in state["topics"] if t["title"] == waiting[0])
    page = context(browser, watch, SCREENS[0], audit=True).new_page()
    page.goto(f"{server.url}/")
    page.get_by_role("button", name={"sv": "Svenska", "en": "English"}[language]).click()
    found = {}
    steps = [("marketplace", "event.phase", {"phase": "marketplace"}),
             ("spotlight", "pitch.spotlight", {"topic": queued}),
             ("votes", "pitch.spotlight", {"topic": ""}),
             ("sessions", "voting.set", {"dots": "0"}),
             ("opening", "event.phase", {"phase": "opening"}),
             ("closing", "event.phase", {"phase": "closing"})]  # fmt: skip
    fac_act(http, slug, "event.phase", phase="marketplace")
    try:
        for name, action, args in steps:
            fac_act(http, slug, action, **args)
            if name == "votes":
                fac_act(http, slug, "voting.set", dots="3")
            if name == "sessions":
                fac_act(http, slug, "event.phase", phase="sessions")
            page.goto(f"{server.url}/e/{slug}/projector")
            expect(page.locator("#conn")).to_have_attribute("data-state", "online")
            found[name] = violations(page)
        page.goto(f"{server.url}/e/{slug}/projector?face=timer")
        expect(page.locator("[data-proj-timer]")).to_be_visible()
        found["timer"] = violations(page)
    finally:
        fac_act(http, slug, "pitch.spotlight", topic="")
        fac_act(http, slug, "voting.set", dots="0")
        fac_act(http, slug, "event.phase", phase="sessions")
    assert not {k: v for k, v in found.items() if v}, found


TIMER = """() => {
  const clock = document.querySelector('[data-timer-clock]');
  const r = clock.getBoundingClientRect();
  const sizes = [...document.querySelectorAll('body *')].filter((el) => el.getClientRects().length
    && el !== clock && el.childElementCount === 0 && el.textContent.trim())
    .map((el) => parseFloat(getComputedStyle(el).fontSize));
  return {text: clock.textContent, size: parseFloat(getComputedStyle(clock).fontSize), others: Math.max(...sizes),
          inside: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth,
          label: document.querySelector('[data-timer-label]').textContent};
}"""


def test_the_timer_face_counts_down_a_pitch_and_a_session(browser: Browser, server: Server, watch: Watch) -> None:
    """?face=timer (or the T key) shows the countdown as the largest thing on screen; a running
    bell also shows beside the pitch in the spotlight; the chime is a toggle."""
    slug, link, topics = running_event(server.url)
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        http.get(link.replace(link.split("/e/")[0], server.url))
        for screen in SCREENS:
            page = context(browser, watch, screen).new_page()
            page.goto(f"{server.url}/e/{slug}/projector?face=timer")
            expect(page.locator("#conn")).to_have_attribute("data-state", "online")
            expect(page.locator("[data-proj-timer]")).to_be_visible()
            expect(page.locator("#agenda")).to_be_hidden()
            expect(page.locator("[data-timer-clock]")).to_have_text(re.compile(r"^\d+:\d\d$"))
            found = page.evaluate(TIMER)
            assert found["label"] == "This session ends in" and found["inside"], found
            assert found["size"] >= 0.25 * screen["height"] > found["others"], found
            page.screenshot(path=str(SHOTS / f"projector-timer-{screen['width']}.png"))
            page.get_by_role("button", name="Chime at zero").click()
            expect(page.get_by_role("button", name="Chime at zero")).to_have_attribute("aria-pressed", "true")
            fac_act(http, slug, "bell.set", minutes="5")
            expect(page.locator("[data-timer-label]")).to_have_text("Countdown")
            expect(page.locator("[data-timer-clock]")).to_have_text(re.compile(r"^[45]:\d\d$"))
            page.keyboard.press("t")  # back to the board's own face
            expect(page.locator("[data-proj-timer]")).to_be_hidden()
            expect(page.locator(".proj-wall:visible, #agenda:visible")).to_have_count(1)
            fac_act(http, slug, "pitch.join", topic=topics[0])
            fac_act(http, slug, "topic.unplace", topic=topics[0])
            fac_act(http, slug, "pitch.spotlight", topic=topics[0])
            expect(page.locator("[data-spotlight]")).to_be_visible()
            expect(page.locator("[data-spot-clock]")).to_be_visible()
            expect(page.locator("[data-spot-clock]")).to_have_text(re.compile(r"^[45]:\d\d$"))
            page.screenshot(path=str(SHOTS / f"projector-spotlight-timer-{screen['width']}.png"))
            fac_act(http, slug, "pitch.spotlight", topic="")
            fac_act(http, slug, "bell.set", minutes="0")
            expect(page.locator("[data-spot-clock]")).to_be_hidden()
            page.context.close()
