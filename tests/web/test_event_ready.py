"""The page after /new (and after a new facilitator link) is reached by post/redirect/get (#19
point 6): reloading it shows the same links and makes no second event."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.conftest import EventHandle, csrf_of, join, new_browser


def event_count(client: TestClient) -> int:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return int(client.portal.call(runtime.store.event_count))  # type: ignore[union-attr]


def links_on(page: str) -> dict[str, str]:
    return dict(re.findall(r'id="(\w+)-link"[^>]*>(?:<code>)?(http[^<]+)<', page))


def test_reloading_the_ready_page_shows_the_same_links_and_makes_no_second_event(client: TestClient) -> None:
    laptop = new_browser(client)
    form = {"name": "Biblioteksdagen", "starts_on": "2026-05-02", "timezone": "Europe/Stockholm", "language": "en"}
    created = laptop.post("/new", data={"csrf": csrf_of(laptop, "/new"), **form})
    assert created.status_code == 303 and created.headers["location"].endswith("/ready")
    before = event_count(client)
    first, again = laptop.get(created.headers["location"]), laptop.get(created.headers["location"])
    assert first.status_code == again.status_code == 200
    assert event_count(client) == before == 1
    links = links_on(first.text)
    assert links == links_on(again.text) and set(links) == {"facilitator", "participant", "projector"}
    slug = links["participant"].split("/e/")[1]
    assert links["projector"].endswith(f"/e/{slug}/projector") and f"/e/{slug}/f/" in links["facilitator"]
    # a copy button for each link (copy.js shows them)
    assert sorted(re.findall(r'data-copy="(\w+)-link"', first.text)) == ["facilitator", "participant", "projector"]
    assert "js/copy.js" in first.text
    # the link is the facilitator's: anyone else is sent to the facilitator page (which refuses them)
    phone = join(client, EventHandle(slug=slug, facilitator_url="", facilitator=laptop))
    assert phone.get(f"/e/{slug}/ready").headers["location"] == f"/e/{slug}/facilitate"


def test_after_a_new_facilitator_link_the_old_one_is_no_longer_shown(client: TestClient) -> None:
    laptop = new_browser(client)
    form = {"name": "Dag", "starts_on": "2026-05-02", "timezone": "Europe/Stockholm", "language": "en"}
    ready = laptop.post("/new", data={"csrf": csrf_of(laptop, "/new"), **form}).headers["location"]
    old = links_on(laptop.get(ready).text)["facilitator"]
    phone = new_browser(client)
    assert phone.get(old.split("8000", 1)[1]).status_code == 303  # a second facilitator's browser
    rotated = phone.post(ready.replace("/ready", "/rotate"), data={"csrf": phone.cookies.get("os_csrf")})
    assert rotated.status_code == 303 and rotated.headers["location"].endswith("/ready?rotated=1")
    new = links_on(phone.get(rotated.headers["location"]).text)["facilitator"]
    assert new != old and "new facilitator link" in phone.get(rotated.headers["location"]).text
    # the laptop signs in again with the new link; its cookie still holds the old one, which no
    # longer works, so the page does not show it
    assert laptop.get(new.split("8000", 1)[1]).status_code == 303
    assert laptop.get(ready).headers["location"].endswith("/facilitate")
