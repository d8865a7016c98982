"""Proceedings and exports through HTTP and the CLI: who may download, every format parses, the
archive's names are safe, and export -> import -> export gives the same document."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import orjson
from click.testing import CliRunner
from icalendar import Calendar
from PIL import Image
from pypdf import PdfReader
from starlette.testclient import TestClient

from openspace import media
from openspace.cli import main
from openspace.domain import markup, rules
from openspace.domain.model import Board, Event, apply, kind_of
from openspace.exports import document as export_data
from openspace.exports import formats as exporting
from openspace.media import PhotoStore
from tests.conftest import EventHandle, act, create_event, join, new_browser, setup_grid, state
from tests.exports.test_export_data import descending_ids, stockholm_board
from tests.web.test_harvest_flows import jpeg_with_gps, upload

FORMATS = ["md", "html", "pdf", "sessions.csv", "actions.csv", "ics", "json", "zip"]


def harvested_event(client: TestClient) -> tuple[EventHandle, list[str]]:
    event = create_event(client, language="sv", theme="Hur når vi alla?", venue="Stenhamra")
    spaces, slots = setup_grid(client, event, spaces=2, slots=1)
    topics = []
    for n, title in enumerate(["Sociala medier", '=HYPERLINK("http://evil")']):
        act(event.facilitator, event, "topic.propose", "facilitate", title=title, convener_name="Anna Åström")
        topic = state(client, event)["topics"][-1]["id"]
        act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[0], space=spaces[n])
        topics.append(topic)
    lisa = join(client, event, "Lisa")
    act(lisa, event, "report.save", "report", topic=topics[0], base="0", discussion="Vi **pratade** om policy.")
    act(event.facilitator, event, "action.add", "facilitate", topic=topics[0], what="Skriv policyn", who="Lisa")
    upload(event.facilitator, event, topics[0], "a.jpg", jpeg_with_gps())
    return event, topics


def test_the_facilitator_downloads_every_format(client: TestClient) -> None:
    event, _ = harvested_event(client)
    for fmt in FORMATS:
        response = event.facilitator.get(f"{event.path}/export/{fmt}")
        assert response.status_code == 200, fmt
        disposition = response.headers["content-disposition"]
        assert f"{event.slug}-" in disposition and ".." not in disposition and "/" not in disposition.split("=")[-1]
    download = event.facilitator.get(f"{event.path}/export/pdf", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in download.headers  # deflated inside already: not gzipped again
    pdf = download.content
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Sociala medier" in text and "CC BY 4.0" in text
    sessions = event.facilitator.get(f"{event.path}/export/sessions.csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(sessions), delimiter=";"))  # a Swedish event: Swedish Excel's separator
    assert rows[1][0] == "Sociala medier" and rows[2][0].startswith("'=")  # formula neutralised
    calendar = Calendar.from_ical(event.facilitator.get(f"{event.path}/export/ics").content)
    assert len(calendar.walk("VEVENT")) == 2


def test_exports_are_the_facilitators_until_published(client: TestClient) -> None:
    event, _ = harvested_event(client)
    viewer = new_browser(client)
    assert viewer.get(f"{event.path}/export/pdf").status_code == 403
    assert viewer.get(f"{event.path}/proceedings").status_code == 403
    assert viewer.get(f"{event.path}/export/nonsense").status_code == 404
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    book = viewer.get(f"{event.path}/proceedings")
    assert book.status_code == 200 and "Sociala medier" in book.text
    assert (
        "script-src" not in book.headers["content-security-policy"]
        and "default-src 'none'" in book.headers["content-security-policy"]
    )
    assert viewer.get(f"{event.path}/export/json").status_code == 200


def test_my_sessions_calendar(client: TestClient) -> None:
    event, topics = harvested_event(client)
    olle = join(client, event, "Olle")
    act(olle, event, "topic.interest", topic=topics[1], on="1")
    calendar = Calendar.from_ical(olle.get(f"{event.path}/my.ics").content)
    assert [str(e["UID"]) for e in calendar.walk("VEVENT")] == [f"{topics[1]}@openspace"]
    assert new_browser(client).get(f"{event.path}/my.ics").status_code == 403


def test_the_archive_holds_everything_under_safe_names(client: TestClient) -> None:
    event, _ = harvested_event(client)
    archive = zipfile.ZipFile(io.BytesIO(event.facilitator.get(f"{event.path}/export/zip").content))
    names = archive.namelist()
    assert {
        "event.json",
        "proceedings.md",
        "proceedings.html",
        "proceedings.pdf",
        "sessions.csv",
        "actions.csv",
        "agenda.ics",
    } <= set(names)
    assert "photos/photo-1.jpg" in names
    assert all(not n.startswith("/") and ".." not in n and "\\" not in n for n in names)
    document = orjson.loads(archive.read("event.json"))
    assert document["photos"][0]["file"] == "photos/photo-1.jpg"


def test_cli_export_import_export_gives_the_same_document(client: TestClient, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    event, _ = harvested_event(client)
    runner = CliRunner()
    first, second, archive = tmp_path / "first.json", tmp_path / "second.json", tmp_path / "all.zip"
    result = runner.invoke(main, ["export", event.slug, "--format", "json", "-o", str(first), "--db", settings.db])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", event.slug, "--format", "zip", "-o", str(archive), "--db", settings.db])
    assert result.exit_code == 0 and "Writing zip" in result.output, result.output
    result = runner.invoke(main, ["import", str(archive), "--db", settings.db, "--public-url", "http://x.test"])
    assert result.exit_code == 0, result.output
    slug = next(line for line in result.output.splitlines() if line.startswith("Participant link")).rsplit("/", 1)[1]
    result = runner.invoke(main, ["export", slug, "--format", "json", "-o", str(second), "--db", settings.db])
    assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    imported = orjson.loads(second.read_bytes())
    assert imported["photos"] and imported["reports"][0]["discussion"] == "Vi **pratade** om policy."


def test_cli_refuses_a_broken_document(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something else", "version": 1}')
    result = CliRunner().invoke(main, ["import", str(bad), "--db", settings.db])
    assert result.exit_code != 0 and "schema" in result.output


def test_published_exports_leave_hidden_topics_out(client: TestClient) -> None:
    event, topics = harvested_event(client)
    act(event.facilitator, event, "topic.hide", "facilitate", topic=topics[1])
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    viewer = new_browser(client)
    for fmt in ("json", "md", "sessions.csv"):
        assert "HYPERLINK" not in viewer.get(f"{event.path}/export/{fmt}").content.decode("utf-8-sig"), fmt
    assert "HYPERLINK" in event.facilitator.get(f"{event.path}/export/json").text  # the facilitator's own copy


def test_published_archives_and_books_leave_hidden_topics_and_their_photos_out(client: TestClient) -> None:
    event, topics = harvested_event(client)
    act(event.facilitator, event, "report.save", "report", topic=topics[1], base="0", discussion="Hemligt")
    upload(event.facilitator, event, topics[1], "b.jpg", jpeg_with_gps())
    act(event.facilitator, event, "topic.hide", "facilitate", topic=topics[1])
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    viewer = new_browser(client)
    archive = zipfile.ZipFile(io.BytesIO(viewer.get(f"{event.path}/export/zip").content))
    assert [n for n in archive.namelist() if n.startswith("photos/")] == ["photos/photo-1.jpg"]
    assert (
        "Hemligt" not in archive.read("event.json").decode() and "HYPERLINK" not in archive.read("event.json").decode()
    )
    assert "Hemligt" not in viewer.get(f"{event.path}/proceedings").text


def stored_board(store: PhotoStore) -> Board:
    """The Stockholm board with every photo really stored, each of its own width."""
    board = stockholm_board()
    photos = {}
    for n, photo in enumerate(sorted(board.photos.values(), key=lambda p: p.id), start=1):
        out = io.BytesIO()
        Image.new("RGB", (100 + 10 * n, 60), "white").save(out, "PNG")
        processed = media.process(out.getvalue())
        photos[photo.id] = replace(photo, name=store.save(processed), width=processed.width)
    return replace(board, photos=photos)


def test_the_archives_photo_files_are_the_documents_photos(tmp_path: Path) -> None:
    """A merged topic's photo is not exported: the numbering of the files must skip it as well."""
    store = PhotoStore(tmp_path / "files")
    board = stored_board(store)
    archive = zipfile.ZipFile(io.BytesIO(exporting.to_bytes(board, "zip", store)))
    document = orjson.loads(archive.read("event.json"))
    files = sorted(n for n in archive.namelist() if n.startswith("photos/"))
    assert files == sorted(p["file"] for p in document["photos"]) and len(files) == 3
    for entry in document["photos"]:
        assert Image.open(io.BytesIO(archive.read(entry["file"]))).width == entry["width"], entry
    markdown = archive.read("proceedings.md").decode()
    linked = re.findall(r"\((photos/photo-\d+\.jpg)\)", markdown)
    assert linked and set(linked) <= set(files)


def test_an_import_renders_the_html_again_and_keeps_a_version_to_merge_from(tmp_path: Path) -> None:
    document = export_data.to_document(stockholm_board())
    document["reports"][0]["html"] = {"discussion": '<meta http-equiv="refresh" content="0;url=http://x.test">'}
    imported = export_data.from_document(document, descending_ids())
    entities = exporting.restore_photos(imported, {}, PhotoStore(tmp_path))
    rows: dict[str, dict[str, object]] = {}
    for entity in entities:
        rows.setdefault(kind_of(entity), {})[entity.id] = entity
    board = Board(event=Event(id="e", slug="s", **imported.event_fields), seq=1, **rows)  # type: ignore[arg-type]
    report = next(r for r in board.reports.values() if r.revision == 4)
    assert "<meta" not in report.html
    assert orjson.loads(report.html)["discussion"] == markup.render(report.discussion)
    assert board.revisions[f"{report.id}:4"].revision == 4
    facilitator = rules.Actor(facilitator=True)
    first, second = (report.discussion + "\n\nLisa.", "Olle.\n\n" + report.discussion)
    for n, text in enumerate((first, second), start=2):  # both from version 4, at the same time
        context = rules.Context(facilitator, lambda: "x", n, now="2026-03-15T10:00:00+00:00")
        board = apply(
            board, rules.decide(board, "report.save", {"topic": report.id, "base": "4", "discussion": text}, context), n
        )
    assert board.reports[report.id].discussion == "Olle.\n\n" + report.discussion + "\n\nLisa."
