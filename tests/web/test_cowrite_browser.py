"""Reports written together, in chromium (issue #16): three phones type into one field at once,
one of them offline for a while, and every character ends up exactly once everywhere; a reload
or a closed tab loses nothing."""

from __future__ import annotations

import re
import time

import httpx2
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.server import Server
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    PHONE,
    SHOTS,
    Watch,
    browser,
    context,
    join,
    running_event,
    server,
    watch,
)

pytestmark = pytest.mark.browser
OFFLINE_SECONDS = 30  # as the issue asks: longer than a ping's timeout, so the socket is given up for dead
SHORT_OFFLINE_SECONDS = 6  # the default run's version: still several flushes and pings offline


def report_page(page: Page, base: str, slug: str, topic: str) -> None:
    page.goto(f"{base}/e/{slug}/sessions/{topic}/report")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    expect(page.locator("[data-draft]")).to_contain_text("saved")  # subscribed: the document is live


def server_text(base: str, slug: str, topic: str, field: str = "discussion") -> str:
    with httpx2.Client(base_url=base) as http:
        reports = http.get(f"/e/{slug}/state.json").json()["reports"]
    return next((r[field] for r in reports if r["id"] == topic), "")


def test_three_phones_type_into_one_field_one_offline_and_every_character_lands_once(
    browser: Browser, server: Server, watch: Watch
) -> None:
    """The issue's proof with a shorter time offline, for the default run (the 30 s one is slow)."""
    three_phones_one_offline(browser, server, watch, SHORT_OFFLINE_SECONDS)


@pytest.mark.slow
def test_three_phones_type_into_one_field_one_offline_for_30_s_and_every_character_lands_once(
    browser: Browser, server: Server, watch: Watch, request: pytest.FixtureRequest
) -> None:
    """The issue's proof as written: Kim is offline for 30 s and keeps typing. Asked for by
    `pytest -m slow` (about a minute), left out of `make test`, which runs the 6 s version."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("30 s offline: run `pytest -m slow tests/web/test_cowrite_browser.py`")
    three_phones_one_offline(browser, server, watch, OFFLINE_SECONDS)


def three_phones_one_offline(browser: Browser, server: Server, watch: Watch, offline_seconds: float) -> None:
    slug, link, (topic, _) = running_event(server.url)
    contexts = [context(browser, watch, PHONE) for _ in range(3)]
    phones = [c.new_page() for c in contexts]
    for name, phone in zip(("Eva", "Olle", "Kim"), phones, strict=True):
        join(phone, server.url, slug, name)
        report_page(phone, server.url, slug, topic)
    for phone in phones:
        phone.click("#r-discussion")
    words = {phone: [] for phone in phones}  # type: dict[Page, list[str]]
    tokens = {0: "a", 1: "b", 2: "c"}

    def type_round(n: int, who: list[int]) -> None:
        for i in who:  # interleaved: one token each, in turn
            token = f"[{tokens[i]}{n}]"
            phones[i].keyboard.type(token)
            words[phones[i]].append(token)

    for n in range(6):
        type_round(n, [0, 1, 2])
    expect(phones[0].locator("[data-presence=discussion]")).to_contain_text("is writing")
    contexts[2].set_offline(True)  # Kim's phone loses the wifi and Kim keeps typing
    expect(phones[2].locator("#conn")).to_have_attribute("data-state", re.compile("offline|connecting"))
    offline_at = time.monotonic()
    deadline = offline_at + offline_seconds
    n = 6
    while time.monotonic() < deadline and n < 400:  # bounded by count as well as by time
        type_round(n, [0, 1, 2])
        n += 1
        phones[0].wait_for_timeout(150)  # people type in bursts, not flat out: the 30 s pass by
    expect(phones[2].locator("[data-draft]")).to_contain_text("Not sent yet")
    assert n < 400  # the deadline ended the typing, not the count: offline that long, typing throughout
    contexts[2].set_offline(False)
    expected = sorted(t for tokens_typed in words.values() for t in tokens_typed)
    characters = sorted("".join(expected))
    values: list[str] = []
    for _ in range(200):  # bounded: until every screen holds every character typed anywhere
        values = [phone.locator("#r-discussion").input_value() for phone in phones]
        if all(sorted(v) == characters for v in values):
            break
        phones[0].wait_for_timeout(100)
    assert values[0] == values[1] == values[2]
    assert sorted(values[0]) == characters  # every typed character exactly once, nothing else
    assert sorted(re.findall(r"\[[abc]\d+\]", values[0])) == expected  # and each person's words whole
    for phone in phones:
        expect(phone.locator("[data-draft]")).to_contain_text("saved", timeout=20_000)
    assert server_text(server.url, slug, topic) == values[0]
    with httpx2.Client(base_url=server.url, follow_redirects=True) as http:
        http.get(link)  # the facilitator's proceedings, as exported
        book = http.get(f"/e/{slug}/export/md").text
    assert sorted(re.findall(r"\[[abc]\d+\]", book)) == expected
    phones[0].screenshot(path=str(SHOTS / "report-together-phone.png"), full_page=True)
    watch.problems = [p for p in watch.problems if "ERR_INTERNET_DISCONNECTED" not in p]


def test_text_typed_offline_then_the_tab_closed_reaches_the_server_from_the_next_visit(
    browser: Browser, server: Server, watch: Watch
) -> None:
    slug, _, (topic, _) = running_event(server.url)
    ctx = context(browser, watch, PHONE)
    phone = ctx.new_page()
    join(phone, server.url, slug, "Källar-Lisa")
    report_page(phone, server.url, slug, topic)
    ctx.set_offline(True)
    expect(phone.locator("#conn")).to_have_attribute("data-state", re.compile("offline|connecting"))
    phone.click("#r-insights")
    phone.keyboard.type("Skrivet i källaren utan nät.")
    expect(phone.locator("[data-draft]")).to_contain_text("Not sent yet")
    phone.close()  # the tab is closed before the wifi is back
    ctx.set_offline(False)
    again = ctx.new_page()
    report_page(again, server.url, slug, topic)
    expect(again.locator("#r-insights")).to_have_value("Skrivet i källaren utan nät.")
    expect(again.locator("[data-draft]")).to_contain_text("Everything you typed is saved")
    assert server_text(server.url, slug, topic, "insights") == "Skrivet i källaren utan nät."
    again.reload()  # and neither a reload nor the kept copy doubles it
    expect(again.locator("#r-insights")).to_have_value("Skrivet i källaren utan nät.")
    assert server_text(server.url, slug, topic, "insights") == "Skrivet i källaren utan nät."
    watch.problems = [p for p in watch.problems if "ERR_INTERNET_DISCONNECTED" not in p]


def test_typed_report_text_survives_an_immediate_reload_and_going_back(
    browser: Browser, server: Server, watch: Watch
) -> None:
    slug, _, (topic, _) = running_event(server.url)
    phone = context(browser, watch, PHONE).new_page()
    join(phone, server.url, slug, "Glömsk")
    report_page(phone, server.url, slug, topic)
    phone.click("#r-insights")
    phone.keyboard.type("Det här får inte försvinna")
    phone.reload()  # at once, before the typing may have been sent
    expect(phone.locator("#r-insights")).to_have_value("Det här får inte försvinna")
    phone.goto(f"{server.url}/e/{slug}")
    phone.go_back()
    expect(phone.locator("#r-insights")).to_have_value("Det här får inte försvinna")
    expect(phone.locator("[data-draft]")).to_contain_text("Everything you typed is saved")
    assert server_text(server.url, slug, topic, "insights") == "Det här får inte försvinna"
    phone.click("#r-insights")
    phone.keyboard.type(" och inte detta")
    phone.get_by_role("button", name="Save the report").click()  # waits for the server, then shows it
    expect(phone.locator(".report-text")).to_contain_text("Det här får inte försvinna och inte detta")


def test_text_typed_before_the_script_ran_is_kept(browser: Browser, server: Server, watch: Watch) -> None:
    """A slow phone: the boxes take typing before report.js has run; binding them must not wipe it."""
    slug, _, (topic, _) = running_event(server.url)
    phone = context(browser, watch, PHONE).new_page()
    join(phone, server.url, slug, "Snabb")
    held: list = []  # type: ignore[type-arg]
    phone.route(re.compile(r".*/js/report\.js$"), lambda route: held.append(route))
    phone.goto(f"{server.url}/e/{slug}/sessions/{topic}/report", wait_until="commit")
    phone.locator("#r-discussion").fill("Skrivet innan skriptet kom")
    for _ in range(100):  # bounded: the module's request arrives once the parser reaches it
        if held:
            break
        phone.wait_for_timeout(50)
    held[0].continue_()
    expect(phone.locator("[data-draft]")).to_contain_text("Everything you typed is saved")
    expect(phone.locator("#r-discussion")).to_have_value("Skrivet innan skriptet kom")
    assert server_text(server.url, slug, topic) == "Skrivet innan skriptet kom"


def test_text_typed_then_the_tab_closed_at_once_reaches_the_server(
    browser: Browser, server: Server, watch: Watch
) -> None:
    """Online, the tab closed straight after the last keystroke, before the next send is due: the
    last characters are on the phone already, and the next visit sends them."""
    slug, _, (topic, _) = running_event(server.url)
    ctx = context(browser, watch, PHONE)
    phone = ctx.new_page()
    join(phone, server.url, slug, "Bråttom")
    report_page(phone, server.url, slug, topic)
    phone.click("#r-recommendations")
    phone.keyboard.type("Stäng inte förrän")
    phone.keyboard.press("!")
    phone.close()  # at once: the last keystroke is younger than one flush
    again = ctx.new_page()
    report_page(again, server.url, slug, topic)
    expect(again.locator("#r-recommendations")).to_have_value("Stäng inte förrän!")
    expect(again.locator("[data-draft]")).to_contain_text("Everything you typed is saved")
    assert server_text(server.url, slug, topic, "recommendations") == "Stäng inte förrän!"


def test_text_typed_then_leaving_at_once_and_coming_back_loses_nothing(
    browser: Browser, server: Server, watch: Watch
) -> None:
    """Typing, then another page at once (a link, before the next send is due), then back."""
    slug, _, (topic, _) = running_event(server.url)
    phone = context(browser, watch, PHONE).new_page()
    join(phone, server.url, slug, "Vimsig")
    report_page(phone, server.url, slug, topic)
    phone.click("#r-participants")
    phone.keyboard.type("Anna, Bo, Cecilia")
    phone.goto(f"{server.url}/e/{slug}")  # away at once
    phone.go_back()
    expect(phone.locator("#r-participants")).to_have_value("Anna, Bo, Cecilia")
    expect(phone.locator("[data-draft]")).to_contain_text("Everything you typed is saved")
    assert server_text(server.url, slug, topic, "participants") == "Anna, Bo, Cecilia"
    phone.click("#r-participants")  # and the page that came back is live: typing there is sent too
    phone.keyboard.press("End")
    phone.keyboard.type(" och Dan")
    expect(phone.locator("[data-draft]")).to_contain_text("Everything you typed is saved")
    for _ in range(50):  # bounded
        if server_text(server.url, slug, topic, "participants") == "Anna, Bo, Cecilia och Dan":
            break
        phone.wait_for_timeout(100)
    assert server_text(server.url, slug, topic, "participants") == "Anna, Bo, Cecilia och Dan"
