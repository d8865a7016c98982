"""The participant page on a phone (#15), over HTTP: where joining lands by phase, the "my
sessions" card from a person's marks and check-ins, the nudge to pitch, withdrawing that asks
first, and the dot-vote's compact list. The browser measures the rest (test_phones_browser.py)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import act, create_event, csrf_of, new_browser, state
from tests.web.test_harvest_flows import placed_topic, save
from tests.web.test_personal import today


def card(html: str) -> str:
    """The "my sessions" card's text, tags stripped."""
    region = html.split('data-region="mine"')[1].split("<!--/mine-->")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", region)).strip()


@pytest.mark.parametrize(
    ("phase", "anchor"),
    [
        ("opening", "agenda"),
        ("marketplace", "propose"),
        ("closed", "agenda"),
        ("sessions", "mine"),
        ("closing", "mine"),
    ],
)
def test_joining_lands_where_the_phase_needs_the_person(client: TestClient, phase: str, anchor: str) -> None:
    event = create_event(client)
    act(event.facilitator, event, "event.phase", "facilitate", phase=phase)
    phone = new_browser(client)
    response = phone.post(f"{event.path}/join", data={"csrf": csrf_of(phone, event.path), "name": "Lisa"})
    assert response.status_code == 303 and response.headers["location"] == f"{event.path}#{anchor}"
    assert f'id="{anchor}"' in phone.get(event.path).text  # the place exists on the page they land on


def test_the_join_box_comes_before_the_opening_text(client: TestClient) -> None:
    event = create_event(client, theme="Hur når vi unga?")
    page = new_browser(client).get(event.path).text
    assert page.index('id="join"') < page.index('class="theme"') < page.index("data-opening")
    assert page.index('id="event-h"') < page.index('id="join"')  # the event's name stays the page's heading


def test_the_card_says_where_to_be_now_and_next_and_follows_marks_check_ins_and_moves(client: TestClient) -> None:
    event, spaces, slots = today(client)
    lisa = join_as(client, event, "Lisa")
    act(event.facilitator, event, "event.phase", "facilitate", phase="sessions")
    for title in ("Spel", "Poddar"):
        act(event.facilitator, event, "topic.propose", "facilitate", title=title, convener_name="Ada")
    topics = {t["title"]: t["id"] for t in state(event.facilitator, event)["topics"]}
    act(event.facilitator, event, "topic.place", "facilitate", topic=topics["Spel"], slot=slots[0], space=spaces[0])
    act(event.facilitator, event, "topic.place", "facilitate", topic=topics["Poddar"], slot=slots[0], space=spaces[1])
    assert "Nothing chosen yet" in card(lisa.get(event.path).text)
    act(lisa, event, "topic.interest", topic=topics["Spel"], on="1")
    assert "Now" in card(lisa.get(event.path).text) and "Rum 1 Spel" in card(lisa.get(event.path).text)
    act(lisa, event, "attendance.in", "session", topic=topics["Poddar"])  # the check-in wins over the mark
    now = card(lisa.get(event.path).text)
    assert "Rum 2 Poddar You are here" in now and "Spel" not in now
    swap = {"topic": topics["Poddar"], "slot": slots[0], "space": spaces[0], "swap_with": topics["Spel"]}
    assert act(event.facilitator, event, "topic.place", "facilitate", **swap).status_code == 303
    assert "Rum 1 Poddar You are here" in card(lisa.get(event.path).text)  # the move moved the card
    assert 'data-region="mine"' not in new_browser(client).get(event.path).text  # a visitor has no card


def test_before_the_day_the_card_shows_the_next_session_and_a_break_as_itself(client: TestClient) -> None:
    event = create_event(client, starts_on="2027-03-14")
    act(event.facilitator, event, "space.add", "facilitate", name="Ateljén")
    for start, end, label in (("09:00", "09:45", "Fika"), ("10:00", "10:45", "")):
        act(event.facilitator, event, "slot.add", "facilitate", day="2027-03-14", start=start, end=end, label=label)
    lisa = join_as(client, event, "Lisa")
    assert "Next · 09:00–09:45 Fika" in card(lisa.get(event.path).text)
    act(event.facilitator, event, "slot.remove", "facilitate", slot=state(client, event)["slots"][0]["id"])
    board = state(client, event)
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")
    act(lisa, event, "topic.propose", title="Mitt ämne")
    topic = state(client, event)["topics"][0]["id"]
    place = {"topic": topic, "slot": board["slots"][0]["id"], "space": board["spaces"][0]["id"]}
    assert act(event.facilitator, event, "topic.place", "facilitate", **place).status_code == 303
    assert "Next · 10:00–10:45 Ateljén Mitt ämne Your topic" in card(lisa.get(event.path).text)


def join_as(client: TestClient, event, name: str) -> TestClient:  # type: ignore[no-untyped-def]
    phone = new_browser(client)
    phone.post(f"{event.path}/join", data={"csrf": csrf_of(phone, event.path), "name": name})
    phone.cookies.set("os_lang", "en")
    return phone


def test_after_proposing_a_nudge_to_ask_to_pitch_it_until_queued(client: TestClient) -> None:
    event = create_event(client)
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")
    lisa = join_as(client, event, "Lisa")
    assert "pitch-nudge" not in lisa.get(event.path).text
    act(lisa, event, "topic.propose", title="Läsfrämjande på TikTok")
    page = lisa.get(event.path).text
    nudge = page.split('class="notice pitch-nudge"')[1].split("</div>")[0]
    assert "Läsfrämjande på TikTok" in nudge and 'value="pitch.join"' in nudge
    topic = state(lisa, event)["topics"][0]["id"]
    assert act(lisa, event, "pitch.join", topic=topic).status_code == 303
    assert "pitch-nudge" not in lisa.get(event.path).text  # asked: no more nudging


def test_withdrawing_asks_first(client: TestClient) -> None:
    event = create_event(client)
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")
    lisa = join_as(client, event, "Lisa")
    act(lisa, event, "topic.propose", title="Spel")
    topic = state(lisa, event)["topics"][0]["id"]
    page = lisa.get(f"{event.path}/topics/{topic}/edit").text
    withdraw = page.split('data-action="topic.withdraw"')[1].split("</form>")[0]
    assert re.search(r'<input type="checkbox" name="sure" value="1" required>', withdraw)


def test_the_dot_vote_is_a_compact_list_and_the_reports_stay_folded(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join_as(client, event, "Lisa")
    save(lisa, event, topic, "0", discussion="Vi vill prova AI i referensdisken.")
    before = lisa.get(f"{event.path}/news").text
    assert "report-fold" not in before and 'class="vote-list"' not in before
    act(event.facilitator, event, "voting.set", "facilitate", dots="2")
    page = lisa.get(f"{event.path}/news").text
    votes = page.split('class="vote-list"')[1].split("</ol>")[0]
    assert votes.count("<li>") == 1 and votes.count('value="vote"') == 2 and f'href="#report-{topic}"' in votes
    fold = page.split('class="report-fold"')[1].split("</details>")[0]
    assert "Vi vill prova AI" in fold  # the report is there, folded: <details> without `open`
    assert '<details class="report-fold" open' not in page
    assert f"{event.path}/news#votes" in lisa.get(event.path).text  # the participant page points to it
