"""Hybrid open space in chromium (#18): one phone in the room and one following online, the
projector showing the split count live; the call as a link and a QR code; an announcement for
online participants only; axe-core finds nothing on the new pages, in Swedish and English."""

from __future__ import annotations

import httpx2
import pytest
from playwright.sync_api import Browser, expect

from tests.server import Server
from tests.web.test_accessibility import violations
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    LAPTOP,
    PHONE,
    PROJECTOR,
    SHOTS,
    Watch,
    browser,
    context,
    fac_act,
    join,
    mark_loaded,
    not_reloaded,
    running_event,
    server,
    watch,
)

pytestmark = pytest.mark.browser
CALL = "https://meet.jit.si/openspace-test-rum-1"


def test_one_phone_here_one_online_and_the_projector_splits_the_count(
    browser: Browser, server: Server, watch: Watch
) -> None:
    slug, link, (first, _second) = running_event(server.url)
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        assert http.get(link.replace(link.split("/e/")[0], server.url)).status_code == 303
        space = http.get(f"/e/{slug}/state.json").json()["spaces"][0]["id"]
        fac_act(http, slug, "space.update", space=space, name="Rum 1", capacity="3", video_url=CALL)
    projector = context(browser, watch, PROJECTOR, audit=True).new_page()
    projector.goto(f"{server.url}/e/{slug}/projector")
    expect(projector.locator("#conn")).to_have_attribute("data-state", "online")
    expect(projector.locator(".call-qr svg")).to_be_visible()  # the call as a QR code
    mark_loaded(projector)
    here = context(browser, watch, PHONE).new_page()
    join(here, server.url, slug, "I rummet")
    here.goto(f"{server.url}/e/{slug}/sessions/{first}")
    here.get_by_role("button", name="I'm here").click()
    expect(here.locator(".tag", has_text="You are here")).to_be_visible()
    away = context(browser, watch, PHONE, audit=True).new_page()
    join(away, server.url, slug, "Hemifrån")
    away.goto(f"{server.url}/e/{slug}/sessions/{first}")
    expect(away.get_by_role("link", name="Join the call")).to_have_attribute("href", CALL)
    away.get_by_role("button", name="I'm following online").click()
    expect(away.locator(".tag", has_text="You are following online")).to_be_visible()
    cell = projector.locator("#agenda td").nth(0)
    expect(cell).to_contain_text("1 here + 1 online")
    assert not_reloaded(projector)
    assert violations(away) == []  # the session page with its online buttons
    assert violations(projector) == []
    # an announcement for those following online reaches the online phone only
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        assert http.get(link.replace(link.split("/e/")[0], server.url)).status_code == 303
        fac_act(http, slug, "announce", text="Ljudet i samtalet är tillbaka", online_only="1")
        fac_act(http, slug, "announce", text="Fika i foajén")
    away.goto(f"{server.url}/e/{slug}")
    here.goto(f"{server.url}/e/{slug}")
    expect(away.locator("[data-announcements]")).to_contain_text("Ljudet i samtalet är tillbaka")
    expect(here.locator("[data-announcements]")).to_contain_text("Fika i foajén")
    expect(here.locator("[data-announcements]")).not_to_contain_text("Ljudet")
    expect(projector.locator("[data-announcements]")).to_contain_text("Fika i foajén")
    expect(projector.locator("[data-announcements]")).not_to_contain_text("Ljudet")
    expect(away.locator("#agenda").get_by_role("link", name="Join the call")).to_be_visible()  # phone agenda
    expect(away.locator("#agenda .tag")).to_have_text("You are following online")
    expect(here.locator("#agenda .tag")).to_have_text("You are here")
    SHOTS.mkdir(exist_ok=True)
    projector.screenshot(path=str(SHOTS / "projector-hybrid.png"))
    away.screenshot(path=str(SHOTS / "participant-online-phone.png"), full_page=True)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_new_pages_have_no_violations(browser: Browser, server: Server, watch: Watch, language: str) -> None:
    """The calendar page (with a personal feed) and the webhooks page with an endpoint and a log."""
    slug, link, _ = running_event(server.url)
    laptop = context(browser, watch, LAPTOP, audit=True).new_page()
    laptop.goto(f"{server.url}/")
    laptop.get_by_role("button", name={"sv": "Svenska", "en": "English"}[language]).click()
    laptop.goto(link)
    laptop.goto(f"{server.url}/e/{slug}/webhooks")
    found = {"webhooks empty": violations(laptop)}
    # a public address literal (no lookup) and only the bell, which nobody rings here: nothing is sent
    laptop.fill("#wh-url", "https://93.184.215.14/hook")
    for box in laptop.locator("input[type=checkbox][name^=kind_]").all():
        box.set_checked(box.get_attribute("name") == "kind_bell")
    laptop.get_by_role("button", name={"sv": "Lägg till mottagare", "en": "Add endpoint"}[language]).click()
    expect(laptop.locator("[data-secret]")).to_contain_text("whsec_")
    found["webhooks with an endpoint"] = violations(laptop)
    laptop.goto(f"{server.url}/e/{slug}/calendar")
    found["calendar (facilitator)"] = violations(laptop)
    phone = context(browser, watch, PHONE, audit=True).new_page()
    phone.goto(f"{server.url}/")
    phone.get_by_role("button", name={"sv": "Svenska", "en": "English"}[language]).click()
    join(phone, server.url, slug, "Kalender")
    phone.goto(f"{server.url}/e/{slug}/calendar")
    expect(phone.locator("#mine")).to_be_visible()
    found["calendar (participant)"] = violations(phone)
    problems = {page: v for page, v in found.items() if v}
    assert not problems, problems
