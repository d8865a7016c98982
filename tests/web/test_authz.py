"""Nobody gets a right they were not given: participant vs facilitator, and event vs event."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import (
    FACILITATOR_ACTIONS,
    ORIGIN,
    EventHandle,
    act,
    create_event,
    join,
    new_browser,
    setup_grid,
    state,
)


def args_for(event_state: dict, topic: str) -> dict[str, str]:  # type: ignore[type-arg]
    return {
        "topic": topic,
        "space": event_state["spaces"][0]["id"],
        "slot": event_state["slots"][0]["id"],
        "name": "Kapat",
        "day": "2026-03-14",
        "start": "08:00",
        "end": "08:30",
        "starts_on": "2026-03-14",
        "timezone": "Europe/Stockholm",
        "language": "en",
        "direction": "down",
    }


def participant_with_a_topic(client: TestClient) -> tuple[EventHandle, TestClient, dict]:  # type: ignore[type-arg]
    """An event with a grid, a participant who proposed a topic, and the board as it stands."""
    event = create_event(client)
    setup_grid(client, event)
    phone = join(client, event)
    act(phone, event, "topic.propose", title="Mitt ämne")
    return event, phone, state(event.facilitator, event)


@pytest.mark.parametrize("name", FACILITATOR_ACTIONS)
def test_participant_cannot_act_as_facilitator_by_form(client: TestClient, name: str) -> None:
    event, phone, before = participant_with_a_topic(client)
    response = act(phone, event, name, "facilitate", **args_for(before, before["topics"][0]["id"]))
    assert response.status_code == 403
    assert state(event.facilitator, event) == before


@pytest.mark.parametrize("name", FACILITATOR_ACTIONS)
def test_participant_cannot_act_as_facilitator_by_websocket(client: TestClient, name: str) -> None:
    event, phone, before = participant_with_a_topic(client)
    with phone.websocket_connect(f"{event.path}/ws", headers={"origin": ORIGIN}) as ws:
        ws.receive_json()
        ws.send_json(
            {"type": "action", "id": "crafted-01", "name": name, "args": args_for(before, before["topics"][0]["id"])}
        )
        answer = ws.receive_json()
    assert answer["ok"] is False and answer["error"]["code"] == "forbidden"
    assert state(event.facilitator, event) == before


def test_participant_cannot_open_facilitator_pages(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    assert phone.get(f"{event.path}/facilitate").status_code == 403
    assert phone.get(f"{event.path}/facilitate?fragment=board").status_code == 403


def test_viewers_without_a_name_cannot_change_anything(client: TestClient) -> None:
    event = create_event(client)
    viewer = new_browser(client)
    assert act(viewer, event, "topic.propose", title="x").status_code == 403
    assert state(viewer, event)["topics"] == []


def test_one_events_facilitator_cannot_touch_another_event(client: TestClient) -> None:
    a, b = create_event(client, name="A"), create_event(client, name="B")
    setup_grid(client, b)
    # A's facilitator session cookie, replayed by hand against B's address
    cookie = next(c for c in a.facilitator.cookies.jar if c.name == "os_f")
    intruder = new_browser(client)
    intruder.cookies.set("os_f", cookie.value, path=b.path)
    assert intruder.get(f"{b.path}/facilitate").status_code == 403
    before = state(b.facilitator, b)
    assert act(intruder, b, "space.add", "facilitate", name="Inbrott").status_code == 403
    assert state(b.facilitator, b) == before


def test_one_events_participant_is_a_stranger_in_another(client: TestClient) -> None:
    a, b = create_event(client, name="A"), create_event(client, name="B")
    lisa = join(client, a, "Lisa")
    cookie = next(c for c in lisa.cookies.jar if c.name == "os_p")
    stranger = new_browser(client)
    stranger.cookies.set("os_p", cookie.value, path=b.path)
    assert act(stranger, b, "topic.propose", title="x").status_code == 403


def test_ids_from_another_event_are_not_found(client: TestClient) -> None:
    a, b = create_event(client, name="A"), create_event(client, name="B")
    a_spaces, a_slots = setup_grid(client, a)
    act(b.facilitator, b, "topic.propose", "facilitate", title="B:s ämne")
    b_topic = state(b.facilitator, b)["topics"][0]["id"]
    act(a.facilitator, a, "topic.propose", "facilitate", title="A:s ämne")
    a_topic = state(a.facilitator, a)["topics"][0]["id"]
    # B's topic moved onto A's grid, A's topic edited through B, A's space renamed through B
    assert (
        act(
            a.facilitator, a, "topic.place", "facilitate", topic=b_topic, slot=a_slots[0], space=a_spaces[0]
        ).status_code
        == 404
    )
    assert act(b.facilitator, b, "topic.edit", "facilitate", topic=a_topic, title="Kapat").status_code == 404
    assert act(b.facilitator, b, "space.update", "facilitate", space=a_spaces[0], name="Kapat").status_code == 404
    assert state(a.facilitator, a)["spaces"][0]["name"] == "Rum 1"
    assert [t["title"] for t in state(a.facilitator, a)["topics"]] == ["A:s ämne"]


def test_tampered_cookies_are_ignored(client: TestClient) -> None:
    event = create_event(client)
    forger = new_browser(client)
    forger.cookies.set("os_f", "made-up-token.signature", path=event.path)
    forger.cookies.set("os_p", "made-up-token.signature", path=event.path)
    assert forger.get(f"{event.path}/facilitate").status_code == 403
    assert act(forger, event, "topic.propose", title="x").status_code == 403


def test_sockets_only_hear_their_own_event(client: TestClient) -> None:
    a, b = create_event(client, name="A"), create_event(client, name="B")
    with client.websocket_connect(f"{a.path}/ws", headers={"origin": ORIGIN}) as ws:
        assert ws.receive_json()["state"]["event"]["name"] == "A"
        act(b.facilitator, b, "space.add", "facilitate", name="Bara i B")
        act(a.facilitator, a, "space.add", "facilitate", name="Bara i A")
        change = ws.receive_json()
    assert change["patch"]["upsert"]["spaces"][0]["name"] == "Bara i A"
