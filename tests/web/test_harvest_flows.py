"""The harvest through HTTP: reports by many hands, photos, the news room, sheets, the vote."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image
from starlette.testclient import TestClient

from tests.conftest import EventHandle, act, create_event, join, new_browser, setup_grid, state


def placed_topic(client: TestClient) -> tuple[EventHandle, str]:
    event = create_event(client, language="en")
    spaces, slots = setup_grid(client, event, spaces=1, slots=1)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Biblioteken och AI", convener_name="Anna")
    topic = state(client, event)["topics"][0]["id"]
    act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[0], space=spaces[0])
    return event, topic


def save(browser: TestClient, event: EventHandle, topic: str, base: str, **texts: str):  # type: ignore[no-untyped-def]
    return act(browser, event, "report.save", "report", topic=topic, base=base, **texts)


def report_of(client: TestClient, event: EventHandle, topic: str) -> dict:  # type: ignore[type-arg]
    return next(r for r in state(client, event)["reports"] if r["id"] == topic)


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (1200, 800), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°
    exif[0x8825] = {1: "N", 2: (59.0, 20.0, 0.0), 3: "E", 4: (18.0, 4.0, 0.0)}  # GPS: Stockholm
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def upload(browser: TestClient, event: EventHandle, topic: str, name: str, data: bytes):  # type: ignore[no-untyped-def]
    token = browser.cookies.get("os_csrf")
    return browser.post(
        f"{event.path}/sessions/{topic}/photos", data={"csrf": token}, files={"photos": (name, data, "image/jpeg")}
    )


def test_two_people_write_one_report_and_their_edits_merge(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    text = "Rad ett.\n\nRad två.\n\nRad tre."
    assert save(lisa, event, topic, "0", discussion=text).status_code == 303
    assert save(lisa, event, topic, "1", discussion=text.replace("ett.", "ett, längre.")).status_code == 303
    olles = text.replace("tre.", "tre, längre.")
    assert save(olle, event, topic, "1", discussion=olles, insights="AI!").status_code == 303
    report = report_of(client, event, topic)
    assert report["discussion"] == "Rad ett, längre.\n\nRad två.\n\nRad tre, längre." and report["revision"] == 3
    assert report["insights"] == "AI!"


def test_a_real_conflict_saves_both_texts_without_a_conflict_page(client: TestClient) -> None:
    """Issue #16: the second save is no longer refused; both lines are kept, nothing is lost."""
    event, topic = placed_topic(client)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    save(lisa, event, topic, "0", discussion="Samma rad.\n")
    save(lisa, event, topic, "1", discussion="Lisas rad.\n")
    response = save(olle, event, topic, "1", discussion="Olles rad.\n")
    assert response.status_code == 303
    assert report_of(client, event, topic)["discussion"] == "Lisas rad.\nOlles rad."
    page = olle.get(f"{event.path}/sessions/{topic}/report").text
    base = re.search(r'name="base" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    assert base == "3"  # saving again now starts from the current version


def test_preview_renders_without_saving(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event)
    response = save(lisa, event, topic, "0", discussion="# Rubrik\n**fett**", _preview="1")
    assert (
        response.status_code == 200 and "<h3>Rubrik</h3>" in response.text and "<strong>fett</strong>" in response.text
    )
    assert state(client, event)["reports"] == []


def test_hostile_markdown_is_harmless_on_every_page(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event)
    payload = "<script>alert(1)</script><img src=x onerror=alert(1)> [a](javascript:alert(1)) <svg onload=alert(1)>"
    save(lisa, event, topic, "0", discussion=payload, insights=payload)
    for path in (f"{event.path}/sessions/{topic}/report", f"{event.path}/news"):
        html = lisa.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and 'href="javascript' not in html
        assert "<svg onload" not in html


def test_locked_reports_and_restoring_a_version(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event)
    save(lisa, event, topic, "0", discussion="Första")
    save(lisa, event, topic, "1", discussion="Andra")
    act(event.facilitator, event, "report.lock", "report", topic=topic, locked="1")
    assert save(lisa, event, topic, "2", discussion="Tredje").status_code == 403
    page = event.facilitator.get(f"{event.path}/sessions/{topic}/report").text
    assert "Version 1 by Lisa" in page
    act(event.facilitator, event, "report.restore", "report", topic=topic, revision="1")
    assert report_of(client, event, topic)["discussion"] == "Första"


def test_photos_lose_their_gps_and_are_served_safely(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    event, topic = placed_topic(client)
    lisa = join(client, event)
    response = upload(lisa, event, topic, "blädderblock.jpg", jpeg_with_gps())
    assert response.status_code == 303 and response.headers["location"].endswith("/report#photos")
    photo = state(client, event)["photos"][0]
    assert (photo["width"], photo["height"]) == (800, 1200)  # orientation applied
    served = lisa.get(f"{event.path}/photos/{photo['name']}")
    assert served.headers["content-type"] == "image/jpeg" and served.headers["x-content-type-options"] == "nosniff"
    assert not Image.open(io.BytesIO(served.content)).getexif()  # no EXIF, so no GPS
    assert lisa.get(f"{event.path}/photos/{photo['name']}/thumb").status_code == 200
    stored = list(Path(f"{settings.db}.files").iterdir())
    assert len(stored) == 2 and not any(p.suffix == ".jpg" and "blädderblock" in p.name for p in stored)
    other = create_event(client, name="Annat")
    assert client.get(f"{other.path}/photos/{photo['name']}").status_code == 404  # not another event's


def test_non_images_bombs_and_oversized_uploads_are_refused(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    event, topic = placed_topic(client)
    lisa = join(client, event)
    refused = upload(lisa, event, topic, "x.jpg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>")
    assert refused.status_code == 400 and "not a photo we can read" in refused.text
    big = Image.new("L", (9000, 9000))
    out = io.BytesIO()
    big.save(out, "PNG")
    bomb = upload(lisa, event, topic, "bomb.png", out.getvalue())
    assert bomb.status_code == 400 and "too many pixels" in bomb.text
    huge = upload(lisa, event, topic, "huge.jpg", b"\xff\xd8" + b"\0" * (16 * 1024 * 1024))
    assert huge.status_code in (400, 413)
    assert state(client, event)["photos"] == []
    files = Path(f"{settings.db}.files")
    assert not files.exists() or not list(files.iterdir())  # nothing left behind


def test_removing_a_photo_removes_its_files(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    event, topic = placed_topic(client)
    upload(event.facilitator, event, topic, "a.jpg", jpeg_with_gps())
    photo = state(client, event)["photos"][0]
    assert act(event.facilitator, event, "photo.remove", "report", topic=topic, photo=photo["id"]).status_code == 303
    assert not list(Path(f"{settings.db}.files").iterdir())


def test_news_room_sheets_vote_and_actions(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    assert "No reports yet" in client.get(f"{event.path}/news").text
    save(lisa, event, topic, "0", discussion="Vi vill prova AI i referensdisken.")
    assert "Vi vill prova AI i referensdisken." in client.get(f"{event.path}/news").text
    sheets = client.get(f"{event.path}/print/reports").text
    assert sheets.count('class="sign sheet"') == 1 and f"/sessions/{topic}/report" in sheets
    act(event.facilitator, event, "voting.set", "facilitate", dots="2")
    for _ in range(3):
        act(olle, event, "vote", "news", topic=topic, on="1")
    assert state(client, event)["topics"][0]["dots"] == 2
    assert "Dot-vote results" in client.get(f"{event.path}/projector").text
    act(
        event.facilitator,
        event,
        "action.add",
        "facilitate",
        topic=topic,
        what="Pilot i höst",
        who="Lisa",
        due="2026-09-01",
    )
    assert "Pilot i höst" in lisa.get(f"{event.path}/sessions/{topic}/report").text
    assert "No report yet" not in event.facilitator.get(f"{event.path}/facilitate").text


def test_deleting_the_event_deletes_its_photo_files(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    event, topic = placed_topic(client)
    upload(event.facilitator, event, topic, "a.jpg", jpeg_with_gps())
    token = event.facilitator.cookies.get("os_csrf")
    event.facilitator.post(f"{event.path}/delete", data={"csrf": token, "confirm": "Open space i biblioteket"})
    assert not list(Path(f"{settings.db}.files").iterdir())


def test_viewers_cannot_write_or_upload(client: TestClient) -> None:
    event, topic = placed_topic(client)
    viewer = new_browser(client)
    viewer.get(event.path)
    assert save(viewer, event, topic, "0", discussion="x").status_code == 403
    assert upload(viewer, event, topic, "a.jpg", jpeg_with_gps()).status_code == 403


def test_the_projector_lists_only_sessions_that_can_get_a_dot(client: TestClient) -> None:
    """A lock makes an empty report row; a session without report text cannot get a dot, so it is
    not among the results either."""
    event, topic = placed_topic(client)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Meröppna bibliotek", convener_name="Olle")
    other = next(t["id"] for t in state(client, event)["topics"] if t["id"] != topic)
    act(event.facilitator, event, "report.lock", "report", topic=other, locked="1")
    save(event.facilitator, event, topic, "0", discussion="Vi provar.")
    act(event.facilitator, event, "voting.set", "facilitate", dots="2")
    votes = client.get(f"{event.path}/projector").text.split("data-votes", 1)[1].split("</ol>", 1)[0]
    assert "Biblioteken och AI" in votes and "Meröppna bibliotek" not in votes
