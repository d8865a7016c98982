"""The facilitator's console and the agenda poster, in chromium (#15).

The console on a 1366 x 768 laptop: in each phase the tools of that phase lie inside the first
screen (nothing to scroll to), everything else is one fold away, a keyboard alone places a topic
and opens a fold, and a console left open follows a phase change as a fresh one would show it.
The poster: one A3 or A4 page in landscape for a 6 x 5 day with long Swedish titles and a break,
its titles at 14 pt (A3) or 10 pt (A4) and none cut. axe-core finds nothing, in both languages.
Screenshots at the four sizes land in screenshots/.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import httpx2
import pytest
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from tests.server import Server
from tests.web.test_accessibility import violations
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    SHOTS,
    Watch,
    browser,
    context,
    fac_act,
    new_event,
    server,
    watch,
)
from tests.web.test_projector_faces import swedish_titles

pytestmark = pytest.mark.browser

CONSOLE = {"width": 1366, "height": 768}
SIZES = [{"width": 360, "height": 740}, CONSOLE, {"width": 1920, "height": 1080}, {"width": 1280, "height": 720}]
# what each phase works with; every one of these must lie inside the first screen at 1366 x 768
TASKS = {
    "opening": [
        "#theme-form button[type=submit]",
        ".projector-now a",
        "#opening-section .qr",
        "#announce-form button[type=submit]",
    ],
    "marketplace": ["#queue-section", "table.fgrid", "[data-tray]", "#add-topic button", "#grid-section .printouts"],
    "closed": ["#queue-section", "table.fgrid", "[data-tray]"],
    "sessions": ["#announce-form button[type=submit]", "#run-section button[name=minutes]", "table.fgrid"],
    "closing": [
        "#harvest-section table.moves",
        "#harvest-section form[data-action='voting.set'] button",
        "#harvest-section form[data-action='proceedings.publish'] button",
        "#harvest-section .exports",
    ],
}
SETUP = ["#add-space button[type=submit]", "#add-slot button[type=submit]", "#new-slot-label"]

OUTSIDE = """(selectors) => {
  const out = [];
  for (const selector of selectors) {
    const found = [...document.querySelectorAll(selector)];
    if (!found.length) { out.push(`${selector}: missing`); continue; }
    for (const el of found) {
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height) out.push(`${selector}: not shown`);
      else if (r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5 || r.top < 0 || r.left < 0)
        out.push(`${selector}: ${[r.left, r.top, r.right, r.bottom].map(Math.round).join(',')}`);
    }
  }
  return {out, scrolled: scrollY, wide: document.documentElement.scrollWidth - innerWidth};
}"""
OPEN_FOLDS = "() => [...document.querySelectorAll('details.fold[open] h2')].map((h) => h.id).sort()"


@pytest.fixture(scope="module")
def demo(server: Server) -> Iterator[tuple[str, str, httpx2.Client]]:
    """The demo (four rooms, four slots and lunch, seven topics) with two topics in the pitch queue,
    and an HTTP client signed in as its facilitator."""
    link = server.link("Facilitator link")
    slug = link.split("/e/")[1].split("/")[0]
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        http.get(link.replace(link.split("/e/")[0], server.url))
        unplaced = [t["id"] for t in http.get(f"/e/{slug}/state.json").json()["topics"] if not t["slot_id"]]
        for topic in unplaced[:2]:
            fac_act(http, slug, "pitch.join", topic=topic)
        yield slug, link, http


def console(browser: Browser, watch: Watch, link: str, screen: dict[str, int] = CONSOLE) -> Page:
    page = context(browser, watch, screen, audit=True).new_page()
    page.goto(link)
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    return page


def fits(page: Page, selectors: list[str]) -> None:
    measured = page.evaluate(OUTSIDE, selectors)
    assert measured["scrolled"] == 0 and measured["wide"] <= 0, measured
    assert not measured["out"], measured["out"]


@pytest.mark.parametrize("phase", list(TASKS))
def test_each_phase_has_its_tools_on_the_first_laptop_screen(
    browser: Browser, server: Server, watch: Watch, demo: tuple[str, str, httpx2.Client], phase: str
) -> None:
    """At 1366 x 768 the phase's own tools need no scrolling; axe finds nothing, in either language."""
    slug, link, http = demo
    fac_act(http, slug, "event.phase", phase=phase)
    page = console(browser, watch, link)
    page.screenshot(path=str(SHOTS / f"console-{phase}-1366.png"))
    page.screenshot(path=str(SHOTS / f"console-{phase}-1366-whole.png"), full_page=True)
    fits(page, TASKS[phase])
    assert violations(page) == []
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    fits(page, TASKS[phase])
    assert violations(page) == []
    page.context.close()


def test_a_new_event_opens_on_its_setup(browser: Browser, server: Server, watch: Watch) -> None:
    """Spaces and slots side by side and open, the break's field included, on the first screen."""
    _slug, link = new_event(server.url, "Biblioteksdagen")
    page = console(browser, watch, link)
    fits(page, SETUP)
    assert page.evaluate(OPEN_FOLDS) == ["slots-h", "spaces-h"]
    page.screenshot(path=str(SHOTS / "console-setup-1366.png"))
    assert violations(page) == []
    page.context.close()


def tab_to(page: Page, selector: str, limit: int = 250) -> None:
    """Press Tab until `selector` has the focus, as a keyboard user would (bounded)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_the_keyboard_alone_places_a_topic_and_opens_a_fold(
    browser: Browser, server: Server, watch: Watch, demo: tuple[str, str, httpx2.Client]
) -> None:
    """Tab to a waiting topic's Move, Enter, Enter places it; Tab to a folded part, Enter opens it."""
    slug, link, http = demo
    fac_act(http, slug, "event.phase", phase="marketplace")
    page = console(browser, watch, link)
    tab_to(page, "[data-tray] [data-pick]")
    title = page.evaluate("document.activeElement.closest('[data-topic]').querySelector('.t-title').textContent")
    page.keyboard.press("Enter")
    expect(page.locator("button.place").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("table.fgrid")).to_contain_text(title)
    expect(page.locator("[data-tray]")).not_to_contain_text(title)
    page.evaluate("document.activeElement.blur()")
    tab_to(page, "#setup-slots summary")
    page.keyboard.press("Enter")
    expect(page.locator("#new-slot-label")).to_be_visible()
    tab_to(page, "#new-slot-start")  # the day is the event's already
    page.keyboard.type("1545")
    tab_to(page, "#new-slot-end")
    page.keyboard.type("1600")
    tab_to(page, "#new-slot-label")
    page.keyboard.type("Fika")
    page.keyboard.press("Enter")
    expect(page.locator("table.fgrid tr.break", has_text="Fika")).to_be_visible()
    page.screenshot(path=str(SHOTS / "console-keyboard-1366.png"))
    page.context.close()


def test_a_console_left_open_follows_the_phase_as_a_fresh_one_shows_it(
    browser: Browser, server: Server, watch: Watch, demo: tuple[str, str, httpx2.Client]
) -> None:
    """Another laptop switches phase: this one's open parts become that phase's, without a reload,
    while a part the facilitator opened by hand stays open until the phase changes."""
    slug, link, http = demo
    fac_act(http, slug, "event.phase", phase="marketplace")
    page = console(browser, watch, link)
    page.evaluate("window.__notReloaded = true")
    page.locator("#flow-section summary").click()
    fac_act(http, slug, "announce", text="Kaffe i foajén", minutes="5")
    expect(page.locator("#run-section")).to_contain_text("Kaffe i foajén")
    assert "flow-h" in page.evaluate(OPEN_FOLDS)  # a change within the phase keeps what they opened
    fac_act(http, slug, "event.phase", phase="sessions")
    expect(page.locator("#run-section details")).to_have_attribute("open", "")
    fresh = console(browser, watch, link)
    expect(page.locator("#queue-section details")).not_to_have_attribute("open", "")
    assert page.evaluate(OPEN_FOLDS) == fresh.evaluate(OPEN_FOLDS) == ["grid-h", "run-h"]
    assert page.evaluate("window.__notReloaded === true")
    page.context.close()
    fresh.context.close()


def test_screens_at_the_four_sizes(
    browser: Browser, server: Server, watch: Watch, demo: tuple[str, str, httpx2.Client]
) -> None:
    """The console, the phone's agenda with its lunch and the projector, at every size, to look at."""
    slug, link, http = demo
    fac_act(http, slug, "event.phase", phase="sessions")
    for screen in SIZES:
        page = console(browser, watch, link, screen)
        assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0, screen
        page.screenshot(path=str(SHOTS / f"console-sessions-{screen['width']}.png"))
        page.goto(f"{server.url}/e/{slug}#agenda")
        expect(page.locator("tr.break", has_text="Lunch").first).to_be_visible()
        page.screenshot(path=str(SHOTS / f"agenda-lunch-{screen['width']}.png"), full_page=True)
        page.goto(f"{server.url}/e/{slug}/projector")
        page.screenshot(path=str(SHOTS / f"projector-lunch-{screen['width']}.png"))
        page.context.close()
    page = console(browser, watch, link)
    for printout in ("rooms", "reports"):
        page.goto(f"{server.url}/e/{slug}/print/{printout}")
        expect(page.locator(".breaks").first).to_contain_text(re.compile(r"Lunch,? 12:15–13:15"))
        page.screenshot(path=str(SHOTS / f"print-{printout}-lunch.png"))
    page.context.close()


# --- the poster ----------------------------------------------------------------------------------

PAPER = {"a3": (420, 297, 10, 14), "a4": (297, 210, 8, 10)}  # landscape mm, margin mm, title pt
MM = 96 / 25.4  # CSS px per mm
POSTER_FIT = """() => {
  const poster = document.querySelector('.poster');
  const cells = [...poster.querySelectorAll('td, th')];
  return {
    height: poster.getBoundingClientRect().height,
    width: poster.scrollWidth,
    titles: [...poster.querySelectorAll('.t-title')].map((t) => parseFloat(getComputedStyle(t).fontSize)),
    names: [...poster.querySelectorAll('.t-conv')].map((t) => parseFloat(getComputedStyle(t).fontSize)),
    cut: cells.filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => c.textContent.slice(0, 40)),
    breaks: [...poster.querySelectorAll('tr.break')].map((r) => r.textContent.trim()),
    qr: !!poster.querySelector('.poster-qr svg'),
  };
}"""


@pytest.fixture(scope="module")
def day(server: Server) -> Iterator[tuple[str, list[str], str]]:
    """Six rooms, five slots and a coffee break, 30 sessions with 60–80 character Swedish titles."""
    slug, link = new_event(server.url, "Biblioteksdagen i Stockholms län", spaces=6, slots=5, language="sv")
    titles = swedish_titles(30)
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        http.get(link.replace(link.split("/e/")[0], server.url))
        fac_act(http, slug, "slot.add", day="2026-06-01", start="11:50", end="12:00", label="Fika")
        state = http.get(f"/e/{slug}/state.json").json()
        cells = [(s["id"], p["id"]) for s in state["slots"] if not s["label"] for p in state["spaces"]]
        for title, (slot, space) in zip(titles, cells, strict=True):
            fac_act(http, slug, "topic.propose", title=title, convener_name="Anna-Stina Axelsson-Lindqvist")
            topic = http.get(f"/e/{slug}/state.json").json()["topics"][-1]["id"]
            fac_act(http, slug, "topic.place", topic=topic, slot=slot, space=space)
        for title in swedish_titles(38)[30:]:  # eight waiting, two of them in the pitch queue
            fac_act(http, slug, "topic.propose", title=title, convener_name="Kristina")
        for topic in [t["id"] for t in http.get(f"/e/{slug}/state.json").json()["topics"]][-2:]:
            fac_act(http, slug, "pitch.join", topic=topic)
    yield slug, titles, link


@pytest.mark.parametrize("size", ["a3", "a4"])
def test_the_poster_is_one_page_with_readable_titles(
    browser: Browser, server: Server, watch: Watch, day: tuple[str, list[str], str], size: str
) -> None:
    """Printed, the 6 x 5 day and its break fit one landscape page of the size chosen, titles at
    14 pt on A3 and 10 pt on A4, no cell cut; the PDF has one page of that paper."""
    slug, titles, _link = day
    width, height, margin, title_pt = PAPER[size]
    inner = {"width": round((width - 2 * margin) * MM), "height": round((height - 2 * margin) * MM)}
    page = context(browser, watch, inner, audit=True).new_page()
    page.goto(f"{server.url}/e/{slug}/print/poster?size={size}")
    assert violations(page) == []
    page.emulate_media(media="print")
    measured = page.evaluate(POSTER_FIT)
    assert measured["height"] <= inner["height"] and measured["width"] <= inner["width"] + 1, measured
    assert len(measured["titles"]) == len(titles) and min(measured["titles"]) >= title_pt * 96 / 72 - 0.01
    assert min(measured["names"]) >= (title_pt - 3) * 96 / 72 - 0.01
    assert not measured["cut"] and measured["qr"], measured
    assert measured["breaks"] and "Fika" in measured["breaks"][0]
    page.screenshot(path=str(SHOTS / f"poster-{size}.png"))
    pdf = PdfReader(io.BytesIO(page.pdf(prefer_css_page_size=True, print_background=True)))
    assert len(pdf.pages) == 1
    box = pdf.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (width, height)
    page.context.close()


def test_a_big_day_keeps_the_marketplace_on_one_screen(
    browser: Browser, server: Server, watch: Watch, day: tuple[str, list[str], str]
) -> None:
    """6 x 5 with long titles, eight waiting: the queue, the tray, the paper form and the grid's box
    stay on the first screen; the grid scrolls inside its box, its heading row kept in view."""
    _slug, titles, link = day
    page = console(browser, watch, link)
    fits(page, ["#queue-section", ".grid-scroll", "[data-tray]", "#add-topic button", "table.fgrid thead th"])
    box = page.locator(".grid-scroll")
    assert box.evaluate("(el) => el.scrollHeight > el.clientHeight")
    last = page.locator("table.fgrid .t-title", has_text=titles[-1])
    last.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "console-big-day-1366.png"))
    assert page.evaluate("scrollY") == 0  # the box scrolled, not the page
    fits(page, ["table.fgrid thead th"])
    expect(last).to_be_in_viewport()
    page.context.close()


def test_a_phone_left_open_is_shown_the_proceedings_once_published(
    browser: Browser, server: Server, watch: Watch, demo: tuple[str, str, httpx2.Client]
) -> None:
    """The facilitator publishes; an open phone gets "Read the proceedings" at its top, unreloaded,
    and the page it leads to links every download."""
    slug, _link, http = demo
    phone = context(browser, watch, SIZES[0], audit=True).new_page()
    phone.goto(f"{server.url}/e/{slug}")
    expect(phone.locator("#conn")).to_have_attribute("data-state", "online")
    phone.evaluate("window.__notReloaded = true")
    read = phone.locator(".published a")
    expect(read).to_have_count(0)
    fac_act(http, slug, "proceedings.publish", published="1")
    try:
        expect(read).to_be_visible()
        assert phone.evaluate("window.__notReloaded === true")
        phone.screenshot(path=str(SHOTS / "participant-published-360.png"))
        read.click()
        downloads = phone.locator(".downloads a")
        expect(downloads).to_have_count(7)
        hrefs = [downloads.nth(n).get_attribute("href") for n in range(7)]
        for fmt in ("pdf", "zip", "sessions.csv", "actions.csv", "ics"):
            assert f"/e/{slug}/export/{fmt}" in hrefs, fmt
        phone.screenshot(path=str(SHOTS / "proceedings-published-360.png"))
        assert violations(phone) == []
    finally:
        fac_act(http, slug, "proceedings.publish", published="")
    phone.context.close()
