"""The facilitator's "Remove" for an action item, in chromium with JavaScript (#19 point 1): forms.js
once dropped the item's argument, whose name collided with the field naming the action, and the
answer was "already removed" while the item stayed."""

from __future__ import annotations

import httpx2
import pytest
from playwright.sync_api import Browser, expect

from tests.server import Server
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    Watch,
    browser,
    fac_act,
    facilitator_page,
    new_event,
    server,
    watch,
)

pytestmark = pytest.mark.browser


def test_removing_an_action_item_through_the_live_connection(browser: Browser, server: Server, watch: Watch) -> None:
    slug, link = new_event(server.url, "Skörd", spaces=1, slots=1)
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        assert http.get(link.removeprefix(server.url)).status_code == 303
        fac_act(http, slug, "topic.propose", title="Bokcirklar", convener_name="Anna")
        board = http.get(f"/e/{slug}/state.json").json()
        topic = board["topics"][0]["id"]
        fac_act(http, slug, "topic.place", topic=topic, slot=board["slots"][0]["id"], space=board["spaces"][0]["id"])
        for what in ("Boka lokalen", "Skriv inbjudan"):
            fac_act(http, slug, "action.add", topic=topic, what=what, who="Lisa")
        fac_act(http, slug, "event.phase", phase="closing")  # the harvest is the closing's console (#15)
        page = facilitator_page(browser, watch, link)
        expect(page.locator("#conn")).to_have_attribute("data-state", "online")
        harvest = page.locator("#harvest-section")
        expect(harvest.locator("li", has_text="Boka lokalen")).to_have_count(1)
        harvest.get_by_role("button", name="Remove Boka lokalen").click()
        expect(harvest.locator("li", has_text="Boka lokalen")).to_have_count(0)
        expect(harvest.locator("li", has_text="Skriv inbjudan")).to_have_count(1)
        assert [a["what"] for a in http.get(f"/e/{slug}/state.json").json()["actions"]] == ["Skriv inbjudan"]
