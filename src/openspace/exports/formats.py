"""Exports and imports as files: the I/O edge around export_data.py, export_agenda.py and the proceedings.

Every format is written to a file, never built whole in memory: the proceedings stream photo by
photo, and the ZIP copies each stored photo in from the photo store. The web layer runs these in a worker
thread and streams the file; the CLI writes it where it is told, with progress.
"""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from openspace import i18n, media
from openspace.domain import markup
from openspace.domain.errors import N_
from openspace.domain.harvest import FIELDS
from openspace.domain.model import Board, Revision
from openspace.exports import agenda as export_agenda
from openspace.exports import document as export_data
from openspace.exports import html as proceedings_html
from openspace.exports import markdown as proceedings_markdown
from openspace.exports import proceedings
from openspace.media import PhotoStore

FORMATS: dict[str, tuple[str, str]] = {
    # format: (file name, content type)
    "md": ("proceedings.md", "text/markdown; charset=utf-8"),
    "html": ("proceedings.html", "text/html; charset=utf-8"),
    "pdf": ("proceedings.pdf", "application/pdf"),
    "sessions.csv": ("sessions.csv", "text/csv; charset=utf-8"),
    "actions.csv": ("actions.csv", "text/csv; charset=utf-8"),
    "ics": ("agenda.ics", "text/calendar; charset=utf-8"),
    "json": ("event.json", "application/json"),
    "zip": ("proceedings.zip", "application/zip"),
}
Progress = Callable[[str], None]
# what the published proceedings page links to (#15), in this order; the HTML file itself is the page
DOWNLOADS: dict[str, str] = {
    "pdf": N_("PDF"),
    "zip": N_("Everything with photos (ZIP)"),
    "sessions.csv": N_("Sessions (CSV)"),
    "actions.csv": N_("Action items (CSV)"),
    "ics": N_("Calendar (iCal)"),
    "md": N_("Markdown"),
    "json": N_("JSON"),
}


def file_name(board: Board, fmt: str) -> str:
    """A safe download name: the slug and the format's own name, nothing a person typed."""
    return f"{board.event.slug}-{FORMATS[fmt][0]}"


def photo_link(board: Board) -> Callable[..., str]:
    """How the Markdown and the archive name photos: by the JSON document's own names."""
    names = export_data.photo_files(board)
    return lambda photo: names.get(photo.id, "")


def write(
    board: Board,
    fmt: str,
    out: BinaryIO,
    photos: PhotoStore,
    progress: Progress | None = None,
    downloads: dict[str, str] | None = None,
) -> None:
    """Write one format of the event to `out` (a binary file), in the event's language.

    `downloads` (format: link) puts links to the other files at the top of the HTML: the page the
    server shows as the published proceedings has them; the downloaded file does not, since its
    links would lead nowhere once it is saved elsewhere."""
    note = progress or (lambda _: None)
    i18n.set_language(board.event.language)
    if fmt in ("md", "html", "pdf"):
        book = proceedings.build(board)
        if downloads:
            links = tuple((i18n.gettext(DOWNLOADS[f]), link) for f, link in downloads.items() if f in DOWNLOADS)
            book = replace(book, downloads=links)
        if fmt == "md":
            out.write(proceedings_markdown.markdown(book, photo_link(board)).encode())
        elif fmt == "html":
            proceedings_html.write_html(book, out, photos)
        else:
            proceedings_html.write_pdf(book, out, photos)
    elif fmt == "sessions.csv":
        out.write(export_agenda.sessions_csv(board))
    elif fmt == "actions.csv":
        out.write(export_agenda.actions_csv(board))
    elif fmt == "ics":
        out.write(export_agenda.agenda_ics(board))
    elif fmt == "json":
        out.write(export_data.document_json(board))
    elif fmt == "zip":
        write_zip(board, out, photos, note)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    note(fmt)


def write_file(board: Board, fmt: str, path: str, photos: PhotoStore, downloads: dict[str, str] | None = None) -> None:
    """`write` into the file at `path`: what a job pool worker runs for a download (jobs.py)."""
    with open(path, "wb") as out:
        write(board, fmt, out, photos, downloads=downloads)


def write_zip(board: Board, out: BinaryIO, photos: PhotoStore, note: Progress) -> None:
    """Everything in one archive, under generated names only: no path a person typed."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for fmt in ("json", "md", "html", "pdf", "sessions.csv", "actions.csv", "ics"):
            with archive.open(FORMATS[fmt][0], "w", force_zip64=True) as member:
                write(board, fmt, member, photos)  # type: ignore[arg-type]
            note(FORMATS[fmt][0])
        for photo_id, name in export_data.photo_files(board).items():
            try:
                source = photos.open(board.photos[photo_id].name, thumb=False)
            except FileNotFoundError:  # removed meanwhile: the archive is whole without it
                continue
            entry = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            entry.compress_type = zipfile.ZIP_STORED  # JPEGs do not shrink
            with source, archive.open(entry, "w", force_zip64=True) as target:
                shutil.copyfileobj(source, target)
            note(name)


MAX_DOCUMENT = 64 * 1024 * 1024  # event.json: a 500-topic event with full reports is a few MB
MAX_ARCHIVE = 4 * 1024**3  # everything an archive may expand to (1,500 photos of at most 15 MB and more)
MAX_MEMBERS = 20_000


def read_archive(path: Path) -> tuple[dict[str, object], dict[str, bytes]]:
    """A .json document, or a .zip with event.json and its photos: the document and photo files.

    Refuses with a ValueError that says what is wrong, never a traceback (issue #21, case 10): not
    JSON, nested too deep, too large, or an archive that expands beyond its bounds (a 1 MB zip
    expanded to 2.1 GB). Sizes are checked from the archive's directory before anything is
    decompressed, and each read stops at the size the directory declared.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return read_zip(archive)
        if path.stat().st_size > MAX_DOCUMENT:
            raise ValueError(f"{path.name}: larger than {MAX_DOCUMENT // 2**20} MB")
        return json_document(path.read_bytes(), path.name), {}
    except (zipfile.BadZipFile, OSError, EOFError) as problem:
        raise ValueError(f"{path.name}: cannot be read ({problem})") from None


def read_zip(archive: zipfile.ZipFile) -> tuple[dict[str, object], dict[str, bytes]]:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ValueError(f"archive: at most {MAX_MEMBERS} files, got {len(members)}")
    wanted = [m for m in members if m.filename.startswith("photos/") and m.filename.endswith(".jpg")]
    wanted = [m for m in wanted if ".." not in m.filename]
    document = next((m for m in members if m.filename == "event.json"), None)
    if document is None:
        raise ValueError("archive: has no event.json")
    if document.file_size > MAX_DOCUMENT:
        raise ValueError(f"event.json: larger than {MAX_DOCUMENT // 2**20} MB")
    for member in wanted:
        if member.file_size > media.MAX_BYTES:
            raise ValueError(f"{member.filename}: larger than a photo may be ({media.MAX_BYTES // 2**20} MB)")
    if document.file_size + sum(m.file_size for m in wanted) > MAX_ARCHIVE:
        raise ValueError(f"archive: expands to more than {MAX_ARCHIVE // 2**30} GB")
    parsed = json_document(bounded_read(archive, document), "event.json")
    return parsed, {m.filename: bounded_read(archive, m) for m in wanted}


def bounded_read(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    with archive.open(member) as stream:
        data = stream.read(member.file_size + 1)
    if len(data) > member.file_size:
        raise ValueError(f"{member.filename}: larger than the archive says")
    return data


def json_document(data: bytes, name: str) -> dict[str, object]:
    try:
        document = orjson.loads(data)  # refuses nesting deeper than 1024 rather than recursing on
    except orjson.JSONDecodeError as problem:
        raise ValueError(f"{name}: not a JSON document ({problem})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{name}: expected an object")
    return document


def to_bytes(board: Board, fmt: str, photos: PhotoStore) -> bytes:
    """For small formats and tests: the whole file in memory."""
    buffer = io.BytesIO()
    write(board, fmt, buffer, photos)
    return buffer.getvalue()


def restore_photos(imported: export_data.Imported, files: dict[str, bytes], photos: PhotoStore) -> list[Any]:
    """An imported event's entities, with each photo file re-encoded and stored under a new name.

    Files from an archive are untrusted like any upload, so they go through media.process again;
    a photo whose file is missing or unreadable is left out rather than pointing at nothing.
    """
    entities: list[Any] = []
    kept_photos = []
    for photo in imported.photos:
        data = files.get(imported.photo_files.get(photo.id, ""))
        if data is None:
            continue
        try:
            name = photos.save(media.process(data))
        except media.PhotoError:
            continue
        kept_photos.append(replace(photo, name=name))
    reports, history = [], []
    for report in imported.reports:
        texts = {f: getattr(report, f) for f in FIELDS}
        html = orjson.dumps({f: markup.render(texts[f]) for f in FIELDS if f != "participants"}).decode()
        reports.append(replace(report, html=html))  # never trust a file's HTML
        if report.revision:
            row_id = f"{report.id}:{report.revision}"
            history.append(
                Revision(row_id, report.id, report.revision, orjson.dumps(texts).decode(), "", report.updated_at)
            )
    for group in (
        imported.spaces,
        imported.slots,
        imported.topics,
        reports,
        history,
        kept_photos,
        imported.actions,
        imported.announcements,
    ):
        entities.extend(group)
    return entities
