"""Uploads a hostile person cannot abuse: pixel bounds, photo quotas, unlinkable tags (issue #21)."""

from __future__ import annotations

import io
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image
from starlette.testclient import TestClient

from openspace import media
from openspace.domain import harvest
from openspace.media import PhotoError, process
from openspace.settings import Settings
from openspace.web import harvest as web_harvest
from tests.conftest import EventHandle, join, settings_on, state
from tests.test_media import png_claiming
from tests.web.test_harvest_flows import placed_topic, upload


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The quotas on both stores: on PostgreSQL the photos' bytes are in the database (#17)."""
    return settings_on(request, tmp_path)


def stored_files(settings: Settings) -> int:
    """How many photo files the store holds, in the folder or in PostgreSQL's table."""
    if settings.database_url:
        with closing(psycopg.connect(settings.database_url)) as db:
            return int(db.execute("SELECT count(DISTINCT key) FROM files").fetchone()[0])  # type: ignore[index]
    folder = Path(f"{settings.db}.files")
    return len(list(folder.iterdir())) if folder.exists() else 0


def small_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), "white").save(out, "JPEG")
    return out.getvalue()


def photos_of(client: TestClient, event: EventHandle) -> list[str]:
    return [p["id"] for p in state(client, event)["photos"]]


@pytest.mark.parametrize("size", [(1, 39_999_999), (39_999_999, 1), (media.MAX_SIDE + 1, 2)])
def test_a_picture_too_long_on_one_side_is_refused_from_its_header(size: tuple[int, int]) -> None:
    """Case 8: 1 x 39,999,999 pixels passed the total and peaked at 1.5 GB."""
    with pytest.raises(PhotoError) as caught:
        process(png_claiming(*size))
    assert caught.value.message == media.TOO_LONG_SIDE


def test_one_person_has_a_photo_quota(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 8: no quota per person meant 30 noise photos per session, for every session."""
    monkeypatch.setattr(harvest, "MAX_PERSON_PHOTOS", 2)
    event, topic = placed_topic(client)
    lisa, bo = join(client, event, "Lisa"), join(client, event, "Bo")
    assert [upload(lisa, event, topic, "a.jpg", small_jpeg()).status_code for _ in range(3)] == [303, 303, 400]
    assert upload(bo, event, topic, "b.jpg", small_jpeg()).status_code == 303
    assert len(photos_of(client, event)) == 3


def test_an_event_has_a_photo_quota(client: TestClient, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Case 8: 500 topics x 30 photos was about 37 GB. The refused photo leaves no bytes behind."""
    monkeypatch.setattr(harvest, "MAX_EVENT_PHOTOS", 2)
    event, topic = placed_topic(client)
    people = [join(client, event, f"P{n}") for n in range(3)]
    codes = [upload(p, event, topic, "a.jpg", small_jpeg()).status_code for p in people]
    assert codes == [303, 303, 400]
    assert stored_files(settings) == 2 * 2  # each accepted photo and its thumbnail


def test_a_full_session_refuses_an_upload_before_reading_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The abuse bench: posts of 48 MB to a full session were each parsed (and decoded) before the refusal."""
    monkeypatch.setattr(harvest, "MAX_PHOTOS", 1)
    event, topic = placed_topic(client)
    lisa = join(client, event, "Lisa")
    assert upload(lisa, event, topic, "a.jpg", small_jpeg()).status_code == 303
    read: list[object] = []
    original = web_harvest.store_uploads

    async def reading(*args: Any) -> None:
        read.append(args)
        await original(*args)

    monkeypatch.setattr(web_harvest, "store_uploads", reading)
    refused = upload(lisa, event, topic, "b.jpg", small_jpeg())
    assert refused.status_code == 400 and read == []
    assert len(photos_of(client, event)) == 1


def test_a_photos_tag_cannot_be_linked_to_its_uploader_from_public_data(client: TestClient) -> None:
    """Case 14: the tag was sha256(random | participant id), and convener ids are public."""
    event, topic = placed_topic(client)
    lisa = join(client, event, "Lisa")
    from tests.conftest import act

    act(lisa, event, "topic.propose", title="Mitt ämne")  # makes Lisa's id public as a convener
    lisa_id = next(t["convener_id"] for t in state(client, event)["topics"] if t["title"] == "Mitt ämne")
    assert upload(lisa, event, topic, "a.jpg", small_jpeg()).status_code == 303
    (photo_id,) = photos_of(client, event)
    random_part, _, tag = photo_id.partition(".")
    assert tag and tag != harvest.legacy_tag(random_part, lisa_id)
    assert tag != harvest.uploader_tag(random_part, f"unkeyed|{lisa_id}")
    removed = act(lisa, event, "photo.remove", "report", topic=topic, photo=photo_id)  # she still may
    assert removed.status_code == 303 and photos_of(client, event) == []


def test_a_static_path_with_nul_is_not_found(client: TestClient) -> None:
    """Case 15: /static/<v>/js/live.js%00.png answered 500 and logged two tracebacks."""
    page = client.get("/").text
    version = page.split("/static/")[1].split("/")[0]
    assert client.get(f"/static/{version}/js/live.js%00.png").status_code == 404


def test_an_upload_is_bounded_in_bytes_even_without_a_length_and_never_spooled_to_disk(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """Uploads are read into memory (a few at a time, limits.Slots), so the bound must hold for a
    chunked body that says no Content-Length; and nothing of an upload goes to a temporary file:
    spooled to disk, eight loops of 48 MB posts made every commit's fsync wait (abuse bench)."""
    event, topic = placed_topic(client)
    lisa = join(client, event, "Lisa")
    spooled: list[object] = []
    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", lambda self: spooled.append(self))
    assert upload(lisa, event, topic, "a.jpg", small_jpeg() + b"\0" * 2_000_000).status_code == 303
    assert spooled == [] and len(photos_of(client, event)) == 1

    monkeypatch.setattr(web_harvest, "UPLOAD_LIMIT", 100_000)
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{lisa.cookies.get("os_csrf")}\r\n'
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="big.jpg"\r\n\r\n'

    def body() -> Any:
        yield head.encode()
        for _ in range(20):  # 200 KB, in pieces, with no length said
            yield b"\xff" * 10_000

    refused = lisa.post(
        f"{event.path}/sessions/{topic}/photos",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert refused.status_code == 400 and "too large" in refused.text
    assert len(photos_of(client, event)) == 1 and stored_files(settings) == 2


def test_a_post_that_is_not_a_multipart_form_asks_for_a_photo(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event, "Lisa")
    sent = lisa.post(f"{event.path}/sessions/{topic}/photos", data={"csrf": lisa.cookies.get("os_csrf")})
    assert sent.status_code == 400 and "Choose a photo first." in sent.text


def test_the_photos_of_one_upload_are_one_change_and_fit_or_are_refused_together(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """Five photos used to be five changes, each a frame to every screen: the abuse bench's upload
    loop put 30 extra changes through the fan-out in a few seconds (honest p99 x2.6)."""
    monkeypatch.setattr(harvest, "MAX_PHOTOS", 4)
    event, topic = placed_topic(client)
    lisa = join(client, event, "Lisa")
    before = state(client, event)["seq"]
    three = [("photos", (f"{n}.jpg", small_jpeg(), "image/jpeg")) for n in range(3)]
    token = {"csrf": lisa.cookies.get("os_csrf")}
    assert lisa.post(f"{event.path}/sessions/{topic}/photos", data=token, files=three).status_code == 303
    after = state(client, event)
    assert after["seq"] == before + 1 and len(after["photos"]) == 3
    refused = lisa.post(f"{event.path}/sessions/{topic}/photos", data=token, files=three[:2])
    assert refused.status_code == 400 and "at most 4 photos" in refused.text
    assert len(photos_of(client, event)) == 3 and stored_files(settings) == 3 * 2
