"""Calendar feeds as calendar apps poll them: parsed with icalendar before and after a session
moves (new time, higher SEQUENCE, same UID), 304 on an unchanged agenda, breaks and call links,
the event's language, and a personal feed whose secret address can be revoked."""

from __future__ import annotations

import re
from pathlib import Path

import icalendar
import pytest
from starlette.testclient import TestClient

from openspace.settings import Settings
from tests.conftest import act, create_event, join, settings_on, setup_grid, state


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Every feed test on both stores (#17): SEQUENCE and revoking are kept by each."""
    return settings_on(request, tmp_path)


def vevents(body: bytes) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_a_moved_session_keeps_its_uid_with_a_new_time_and_a_higher_sequence(client: TestClient) -> None:
    """The whole-event feed before and after a move, as a subscribed calendar sees it."""
    event = create_event(client)
    spaces, slots = setup_grid(client, event)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Poddar", convener_name="Ann")
    topic = state(event.facilitator, event)["topics"][0]["id"]
    act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[0], space=spaces[0])
    first = client.get(f"{event.path}/calendar.ics")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/calendar")
    before = vevents(first.content)[f"{topic}@openspace"]
    assert before["dtstart"].dt.hour == 10 and str(before["dtstart"].dt.tzinfo) == "Europe/Stockholm"
    assert client.get(f"{event.path}/calendar.ics", headers={"if-none-match": first.headers["etag"]}).status_code == 304
    since = {"if-modified-since": first.headers["last-modified"]}
    assert client.get(f"{event.path}/calendar.ics", headers=since).status_code == 304
    act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[1], space=spaces[0])
    second = client.get(f"{event.path}/calendar.ics", headers={"if-none-match": first.headers["etag"]})
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
    after = vevents(second.content)[f"{topic}@openspace"]
    assert after["dtstart"].dt.hour == 11
    assert int(after["sequence"]) > int(before["sequence"])
    # a slot's new time changes the entry too, though no topic row changed
    act(event.facilitator, event, "slot.update", "facilitate", slot=slots[1], day="2026-03-14", start="11:15",
        end="11:50")  # fmt: skip
    third = vevents(client.get(f"{event.path}/calendar.ics").content)[f"{topic}@openspace"]
    assert (third["dtstart"].dt.hour, third["dtstart"].dt.minute) == (11, 15)
    assert int(third["sequence"]) > int(after["sequence"])


def test_breaks_call_links_and_the_events_language(client: TestClient) -> None:
    """A gap between slots is a break; a space's call is in the entry; labels are Swedish."""
    event = create_event(client)  # a Swedish event
    spaces, slots = setup_grid(client, event)  # 10:00-10:45 and 11:00-11:45
    act(event.facilitator, event, "space.update", "facilitate", space=spaces[0], name="Rum 1",
        video_url="https://meet.example.org/rum-1")  # fmt: skip
    act(event.facilitator, event, "topic.propose", "facilitate", title="Poddar", convener_name="Ann")
    topic = state(event.facilitator, event)["topics"][0]["id"]
    act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[0], space=spaces[0])
    found = vevents(client.get(f"{event.path}/calendar.ics").content)
    session = found[f"{topic}@openspace"]
    assert "Anslut till samtalet: https://meet.example.org/rum-1" in str(session["description"])
    assert str(session["conference"]) == "https://meet.example.org/rum-1"
    assert "Sammankallande: Ann" in str(session["description"])
    breaks = [e for uid, e in found.items() if uid.startswith("break-")]
    assert [str(b["summary"]) for b in breaks] == ["Paus"]
    assert (breaks[0]["dtstart"].dt.hour, breaks[0]["dtstart"].dt.minute) == (10, 45)


def test_a_personal_feed_holds_my_sessions_and_its_address_can_be_revoked(client: TestClient) -> None:
    """Marked sessions only, behind a secret address; revoking ends the old address."""
    event = create_event(client)
    spaces, slots = setup_grid(client, event)
    for title in ("Poddar", "Spel"):
        act(event.facilitator, event, "topic.propose", "facilitate", title=title, convener_name="Ann")
    topics = [t["id"] for t in state(event.facilitator, event)["topics"]]
    for n, topic in enumerate(topics):
        act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[n], space=spaces[0])
    lisa = join(client, event)
    assert act(lisa, event, "topic.interest", topic=topics[1], on="1").status_code == 303
    page = lisa.get(f"{event.path}/calendar").text
    url = re.search(r"<code data-feed>(http://[^<]+/calendar/[^<]+\.ics)</code>", page)
    assert url and "webcal://" in page and "<svg" in page
    path = "/e/" + url.group(1).split("/e/", 1)[1]
    mine = vevents(client.get(path).content)  # no cookies needed: a calendar app has none
    assert {uid for uid in mine if not uid.startswith("break-")} == {f"{topics[1]}@openspace"}
    assert client.get(f"{event.path}/calendar/{topics[0]}.nonsense.ics").status_code == 404
    token = lisa.cookies.get("os_csrf")
    assert lisa.post(f"{event.path}/calendar/revoke", data={"csrf": token}).status_code == 303
    assert client.get(path).status_code == 404
    fresh = re.search(
        r"<code data-feed>(http://[^<]+/calendar/[^<]+\.ics)</code>", lisa.get(f"{event.path}/calendar").text
    )
    assert fresh and fresh.group(1) != url.group(1)
    assert client.get("/e/" + fresh.group(1).split("/e/", 1)[1]).status_code == 200


def test_a_personal_feed_has_the_breaks_too(client: TestClient) -> None:
    """Lunch and coffee are everyone's (#18): the personal feed holds the breaks as the event's does."""
    event = create_event(client)  # a Swedish event
    spaces, slots = setup_grid(client, event)  # 10:00-10:45 and 11:00-11:45: a break at 10:45
    act(event.facilitator, event, "slot.add", "facilitate", day="2026-03-14", start="13:00", end="13:45")
    act(event.facilitator, event, "topic.propose", "facilitate", title="Poddar", convener_name="Ann")
    topic = state(event.facilitator, event)["topics"][0]["id"]
    act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[0], space=spaces[0])
    lisa = join(client, event)
    assert act(lisa, event, "topic.interest", topic=topic, on="1").status_code == 303
    url = re.search(
        r"<code data-feed>(http://[^<]+/calendar/[^<]+\.ics)</code>", lisa.get(f"{event.path}/calendar").text
    )
    assert url
    mine = vevents(client.get("/e/" + url.group(1).split("/e/", 1)[1]).content)
    whole = vevents(client.get(f"{event.path}/calendar.ics").content)
    breaks = sorted(uid for uid in mine if uid.startswith("break-"))
    assert breaks == sorted(uid for uid in whole if uid.startswith("break-")) and len(breaks) == 2
    starts = sorted((mine[uid]["dtstart"].dt.hour, mine[uid]["dtstart"].dt.minute) for uid in breaks)
    assert starts == [(10, 45), (11, 45)]  # coffee, then lunch
    assert {str(mine[uid]["summary"]) for uid in breaks} == {"Paus"}
    assert set(mine) - set(breaks) == {f"{topic}@openspace"}  # and of the sessions, only mine
