"""The participant page on a phone at 360x740, measured in chromium (#15): one row of navigation
at most 56 px high that never covers a heading, where joining lands in each phase, the "my
sessions" card following a move live, the nudge to pitch, undoing a withdrawal, the
dot-vote's compact list, all by keyboard alone, and axe-core clean in Swedish and English.
Screenshots at 360x740 and 1366x768 land in screenshots/phone-*.png."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.server import Server
from tests.web.test_accessibility import violations as axe_violations
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    PHONE,
    SHOTS,
    Watch,
    browser,
    context,
    fac_act,
    mark_loaded,
    normalized,
    not_reloaded,
    running_event,
    server,
    watch,
)

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}
NAV_MAX = 56  # px, at 360x740
TAB_LIMIT = 40  # key presses to reach a control by Tab before the test gives up


@contextmanager
def facilitator(base: str, link: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=base, follow_redirects=False) as http:
        assert http.get(link.removeprefix(base)).status_code == 303  # signs in
        yield http


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until `selector` has the focus, as a keyboard-only person does (bounded)."""
    for _ in range(TAB_LIMIT):
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus by Tab")


def keyboard_join(page: Page, url: str, name: str) -> None:
    """Join with the keyboard alone: Tab to the name field, type, Enter."""
    page.goto(url)
    tab_to(page, "#f-name")
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#\w+$"))
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")


def edges(png: bytes) -> tuple[int, int]:
    """How light the navigation's first and last pixel are, 2 px from its top, above its links
    (0 black, 255 white)."""
    image = Image.open(io.BytesIO(png)).convert("L")
    return image.getpixel((0, 2)), image.getpixel((image.width - 1, 2))  # type: ignore[return-value]


def clear_of_nav(page: Page, selector: str) -> None:
    """The element is on screen and not under the navigation: below it once stuck at the top, or
    above it while the navigation is still further down the page."""
    nav = page.locator("nav.tabs").bounding_box()
    box = page.locator(selector).bounding_box()
    assert nav and box
    below, above = box["y"] >= nav["y"] + nav["height"] - 0.5, box["y"] + box["height"] <= nav["y"] + 0.5
    assert below or above, (selector, box, nav)
    assert box["y"] >= 0, (selector, box)
    assert box["y"] + box["height"] <= PHONE["height"], (selector, box)


def test_joining_lands_where_the_phase_needs_and_no_heading_hides_under_the_nav(
    browser: Browser, server: Server, watch: Watch
) -> None:
    slug, link, _ = running_event(server.url)
    url = f"{server.url}/e/{slug}"
    landings = (("marketplace", "#propose", "#propose-h"), ("sessions", "#mine", "#mine-h"),
                ("opening", "#about", "#about summary"), ("closed", "#agenda", "#agenda-h"))  # fmt: skip
    for phase, anchor, heading in landings:
        with facilitator(server.url, link) as http:
            fac_act(http, slug, "event.phase", phase=phase)
        phone = context(browser, watch, PHONE).new_page()
        keyboard_join(phone, url, f"Ny i {phase}")
        assert phone.url.endswith(anchor), phone.url
        clear_of_nav(phone, heading)
        if phase == "marketplace":
            expect(phone.locator("#propose-title")).to_be_in_viewport()
        phone.screenshot(path=str(SHOTS / f"phone-landing-{phase}.png"))
        phone.context.close()


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_nav_is_one_row_of_at_most_56_px_and_its_links_keep_headings_clear(
    browser: Browser, server: Server, watch: Watch, language: str
) -> None:
    slug, link, _ = running_event(server.url)
    with facilitator(server.url, link) as http:
        fac_act(http, slug, "event.phase", phase="sessions")
    phone = context(browser, watch, PHONE, locale={"sv": "sv-SE", "en": "en-GB"}[language]).new_page()
    phone.context.add_cookies([{"name": "os_lang", "value": language, "url": server.url}])
    keyboard_join(phone, f"{server.url}/e/{slug}", "Navigatör")
    nav = phone.locator("nav.tabs")
    box = nav.bounding_box()
    assert box and box["height"] <= NAV_MAX, box
    tops = {round(b["y"]) for b in nav.locator("a").evaluate_all("as => as.map(a => a.getBoundingClientRect())")}
    assert len(tops) == 1  # one row
    assert nav.evaluate("n => n.scrollWidth > n.clientWidth")  # five tabs do not fit 360 px: the row scrolls
    start = edges(nav.screenshot())
    nav.evaluate("n => { n.scrollLeft = n.scrollWidth }")
    end = edges(nav.screenshot())
    assert start[1] < start[0] - 20 and end[0] < end[1] - 20  # a shadow where more tabs wait, not where it ends
    nav.evaluate("n => { n.scrollLeft = 0 }")
    for anchor in ("#mine", "#agenda", "#marketplace", "#propose"):
        phone.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # from anywhere on the page
        nav.locator(f'a[href="{anchor}"]').focus()
        phone.keyboard.press("Enter")
        phone.wait_for_function("a => location.hash === a", arg=anchor)
        clear_of_nav(phone, f"{anchor} h2")
    phone.screenshot(path=str(SHOTS / f"phone-nav-{language}.png"))


def test_the_card_follows_a_move_live_on_two_phones(browser: Browser, server: Server, watch: Watch) -> None:
    slug, link, (first, second) = running_event(server.url)
    url = f"{server.url}/e/{slug}"
    with facilitator(server.url, link) as http:
        fac_act(http, slug, "event.phase", phase="sessions")
    marker = context(browser, watch, PHONE).new_page()
    keyboard_join(marker, url, "Markerar")
    marker.locator(f"#topic-{first} button", has_text="I want to go").click()
    mine = marker.locator("#mine")
    expect(mine).to_contain_text(re.compile(r"Now · [^R]*Rum 1\s+Samtal 1"))
    here = context(browser, watch, PHONE).new_page()
    keyboard_join(here, url, "Här")
    here.goto(f"{url}/sessions/{first}")
    here.get_by_role("button", name="I'm here").click()
    here.goto(url)
    expect(here.locator("#mine")).to_contain_text(re.compile(r"Rum 1\s+Samtal 1\s+You are here"))
    for phone in (marker, here):
        mark_loaded(phone)
    with facilitator(server.url, link) as http:  # the facilitator swaps the two rooms' sessions
        board = http.get(f"/e/{slug}/state.json").json()
        spaces, slot = [s["id"] for s in board["spaces"]], board["slots"][0]["id"]
        fac_act(http, slug, "topic.place", topic=first, slot=slot, space=spaces[1], swap_with=second)
    expect(mine).to_contain_text(re.compile(r"Rum 2\s+Samtal 1"))
    expect(here.locator("#mine")).to_contain_text(re.compile(r"Rum 2\s+Samtal 1\s+You are here"))
    for phone in (marker, here):
        assert not_reloaded(phone)
        live = normalized(phone, "#mine")
        fresh = phone.context.new_page()
        fresh.goto(url)
        assert normalized(fresh, "#mine") == live  # the card left open is the card loaded fresh
    marker.screenshot(path=str(SHOTS / "phone-my-sessions.png"))
    laptop = context(browser, watch, LAPTOP).new_page()
    laptop.context.add_cookies(marker.context.cookies())
    laptop.goto(f"{url}#mine")
    laptop.screenshot(path=str(SHOTS / "phone-my-sessions-1366.png"))


def test_propose_pitch_withdraw_and_undo_by_keyboard_alone(browser: Browser, server: Server, watch: Watch) -> None:
    slug, _, _ = running_event(server.url)
    url = f"{server.url}/e/{slug}"
    phone = context(browser, watch, PHONE).new_page()
    keyboard_join(phone, url, "Tangent")
    tab_to(phone, "#propose-title")
    phone.keyboard.type("Bokcirkel på distans")
    tab_to(phone, '[data-action="topic.propose"] button[type=submit]')
    phone.keyboard.press("Enter")
    nudge = phone.locator(".pitch-nudge")
    expect(nudge).to_contain_text("Bokcirkel på distans")
    phone.screenshot(path=str(SHOTS / "phone-pitch-nudge.png"))
    nudge.get_by_role("button").focus()
    phone.keyboard.press("Enter")
    expect(nudge).to_have_count(0)
    topic = phone.locator(".topic.mine")
    expect(topic).to_contain_text("Number 1 in the pitch queue")
    topic.get_by_role("link", name=re.compile("Edit")).focus()
    phone.keyboard.press("Enter")
    phone.wait_for_url(re.compile(r"/edit$"))
    tab_to(phone, "form.danger button")
    phone.keyboard.press("Enter")  # withdraw
    phone.wait_for_url(re.compile(r"\?undo=.*#marketplace$"))
    expect(phone.locator("#marketplace")).not_to_contain_text("Number 1 in the pitch queue")
    undo = phone.locator(".notice.undo")
    expect(undo).to_contain_text("You withdrew “Bokcirkel på distans”.")
    clear_of_nav(phone, "#market-h")
    phone.screenshot(path=str(SHOTS / "phone-undo.png"))
    tab_to(phone, ".notice.undo button")
    phone.keyboard.press("Enter")  # undo
    phone.wait_for_url(re.compile(rf"/e/{slug}#marketplace$"))
    expect(phone.locator(".topic.mine")).to_contain_text("Number 1 in the pitch queue")  # back, in its place
    expect(phone.locator(".notice.undo")).to_have_count(0)
    expect(phone.locator("#conn")).to_have_attribute("data-state", "online")


def test_the_dot_vote_on_a_phone_is_a_compact_list_with_the_reports_folded(
    browser: Browser, server: Server, watch: Watch
) -> None:
    slug, link, (first, second) = running_event(server.url)
    with facilitator(server.url, link) as http:
        for topic in (first, second):
            fac_act(http, slug, "report.save", topic=topic, base="0", discussion="Långt samtal. " * 80)
        fac_act(http, slug, "voting.set", dots="2")
    phone = context(browser, watch, PHONE).new_page()
    keyboard_join(phone, f"{server.url}/e/{slug}", "Röstare")
    tab_to(phone, 'a[href$="/news#votes"]')
    phone.keyboard.press("Enter")
    phone.wait_for_url(re.compile(r"/news#votes$"))
    votes = phone.locator(".vote-list li")
    expect(votes).to_have_count(2)
    box = phone.locator(".vote-list").bounding_box()
    assert box and box["y"] + box["height"] <= PHONE["height"]  # every session to vote on in the first screen
    assert phone.locator("details.report-fold[open]").count() == 0
    votes.nth(0).get_by_role("button", name=re.compile("Give a dot")).focus()
    phone.keyboard.press("Enter")
    expect(phone.locator("[data-dots-left]")).to_contain_text("1 left")
    expect(votes.nth(0)).to_contain_text("1 dot")
    phone.screenshot(path=str(SHOTS / "phone-dot-vote.png"))


def violations(page: Page) -> list[str]:
    """axe-core's findings with the page at its top: scrolled to an anchor, a link passing under the
    sticky navigation counts for axe's target-size as a target too small (it is covered, not small)."""
    page.evaluate("window.scrollTo(0, 0)")
    return axe_violations(page)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_phone_pages_have_no_axe_violations(browser: Browser, server: Server, watch: Watch, language: str) -> None:
    slug, link, _ = running_event(server.url)
    url = f"{server.url}/e/{slug}"
    found: dict[str, list[str]] = {}
    for viewport, size in ((PHONE, "360"), (LAPTOP, "1366")):
        phone = context(browser, watch, viewport, audit=True).new_page()
        phone.context.add_cookies([{"name": "os_lang", "value": language, "url": server.url}])
        phone.goto(url)
        found[f"visitor {size}"] = violations(phone)
        phone.screenshot(path=str(SHOTS / f"phone-visitor-{language}-{size}.png"))
        keyboard_join(phone, url, "Granskare")
        phone.locator('[data-action="topic.propose"] input[name=title]').fill("Granskat ämne")
        phone.locator('[data-action="topic.propose"] button[type=submit]').click()
        expect(phone.locator(".pitch-nudge")).to_be_visible()
        own = str(phone.locator(".topic.mine").first.get_attribute("id")).removeprefix("topic-")
        found[f"marketplace {size}"] = violations(phone)
        phone.screenshot(path=str(SHOTS / f"phone-marketplace-{language}-{size}.png"), full_page=size == "360")
        phone.goto(f"{url}/topics/{own}/edit")
        found[f"edit {size}"] = violations(phone)
        phone.locator("form.danger button").click()
        expect(phone.locator(".notice.undo")).to_be_visible()
        found[f"undo {size}"] = violations(phone)
        phone.locator(".notice.undo button").click()
        expect(phone.locator(".topic.mine")).to_have_count(1)
        with facilitator(server.url, link) as http:
            fac_act(http, slug, "event.phase", phase="sessions")
            fac_act(http, slug, "voting.set", dots="3")
        phone.goto(f"{url}#mine")
        expect(phone.locator("#mine")).to_be_visible()
        found[f"sessions {size}"] = violations(phone)
        phone.screenshot(path=str(SHOTS / f"phone-sessions-{language}-{size}.png"))
        phone.goto(f"{url}/news#votes")
        phone.screenshot(path=str(SHOTS / f"phone-vote-{language}-{size}.png"))
        found[f"vote {size}"] = violations(phone)
        with facilitator(server.url, link) as http:
            fac_act(http, slug, "event.phase", phase="marketplace")
            fac_act(http, slug, "voting.set", dots="0")
        phone.context.close()
    assert not any(found.values()), found
