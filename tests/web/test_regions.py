"""Live regions (issue #14): a page asks its own address again with the hashes it has and gets
back only the regions that changed, cut from the very page a fresh load renders."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bench.agenda_quality import generate_event
from starlette.testclient import TestClient

from openspace.web import regions
from openspace.web.views import next_clock_change
from tests.conftest import ORIGIN, act, create_event, join, new_browser, setup_grid, state

PAGE = (
    '<body><header data-region="top"><a>Brand</a></header><!--/top-->'
    '<section data-region="list"><ul><li>a</li></ul>'
    '<form><input type="hidden" name="_action_id" value="AAA"></form>'
    '<p class="countdown" data-countdown data-until="x">Ends in 4:59</p></section><!--/list--></body>'
)


def cut_answer(html: str, have: set[str], seq: int | None) -> dict:  # type: ignore[type-arg]
    """What a page rendered as `html` sends a live page that has `have` (regions.Cut)."""
    return regions.Cut.of(html).answer(have, seq)


def ask(client: TestClient, path: str, have: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    response = client.get(path, headers={"x-regions": " ".join((have or {}).values())})
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    return response.json()  # type: ignore[no-any-return]


def test_regions_are_cut_from_the_page_with_their_outer_element() -> None:
    """Each region is its outer HTML, the closing marker left out."""
    cut = regions.regions(PAGE)
    assert list(cut) == ["top", "list"]
    assert cut["top"] == '<header data-region="top"><a>Brand</a></header>'
    assert cut["list"].startswith('<section data-region="list">') and cut["list"].endswith("</section>")


def test_a_hash_ignores_form_ids_and_the_countdowns_ticking() -> None:
    """A fresh form id or a second less on the clock is no change to send."""
    other = PAGE.replace("AAA", "BBB").replace("4:59", "4:58")
    assert regions.region_hash(regions.regions(PAGE)["list"]) == regions.region_hash(regions.regions(other)["list"])
    changed = PAGE.replace("<li>a</li>", "<li>b</li>")
    assert regions.region_hash(regions.regions(PAGE)["list"]) != regions.region_hash(regions.regions(changed)["list"])


def test_what_a_page_says_it_has_is_read_defensively() -> None:
    """No header is a page load; an empty or oversized one counts as having nothing."""
    assert regions.wanted(None) is None
    assert regions.wanted("abc  def ") == {"abc", "def"}
    assert regions.wanted("") == set()
    assert regions.wanted("x" * (regions.MAX_HEADER + 1)) == set()


def test_a_changed_item_of_an_unchanged_list_goes_alone() -> None:
    """One changed item costs that item only: the list around it is the same, and its hash
    covers its own markup, not the items' (#14: a moved topic within a phone's 2 KB)."""
    page = (
        '<ul data-region="list"><li data-region="a">one</li><!--/a--><li data-region="b">two</li><!--/b-->'
        "</ul><!--/list-->"
    )
    first = cut_answer(page, set(), 3)
    assert first["regions"]["list"] == page[: page.index("<!--/list-->")]
    assert set(first["hashes"]) == {"list", "a", "b"}
    changed = page.replace(">two<", ">TWO<")
    second = cut_answer(changed, set(first["hashes"].values()), 4)
    assert second["regions"] == {"b": '<li data-region="b">TWO</li>'}
    assert set(second["hashes"]) == {"b"} and second["outer"] == ["list"]
    now = {**first["hashes"], **second["hashes"]}
    assert cut_answer(changed, set(now.values()), 4)["regions"] == {}


def test_a_changed_list_goes_with_the_items_the_page_has_as_stubs() -> None:
    """A list that itself changed (an item more) is sent, each item the page has as a stub."""
    page = (
        '<ul data-region="list"><li data-region="a">one</li><!--/a--><li data-region="b">two</li><!--/b-->'
        "</ul><!--/list-->"
    )
    have = set(cut_answer(page, set(), 3)["hashes"].values())
    grown = page.replace("</ul>", '<li data-region="c">three</li><!--/c--></ul>').replace(">two<", ">TWO<")
    answer = cut_answer(grown, have, 4)
    assert answer["regions"] == {
        "list": '<ul data-region="list"><template data-same="a"></template><li data-region="b">TWO</li><!--/b-->'
        '<li data-region="c">three</li><!--/c--></ul>'
    }
    assert set(answer["hashes"]) == {"list", "b", "c"}


def test_only_changed_regions_come_back(client: TestClient) -> None:
    """Asked with the hashes it has, a page gets nothing until the board changes, then only what changed."""
    event = create_event(client)
    person = join(client, event, "Lisa")
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")
    first = ask(person, event.path)
    assert set(first["regions"]) == {"top", "banner", "intro", "about", "mine", "agenda", "marketplace", "propose"}
    assert set(first["regions"]) == set(first["outer"]) and set(first["regions"]) <= set(first["hashes"])
    again = ask(person, event.path, first["hashes"])
    assert again["regions"] == {} and again["seq"] == first["seq"]
    assert act(person, event, "topic.propose", title="Spel på biblioteket").status_code == 303
    after = ask(person, event.path, first["hashes"])
    assert after["seq"] > first["seq"]
    assert "marketplace" in after["regions"] and "Spel på biblioteket" in after["regions"]["marketplace"]
    assert "top" not in after["regions"] and "intro" not in after["regions"] and "about" not in after["regions"]
    assert "Spel på biblioteket" in after["regions"]["propose"]  # the nudge to ask to pitch it (#15)
    assert after["outer"] == first["outer"]


def test_a_plain_load_is_html_and_says_it_varies_by_the_header(client: TestClient) -> None:
    event = create_event(client)
    response = client.get(event.path)
    assert response.headers["content-type"].startswith("text/html")
    assert "x-regions" in response.headers["vary"]
    assert 'data-region="marketplace"' in response.text and "<!--/marketplace-->" in response.text


def test_the_session_region_follows_a_move_to_another_room(client: TestClient) -> None:
    """The session page's region is rendered anew: room and capacity follow without a reload."""
    event = create_event(client)
    spaces, slots = setup_grid(client, event, spaces=2, slots=1)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Flytt", convener_name="Kim")
    topic = state(event.facilitator, event)["topics"][-1]["id"]
    act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[0], space=spaces[0])
    path = f"{event.path}/sessions/{topic}"
    before = ask(client, path)
    assert "Rum 1" in before["regions"]["session"]
    act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[0], space=spaces[1])
    act(event.facilitator, event, "space.update", "facilitate", space=spaces[1], name="Rum 2", capacity="7")
    after = ask(client, path, before["hashes"])
    assert "Rum 2" in after["regions"]["session"]  # (the slot is over: no capacity is shown)
    act(event.facilitator, event, "topic.unplace", "facilitate", topic=topic)
    gone = client.get(path, headers={"x-regions": "{}"})
    assert gone.status_code == 404  # the page then loads what a fresh load shows


def test_the_facilitators_board_is_one_region_even_when_asked_as_a_fragment(client: TestClient) -> None:
    event = create_event(client)
    fragment = f"{event.path}/facilitate?fragment=board"
    assert "data-region" not in event.facilitator.get(fragment).text.split("\n", 3)[0]
    answer = ask(event.facilitator, fragment)
    assert set(answer["regions"]) == {"top", "board"}


def test_the_room_page_is_live_too(client: TestClient) -> None:
    event = create_event(client)
    spaces, _ = setup_grid(client, event, spaces=1, slots=1)
    page = client.get(f"{event.path}/rooms/{spaces[0]}")
    assert 'id="os-data"' in page.text and "js/page.js" in page.text
    assert set(ask(client, f"{event.path}/rooms/{spaces[0]}")["regions"]) == {"top", "room"}


def test_a_page_learns_when_the_clock_alone_will_change_it(client: TestClient) -> None:
    """The next slot boundary or expiry comes with every answer, so a live page asks again then
    instead of polling."""
    event = create_event(client)
    setup_grid(client, event, spaces=1, slots=1)
    act(event.facilitator, event, "announce", "facilitate", text="Fika", minutes="15")
    answer = ask(client, event.path)
    assert answer["clockChange"] > datetime.now(UTC).isoformat()  # the announcement's end


def test_the_next_clock_change_is_a_slots_check_in_start_or_end() -> None:
    board = generate_event(seed=1, topics=4, participants=5, slots=2)  # 09:00-10:00, 10:15-11:15
    zone = ZoneInfo(board.event.timezone)
    at = lambda hhmm: datetime.fromisoformat(f"2026-03-14T{hhmm}").replace(tzinfo=zone)  # noqa: E731
    utc = lambda hhmm: at(hhmm).astimezone(UTC).isoformat(timespec="seconds")  # noqa: E731
    assert next_clock_change(board, at("07:00")) == utc("08:45")  # check-in opens
    assert next_clock_change(board, at("08:50")) == utc("09:00")
    assert next_clock_change(board, at("09:30")) == utc("10:00")
    assert next_clock_change(board, at("10:05")) == utc("10:15")
    assert next_clock_change(board, at("12:00")) is None


def test_a_forms_answer_has_no_address_to_ask_again(client: TestClient) -> None:
    """A refusal rendered at /join has no GET twin: its page data says so, and it asks nothing."""
    event = create_event(client)
    page = client.get(f"{event.path}?x=1")
    assert page_data(page.text)["here"] == f"{event.path}?x=1"
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    refused = client.post(f"{event.path}/join", data={"csrf": token, "name": ""}, headers={"origin": ORIGIN})
    assert refused.status_code >= 400 and page_data(refused.text)["here"] is None


def page_data(html: str) -> dict:  # type: ignore[type-arg]
    found = re.search(r'<script type="application/json" id="os-data">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def test_visitors_who_have_not_joined_share_one_render(client: TestClient) -> None:
    """Their pages differ only by the CSRF token, so one render serves them all, token swapped
    (the news room here; the participant page is shared by joined people too: test_personal.py)."""
    event = create_event(client)
    news = f"{event.path}/news"
    shared = client.app.state.runtime.renderer.shared  # type: ignore[attr-defined]
    one, two = new_browser(client), new_browser(client)
    one.get(news), two.get(news)  # each gets its own CSRF cookie
    first, second = ask(one, news), ask(two, news)
    assert len(shared.entries) == 1
    # one answer for both, its forms with a stand-in token that each page replaces (regions.js)
    assert first == second and 'name="csrf"' in first["regions"]["top"]
    assert one.cookies["os_csrf"] not in str(first) and two.cookies["os_csrf"] not in str(first)
    lisa = join(client, event, "Lisa")
    ask(lisa, news)  # a joined participant shares with those who gave as many dots (test_personal.py)
    assert len(shared.entries) == 2
    ask(event.facilitator, news)  # a facilitator is rendered for themselves
    assert len(shared.entries) == 2
    act(lisa, event, "topic.propose", title="Nytt")
    assert ask(two, news)["seq"] == first["seq"] + 1  # a new seq, a new render
    assert len(shared.entries) == 3


def test_a_shared_render_lasts_until_the_clock_changes_the_page() -> None:
    shared = regions.Pages(limit=2)
    shared.put(("a",), "<p>one</p>", "2026-03-14T10:00:00+00:00")
    assert shared.get(("a",), "2026-03-14T09:59:59+00:00") == "<p>one</p>"
    assert shared.get(("a",), "2026-03-14T10:00:00+00:00") is None
    for key in ("b", "c", "d"):
        shared.put((key,), key, None)
    assert list(shared.entries) == [("c",), ("d",)] and shared.get(("d",), "") == "d"


def test_a_page_comes_with_its_regions_hashes_so_its_first_ask_gets_only_what_changed(client: TestClient) -> None:
    """The first ask after a load used to bring every region (a joined phone's page: 8.7 KB)."""
    event = create_event(client)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Spel", convener_name="Ada")
    lisa = join(client, event, "Lisa")
    spel = state(event.facilitator, event)["topics"][0]["id"]
    pages = {
        "participant": (lisa, event.path),
        "participant, not joined": (new_browser(client), event.path),
        "news": (lisa, f"{event.path}/news"),
        "projector": (client, f"{event.path}/projector"),
        "facilitator": (event.facilitator, f"{event.path}/facilitate"),
    }
    loaded = {}
    for name, (who, path) in pages.items():
        found = re.search(r'<script type="application/json" id="os-hashes">(.*?)</script>', who.get(path).text)
        assert found, name
        loaded[name] = json.loads(found.group(1))
        assert loaded[name] == ask(who, path)["hashes"], name  # what a first ask with nothing would say
    act(event.facilitator, event, "topic.edit", "facilitate", topic=spel, title="Spel och lek", description="")
    for name, (who, path) in pages.items():
        answer = ask(who, path, loaded[name])  # only what the edit changed on this page, if anything
        assert len(answer["regions"]) < len(loaded[name]) / 2, (name, list(answer["regions"]))
        if name.startswith("participant"):
            assert f"t-{spel}" in answer["regions"] and "Spel och lek" in answer["regions"][f"t-{spel}"], name
