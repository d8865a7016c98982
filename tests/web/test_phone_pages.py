"""The participant page on a phone (#15), over HTTP: where joining lands by phase, the "my
sessions" card from a person's marks and check-ins, the nudge to pitch, withdrawing that asks
first, and the dot-vote's compact list. The browser measures the rest (test_phones_browser.py)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import ORIGIN, act, create_event, csrf_of, new_browser, state
from tests.web.test_harvest_flows import placed_topic, save
from tests.web.test_personal import today


def card(html: str) -> str:
    """The "my sessions" card's text, tags stripped."""
    region = html.split('data-region="mine"')[1].split("<!--/mine-->")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", region)).strip()


@pytest.mark.parametrize(
    ("phase", "anchor"),
    [
        ("opening", "about"),
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


def undo_form(html: str) -> dict[str, str]:
    """The fields of the "Undo" form on a participant page, as the page has them."""
    form = html.split('class="notice undo"')[1].split("</form>")[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_a_withdrawal_can_be_undone_through_the_write_path_by_the_same_browser_only(client: TestClient) -> None:
    event = create_event(client)
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")
    lisa, kim = join_as(client, event, "Lisa"), join_as(client, event, "Kim")
    act(lisa, event, "topic.propose", title="Spel")
    spel = state(lisa, event)["topics"][0]["id"]
    act(kim, event, "topic.propose", title="Poddar")
    poddar = next(t["id"] for t in state(lisa, event)["topics"] if t["id"] != spel)
    act(kim, event, "topic.interest", topic=spel, on="1")
    act(lisa, event, "pitch.join", topic=spel)
    act(kim, event, "pitch.join", topic=poddar)
    withdrawn = act(lisa, event, "topic.withdraw", "edit", topic=spel, _anchor="marketplace")
    assert withdrawn.status_code == 303
    where = withdrawn.headers["location"]
    assert where.startswith(f"{event.path}?undo=") and where.endswith("#marketplace")
    assert [t["id"] for t in state(lisa, event)["topics"]] == [poddar]
    page = lisa.get(where).text
    assert "You withdrew “Spel”." in page
    fields = undo_form(page)
    assert fields["_action"] == "topic.restore" and fields["undo"] == where.split("undo=")[1].split("#")[0]
    assert "You withdrew" not in kim.get(where).text  # the seal is this browser's: another sees no undo
    stolen = kim.post(f"{event.path}/act", data={**fields, "csrf": kim.cookies["os_csrf"]}, headers={"origin": ORIGIN})
    assert stolen.status_code == 404 and "That can no longer be undone." in stolen.text
    forged = {**fields, "undo": fields["undo"][:-3] + "abc"}
    assert lisa.post(f"{event.path}/act", data=forged, headers={"origin": ORIGIN}).status_code == 404
    back = lisa.post(f"{event.path}/act", data=fields, headers={"origin": ORIGIN})
    assert back.status_code == 303 and back.headers["location"] == f"{event.path}#marketplace"
    board = state(lisa, event)
    topic = next(t for t in board["topics"] if t["id"] == spel)
    assert (topic["title"], topic["interest"], topic["convener_name"]) == ("Spel", 1, "Lisa")
    queue = sorted((t for t in board["topics"] if t["queued_seq"]), key=lambda t: t["queued_seq"])
    assert [t["id"] for t in queue] == [spel, poddar]  # its place in the pitch queue, before Kim's
    assert "You withdrew" not in lisa.get(where).text  # back: the old address offers nothing more
    assert lisa.post(f"{event.path}/act", data=fields, headers={"origin": ORIGIN}).status_code == 303
    assert len(state(lisa, event)["topics"]) == 2  # undone twice is undone once
    edit = lisa.get(f"{event.path}/topics/{spel}/edit").text
    assert 'data-action="topic.withdraw"' not in edit  # a plain post: its answer carries the undo


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
