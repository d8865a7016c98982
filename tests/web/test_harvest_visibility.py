"""The harvest through HTTP after its open notes were fixed: hidden topics' harvest stays private
on every path (state, page data, sockets, photo URLs), the facilitator's report page of a hidden
topic, clashes that keep everyone's words (saved, since issue #16), uploads, the dot-vote's rounds,
and report sheets."""

from __future__ import annotations

import html
import io
import re

from PIL import Image
from starlette.testclient import TestClient

from tests.conftest import EventHandle, act, create_event, join, new_browser, setup_grid, state
from tests.live.test_ws import connect, page_data
from tests.web.test_harvest_flows import jpeg_with_gps, placed_topic, report_of, save, upload


def harvested_hidden(client: TestClient) -> tuple[EventHandle, str, TestClient, dict]:  # type: ignore[type-arg]
    """A session with a report, a photo and an action item, then hidden by the facilitator."""
    event, topic = placed_topic(client)
    lisa = join(client, event, "Lisa")
    save(lisa, event, topic, "0", discussion="Hemligt samtal om lönerna")
    upload(lisa, event, topic, "a.jpg", jpeg_with_gps())
    act(event.facilitator, event, "action.add", "facilitate", topic=topic, what="Hemlig åtgärd")
    photo = state(client, event)["photos"][0]
    act(event.facilitator, event, "topic.hide", "facilitate", topic=topic)
    return event, topic, lisa, photo


def textarea(page: str, field: str) -> str:
    found = re.search(rf'<textarea id="r-{field}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, field
    return html.unescape(found.group(1))


# --- note 16: hidden topics' harvest ------------------------------------------------------------


def test_a_hidden_topics_harvest_is_in_no_public_state_or_page(client: TestClient) -> None:
    event, topic, lisa, photo = harvested_hidden(client)
    public = state(lisa, event)
    assert (public["reports"], public["photos"], public["actions"]) == ([], [], [])
    for browser, path in ((lisa, event.path), (lisa, f"{event.path}/news"), (client, f"{event.path}/projector")):
        data = page_data(browser, path)["state"]
        assert (data["reports"], data["photos"], data["actions"]) == ([], [], []), path
        assert "Hemlig" not in browser.get(path).text, path
    facilitator = state(event.facilitator, event)
    assert len(facilitator["reports"]) == len(facilitator["photos"]) == len(facilitator["actions"]) == 1


def test_a_hidden_topics_photos_are_served_only_to_the_facilitator(client: TestClient) -> None:
    event, topic, lisa, photo = harvested_hidden(client)
    for suffix in ("", "/thumb"):
        assert lisa.get(f"{event.path}/photos/{photo['name']}{suffix}").status_code == 404
        assert new_browser(client).get(f"{event.path}/photos/{photo['name']}{suffix}").status_code == 404
        served = event.facilitator.get(f"{event.path}/photos/{photo['name']}{suffix}")
        assert served.status_code == 200 and served.headers["cache-control"].startswith("private")
    act(event.facilitator, event, "topic.hide", "facilitate", topic=topic, show="1")
    assert lisa.get(f"{event.path}/photos/{photo['name']}").status_code == 200  # shown again


def test_a_public_socket_gets_nothing_of_a_hidden_topics_harvest(client: TestClient) -> None:
    event, topic, lisa, photo = harvested_hidden(client)
    data = page_data(lisa, event.path)
    with connect(lisa, event, f"?since={data['seq']}&epoch={data['epoch']}") as ws:
        act(event.facilitator, event, "report.save", "report", topic=topic, base="1", discussion="Ännu hemligare")
        act(event.facilitator, event, "action.add", "facilitate", topic=topic, what="Hemligt igen")
        frames = [ws.receive_json(), ws.receive_json()]
    assert [f["kind"] for f in frames] == ["report.saved", "action.added"]
    assert all(not {"reports", "actions"} & set(f["patch"].get("upsert", {})) for f in frames)
    assert "hemlig" not in str(frames).lower()
    with connect(lisa, event) as ws:  # and the snapshot of a new connection
        snapshot = ws.receive_json()
    assert snapshot["type"] == "snapshot" and snapshot["state"]["reports"] == []


# --- note 17: the facilitator's report page of a hidden topic -----------------------------------


def test_the_facilitator_reads_locks_and_restores_the_report_of_a_hidden_topic(client: TestClient) -> None:
    event, topic, lisa, photo = harvested_hidden(client)
    assert lisa.get(f"{event.path}/sessions/{topic}/report").status_code == 404
    page = event.facilitator.get(f"{event.path}/sessions/{topic}/report")
    assert page.status_code == 200 and "Hemligt samtal om lönerna" in page.text
    assert "This topic is hidden: only the facilitator sees this report." in page.text
    assert "Version 1 by Lisa" in page.text and f"/photos/{photo['name']}/thumb" in page.text
    assert page_data(event.facilitator, f"{event.path}/sessions/{topic}/report")["audience"] == "facilitator"
    assert save(event.facilitator, event, topic, "1", discussion="Ändrat").status_code == 303
    assert act(event.facilitator, event, "report.lock", "report", topic=topic, locked="1").status_code == 303
    assert act(event.facilitator, event, "report.restore", "report", topic=topic, revision="1").status_code == 303
    report = report_of(event.facilitator, event, topic)
    assert (report["discussion"], report["locked"], report["revision"]) == ("Hemligt samtal om lönerna", True, 3)


# --- note 18: a clash keeps everyone's words ----------------------------------------------------


def test_a_clash_is_saved_with_both_lines_and_every_other_edit_merged(client: TestClient) -> None:
    """The reproduction from the notes, with the CRLF line ends every browser sends: Lisa's edit
    of the first line of the insights survives Olle's clash in the discussion, and since issue #16
    the clash itself is saved with both lines (no conflict page, nothing refused)."""
    event, topic = placed_topic(client)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    insights = "Rad ett.\nRad två.\nRad tre."
    save(lisa, event, topic, "0", discussion="Samma rad.", insights=insights)
    save(lisa, event, topic, "1", discussion="Lisas rad.", insights=insights.replace("ett.", "ett, av Lisa."))
    olles = insights.replace("tre.", "tre, av Olle.").replace("\n", "\r\n")
    saved = save(olle, event, topic, "1", discussion="Olles rad.", insights=olles)
    assert saved.status_code == 303
    report = report_of(client, event, topic)
    assert report["insights"] == "Rad ett, av Lisa.\nRad två.\nRad tre, av Olle."  # Lisa's edit survived
    assert report["discussion"] == "Lisas rad.\nOlles rad."
    page = olle.get(f"{event.path}/sessions/{topic}/report").text
    assert textarea(page, "discussion") == "Lisas rad.\nOlles rad." and "Both texts" not in page


# --- note 20: uploads ---------------------------------------------------------------------------


def padded_jpeg(size: int) -> bytes:
    """A small photo followed by padding: a file of `size` bytes that decodes quickly."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(out, "JPEG")
    return out.getvalue() + b"\0" * (size - len(out.getvalue()))


def test_five_ordinary_phone_photos_go_up_together(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event)
    files = [("photos", (f"{n}.jpg", padded_jpeg(4 * 1024 * 1024), "image/jpeg")) for n in range(5)]
    response = lisa.post(
        f"{event.path}/sessions/{topic}/photos", data={"csrf": lisa.cookies.get("os_csrf")}, files=files
    )
    assert response.status_code == 303, response.text
    assert len(state(client, event)["photos"]) == 5


def test_six_photos_are_refused_on_the_report_page_with_a_message(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event)
    files = [("photos", (f"{n}.jpg", jpeg_with_gps(), "image/jpeg")) for n in range(6)]
    response = lisa.post(
        f"{event.path}/sessions/{topic}/photos", data={"csrf": lisa.cookies.get("os_csrf")}, files=files
    )
    assert response.status_code == 400 and "Send at most 5 photos at a time." in response.text
    assert 'id="report-h"' in response.text and state(client, event)["photos"] == []


def test_the_file_picker_knows_the_limits(client: TestClient) -> None:
    event, topic = placed_topic(client)
    page = join(client, event).get(f"{event.path}/sessions/{topic}/report").text
    assert 'data-max-files="5"' in page and f'data-max-bytes="{15 * 1024 * 1024}"' in page
    assert "Send at most 5 photos at a time." in page and "At most 5 photos at a time, 15 MB each." in page


# --- notes 21 and 23: the dot-vote --------------------------------------------------------------


def test_dots_left_never_shows_a_negative_number(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event)
    save(lisa, event, topic, "0", discussion="Något")
    act(event.facilitator, event, "voting.set", "facilitate", dots="3")
    for _ in range(3):
        act(lisa, event, "vote", "news", topic=topic, on="1")
    act(event.facilitator, event, "voting.set", "facilitate", dots="1")
    page = lisa.get(f"{event.path}/news").text
    assert "you have 0 left" in page and "you have -2 left" not in page


def test_the_facilitator_starts_a_new_round(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event)
    save(lisa, event, topic, "0", discussion="Något")
    act(event.facilitator, event, "voting.set", "facilitate", dots="2")
    assert "Start a new round" not in event.facilitator.get(f"{event.path}/facilitate").text  # no dot yet
    act(lisa, event, "vote", "news", topic=topic, on="1")
    act(lisa, event, "vote", "news", topic=topic, on="1")
    assert "Start a new round" in event.facilitator.get(f"{event.path}/facilitate").text
    assert act(lisa, event, "voting.set", "facilitate", dots="2", new_round="1").status_code == 403
    act(event.facilitator, event, "voting.set", "facilitate", dots="2", new_round="1")
    assert state(client, event)["topics"][0]["dots"] == 0
    assert "you have 2 left" in lisa.get(f"{event.path}/news").text
    act(lisa, event, "vote", "news", topic=topic, on="1")
    assert state(client, event)["topics"][0]["dots"] == 1
    act(event.facilitator, event, "voting.set", "facilitate", dots="0")
    closed = event.facilitator.get(f"{event.path}/facilitate").text
    assert "New round: take back the dots given so far" in closed


# --- notes 24, 25 and 26: photos ----------------------------------------------------------------


def test_whoever_added_a_photo_can_remove_it_and_only_they(client: TestClient) -> None:
    event, topic = placed_topic(client)  # the facilitator typed it in: nobody convenes it
    nils, olle = join(client, event, "Nils"), join(client, event, "Olle")
    upload(nils, event, topic, "misstag.jpg", jpeg_with_gps())
    photo = state(client, event)["photos"][0]
    remove = f'name="photo" value="{photo["id"]}"'
    assert remove in nils.get(f"{event.path}/sessions/{topic}/report").text
    assert remove not in olle.get(f"{event.path}/sessions/{topic}/report").text
    assert act(olle, event, "photo.remove", "report", topic=topic, photo=photo["id"]).status_code == 403
    assert act(nils, event, "photo.remove", "report", topic=topic, photo=photo["id"]).status_code == 303
    assert state(client, event)["photos"] == []


def test_visitors_who_have_not_joined_see_the_photos_too(client: TestClient) -> None:
    event, topic = placed_topic(client)
    upload(event.facilitator, event, topic, "a.jpg", jpeg_with_gps())
    photo = state(client, event)["photos"][0]
    page = new_browser(client).get(f"{event.path}/sessions/{topic}/report").text
    assert f"/photos/{photo['name']}/thumb" in page and "Flip-chart photos" in page
    assert 'enctype="multipart/form-data"' not in page and "Join with your name first" in page


def test_a_photo_address_with_any_other_ending_is_not_found(client: TestClient) -> None:
    event, topic = placed_topic(client)
    upload(event.facilitator, event, topic, "a.jpg", jpeg_with_gps())
    name = state(client, event)["photos"][0]["name"]
    assert client.get(f"{event.path}/photos/{name}/thumb").status_code == 200
    for ending in ("full", "x", "thumb.jpg", "original"):
        assert client.get(f"{event.path}/photos/{name}/{ending}").status_code == 404, ending


# --- notes 29 and 31 ----------------------------------------------------------------------------


def test_report_sheets_name_the_day(client: TestClient) -> None:
    event = create_event(client, language="en", starts_on="2026-03-14", ends_on="2026-03-15")
    spaces, slots = setup_grid(client, event, spaces=1, slots=1)
    act(event.facilitator, event, "slot.add", "facilitate", day="2026-03-15", start="10:00", end="10:45")
    slots = [s["id"] for s in state(event.facilitator, event)["slots"]]
    for n, slot in enumerate(slots):
        act(event.facilitator, event, "topic.propose", "facilitate", title=f"Ämne {n}", convener_name="Anna")
        topic = state(client, event)["topics"][-1]["id"]
        act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slot, space=spaces[0])
    sheets = client.get(f"{event.path}/print/reports").text
    assert "Saturday 14 March, 10:00–10:45" in sheets and "Sunday 15 March, 10:00–10:45" in sheets


def test_my_calendar_is_not_cached(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event)
    act(lisa, event, "topic.interest", topic=topic, on="1")
    response = lisa.get(f"{event.path}/my.ics")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
