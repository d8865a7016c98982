"""Attendance through HTTP and websockets: session pages, room signs, live counts, privacy, deletion."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.testclient import TestClient

from tests.conftest import ORIGIN, EventHandle, act, create_event, join, new_browser, state


def event_running_now(client: TestClient, spaces: int = 2) -> tuple[EventHandle, list[str], str]:
    """An event today with one slot running now (Stockholm time) and `spaces` rooms of 2 places."""
    now = datetime.now(ZoneInfo("Europe/Stockholm"))
    start = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0))
    end = min(now + timedelta(minutes=30), now.replace(hour=23, minute=59))
    event = create_event(client, language="en", starts_on=now.date().isoformat())
    for n in range(spaces):
        act(event.facilitator, event, "space.add", "facilitate", name=f"Rum {n + 1}", capacity="2")
    act(
        event.facilitator, event, "slot.add", "facilitate",
        day=now.date().isoformat(), start=start.strftime("%H:%M"), end=end.strftime("%H:%M"),
    )  # fmt: skip
    board = state(event.facilitator, event)
    slot = board["slots"][0]["id"]
    topics = []
    for n, space in enumerate(board["spaces"]):
        act(event.facilitator, event, "topic.propose", "facilitate", title=f"Samtal {n + 1}", convener_name="Anna")
        topic = state(event.facilitator, event)["topics"][-1]["id"]
        act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slot, space=space["id"])
        topics.append(topic)
    return event, topics, slot


def test_checking_in_from_the_session_page_and_moving(client: TestClient) -> None:
    event, (first, second), _ = event_running_now(client)
    lisa = join(client, event, "Lisa")
    page = lisa.get(f"{event.path}/sessions/{first}").text
    assert "I&#39;m here" in page or "I'm here" in page
    assert act(lisa, event, "attendance.in", "session", topic=first).status_code == 303
    assert '<p class="tag">You are here</p>' in lisa.get(f"{event.path}/sessions/{first}").text
    act(lisa, event, "attendance.in", "session", topic=second)
    topics = {t["id"]: t for t in state(client, event)["topics"]}
    assert (topics[first]["headcount"], topics[second]["headcount"], topics[first]["left"]) == (0, 1, 1)
    assert state(event.facilitator, event)["slots"][0]["moves"] == 1
    assert "1 person moved between sessions." in event.facilitator.get(f"{event.path}/facilitate").text


def test_counts_reach_the_projector_socket_and_names_do_not(client: TestClient) -> None:
    event, (first, _), _ = event_running_now(client)
    people = [join(client, event, f"Hemlig {n}") for n in range(3)]
    with client.websocket_connect(f"{event.path}/ws", headers={"origin": ORIGIN}) as ws:
        ws.receive_json()
        for person in people:
            act(person, event, "attendance.in", "session", topic=first)
        changes = [ws.receive_json() for _ in range(3)]
    # a topic the screens have arrives as its changed fields (an "update", issue #21)
    assert [c["patch"]["update"]["topics"][0]["headcount"] for c in changes] == [1, 2, 3]
    assert all("attendance" not in c["patch"].get("upsert", {}) for c in changes)
    assert all("attendance" not in c["patch"].get("update", {}) for c in changes)
    projector = client.get(f"{event.path}/projector").text
    assert "3 here" in projector and "Full: 3 people for 2 places." in projector
    assert "Hemlig" not in projector and "Hemlig" not in event.facilitator.get(f"{event.path}/facilitate").text


def test_a_full_room_suggests_a_free_room_that_fits(client: TestClient) -> None:
    event, (first, *_), _ = event_running_now(client, spaces=3)
    act(event.facilitator, event, "space.add", "facilitate", name="Stora salen", capacity="40")
    for n in range(3):
        act(join(client, event, f"P{n}"), event, "attendance.in", "session", topic=first)
    assert "Stora salen is free and fits" in event.facilitator.get(f"{event.path}/facilitate").text


def test_a_room_sign_opens_the_session_running_there_now(client: TestClient) -> None:
    event, (first, _), _ = event_running_now(client)
    space = state(client, event)["spaces"][0]["id"]
    response = client.get(f"{event.path}/rooms/{space}")
    assert response.status_code == 303 and response.headers["location"] == f"{event.path}/sessions/{first}"
    signs = client.get(f"{event.path}/print/rooms").text
    assert signs.count('class="sign"') == 2 and f"/rooms/{space}" in signs and "<svg" in signs


def test_a_room_with_nothing_on_lists_its_sessions(client: TestClient) -> None:
    event = create_event(client, language="en")
    act(event.facilitator, event, "space.add", "facilitate", name="Tomt")
    space = state(client, event)["spaces"][0]["id"]
    assert "Nothing is running in this room right now." in client.get(f"{event.path}/rooms/{space}").text


def test_checking_in_outside_the_slot_is_refused_with_a_reason(client: TestClient) -> None:
    event = create_event(client, language="en", starts_on="2030-01-01")
    act(event.facilitator, event, "space.add", "facilitate", name="Rum")
    act(event.facilitator, event, "slot.add", "facilitate", day="2030-01-01", start="10:00", end="11:00")
    act(event.facilitator, event, "topic.propose", "facilitate", title="Sen", convener_name="A")
    board = state(event.facilitator, event)
    topic = board["topics"][0]["id"]
    act(
        event.facilitator,
        event,
        "topic.place",
        "facilitate",
        topic=topic,
        slot=board["slots"][0]["id"],
        space=board["spaces"][0]["id"],
    )
    phone = join(client, event)
    response = act(phone, event, "attendance.in", "session", topic=topic)
    assert response.status_code == 400 and "while the session runs" in response.text


def test_forgetting_my_attendance(client: TestClient) -> None:
    event, (first, _), _ = event_running_now(client)
    lisa = join(client, event)
    act(lisa, event, "attendance.in", "session", topic=first)
    act(lisa, event, "attendance.erase")
    assert state(client, event)["topics"][0]["headcount"] == 0
    assert '<p class="tag">You are here</p>' not in lisa.get(f"{event.path}/sessions/{first}").text


def test_deleting_an_event_deletes_everything_and_tells_its_screens(client: TestClient) -> None:
    event, (first, _), _ = event_running_now(client)
    lisa = join(client, event)
    act(lisa, event, "attendance.in", "session", topic=first)
    token = event.facilitator.cookies.get("os_csrf")
    wrong = event.facilitator.post(f"{event.path}/delete", data={"csrf": token, "confirm": "fel namn"})
    assert wrong.status_code == 400 and state(client, event)["topics"]
    assert (
        lisa.post(f"{event.path}/delete", data={"csrf": lisa.cookies.get("os_csrf"), "confirm": "x"}).status_code == 403
    )
    with client.websocket_connect(f"{event.path}/ws", headers={"origin": ORIGIN}) as ws:
        ws.receive_json()
        done = event.facilitator.post(
            f"{event.path}/delete", data={"csrf": token, "confirm": "Open space i biblioteket"}
        )
        assert done.status_code == 200
        closed = ws.receive()
    assert closed["type"] == "websocket.close" and closed["code"] == 4004
    assert client.get(event.path).status_code == 404
    assert new_browser(client).get(f"{event.path}/state.json").status_code == 404


def test_session_pages_for_unplaced_topics_are_not_found(client: TestClient) -> None:
    event = create_event(client)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Oplacerad", convener_name="A")
    topic = state(client, event)["topics"][0]["id"]
    assert client.get(f"{event.path}/sessions/{topic}").status_code == 404
    assert re.search("404", str(client.get(f"{event.path}/sessions/nope").status_code))
