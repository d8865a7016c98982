"""The demo on a projector, at 1920x1080 and at 1280x720 (#19 point 12): the theme question is the
largest text of the opening, the opening fits, and every topic waiting for a place is on screen
whole, not below the bottom edge. Screenshots land in screenshots/ for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from playwright.sync_api import Browser, expect

from tests.server import Server
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    SHOTS,
    Watch,
    browser,
    context,
    fac_act,
    server,
    watch,
)

pytestmark = pytest.mark.browser

SCREENS = [{"width": 1920, "height": 1080}, {"width": 1280, "height": 720}]

FRESH = """() => {
  const aside = document.querySelector('.proj-join').getBoundingClientRect();
  return [...document.querySelectorAll('[data-fresh] li')].map((li) => {
    const r = li.getBoundingClientRect();
    return {text: li.textContent.trim(), top: r.top, bottom: r.bottom, left: r.left, right: r.right,
            inside: r.left >= aside.left - 1 && r.right <= aside.right + 1 && r.bottom <= aside.bottom + 1};
  });
}"""

OPENING = """() => {
  const face = document.querySelector('.proj-opening');
  const size = (el) => parseFloat(getComputedStyle(el).fontSize);
  const leaves = [...face.querySelectorAll('*')].filter((el) => el.childElementCount === 0 && el.textContent.trim());
  const theme = face.querySelector('.theme');
  return {theme: size(theme), italic: getComputedStyle(theme).fontStyle,
          others: leaves.filter((el) => el !== theme).map(size),
          bottom: Math.max(...leaves.map((el) => el.getBoundingClientRect().bottom)), height: innerHeight};
}"""


@pytest.fixture(scope="module")
def demo(server: Server) -> Iterator[tuple[str, httpx2.Client]]:
    """The demo event, and an HTTP client signed in as its facilitator."""
    projector, link = server.link("Projector"), server.link("Facilitator link")
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        assert http.get(link.removeprefix(server.url)).status_code == 303
        yield projector, http


def test_every_waiting_topic_of_the_demo_is_on_the_projector(
    browser: Browser, server: Server, watch: Watch, demo: tuple[str, httpx2.Client]
) -> None:
    """The demo has three topics waiting; with a fourth, all four are on screen, whole."""
    projector, http = demo
    slug = projector.split("/e/")[1].split("/")[0]
    fac_act(http, slug, "topic.propose", title="Lånekort för alla barn i kommunen", convener_name="Vera")
    for screen in SCREENS:
        page = context(browser, watch, screen).new_page()
        page.goto(projector)
        expect(page.locator("[data-fresh] li")).to_have_count(4)
        page.screenshot(path=str(SHOTS / f"projector-demo-agenda-{screen['width']}.png"))
        items = page.evaluate(FRESH)
        assert [i["text"][:8] for i in items][0] == "Lånekort"  # the newest first
        assert all(i["inside"] and i["bottom"] <= screen["height"] for i in items), (screen, items)


def test_the_theme_question_is_the_largest_text_of_the_opening(
    browser: Browser, server: Server, watch: Watch, demo: tuple[str, httpx2.Client]
) -> None:
    projector, http = demo
    slug = projector.split("/e/")[1].split("/")[0]
    fac_act(http, slug, "event.phase", phase="opening")
    for screen in SCREENS:
        page = context(browser, watch, screen).new_page()
        page.goto(projector)
        expect(page.locator("[data-proj-opening]")).to_be_visible()
        page.screenshot(path=str(SHOTS / f"projector-demo-opening-{screen['width']}.png"))
        found = page.evaluate(OPENING)
        assert found["theme"] >= max(found["others"]) and found["italic"] == "normal", (screen, found)
        assert found["bottom"] <= found["height"], (screen, found)  # the whole opening is on screen
