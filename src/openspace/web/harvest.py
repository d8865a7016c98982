"""HTTP routes of the harvest: report pages, photo uploads and photos, the news wall, report sheets.

Photos are re-encoded in a worker thread (media.py) before anything is recorded; only then does
the upload become a change, through the internal `photo.add` command, so a file name never
comes from a client. A refused or failed upload removes its files again.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from openspace import media
from openspace.domain import markup
from openspace.domain.errors import N_, DomainError, Invalid, NotFound, SlowDown
from openspace.domain.harvest import FIELDS, may_remove_photo, photo_room
from openspace.domain.markup import report_html
from openspace.domain.model import Board, Photo
from openspace.domain.projection import hidden_statuses
from openspace.web.base import FORM_LIMIT, Visit, page, read_form, refusal_page, requested_topic, visit
from openspace.web.rendering import slot_states
from openspace.web.views import board_view

MAX_FILES = 5
UPLOAD_LIMIT = MAX_FILES * media.MAX_BYTES + 256 * 1024  # read into memory, a few at once (holding.Slots)
CHOOSE_A_PHOTO = N_("Choose a photo first.")
TOO_BIG_A_FORM = N_("What you sent was larger than the server accepts. Please send something smaller.")


async def report_page(request: Request, v: Visit | None = None) -> Response:
    """A session's report: read it, write in it together with others live (cowriting.py), preview.

    With JavaScript the page edits the report's shared document, embedded here as its state;
    without, the form posts whole texts and the server merges them (harvest.save_report).

    The facilitator also reaches the report of a hidden topic: they are the only one who may still
    write in it, lock it or bring back a version, so the page is theirs even while nobody else's.
    """
    v, event, board = await page(request, v)
    values, error = v.values, v.error
    topic = requested_topic(board, v)
    if topic is None or topic.status in hidden_statuses(v.audience):
        return refusal_page(v, NotFound(N_("That topic no longer exists. It may have been withdrawn.")))
    report = board.reports.get(topic.id)
    saved = {f: getattr(report, f) if report else "" for f in FIELDS}
    typed = {f: values[f] for f in FIELDS if f in values}
    preview = None
    if values.get("_preview") and error is None:  # a refused preview (too many) costs nothing more
        try:
            preview, seconds = await v.runtime.jobs.run(render_preview, typed)
            await v.runtime.limits.previewed(v.request, v.actor, seconds)
        except DomainError as busy:
            error = busy
    writer = bool(v.actor.participant_id or v.actor.facilitator)
    doc, rseq = await v.runtime.cowriting.state(event.id, topic.id) if writer else (b"", 0)
    photos = sorted((p for p in board.photos.values() if p.topic_id == topic.id), key=lambda p: (p.created_at, p.id))
    removable = {p.id for p in photos if may_remove_photo(board, p, v.actor)}
    return v.render(
        "report.html",
        # a joined person's own on it: that they may write, the photos they may remove; and the
        # shared text's state, which changes between the board's changes
        alike=(str(writer), ",".join(sorted(removable)), str(rseq)),
        topic=topic,
        vm=(vm := board_view(board, "public", slot_states(board))),
        where=vm.where(topic),
        report=report,
        html=report_html(report),
        texts=typed or saved,
        saved=saved,
        base=values.get("base") if typed else (report.revision if report else 0),
        doc=base64.b64encode(doc).decode(),
        rseq=rseq,
        preview=preview,
        photos=photos,
        removable=removable,
        max_files=MAX_FILES,
        max_bytes=media.MAX_BYTES,
        revisions=sorted((r for r in board.revisions.values() if r.topic_id == topic.id), key=lambda r: -r.revision)
        if v.actor.facilitator
        else [],
        actions=[a for a in board.actions.values() if a.topic_id == topic.id],
        data=v.page_data(board, v.audience),
        error=error,
        values=values,
    )


def render_preview(typed: dict[str, str]) -> tuple[dict[str, str], float]:
    """Markdown for a preview: in the job pool, never on the event loop (issue #21, case 1).
    With the CPU seconds it took, which the preview budget is charged (`Limits.previewed`)."""
    started = time.process_time()
    html = {f: markup.render(typed[f]) for f in FIELDS if f != "participants" and f in typed}
    return html, time.process_time() - started


async def upload_photos(request: Request) -> Response:
    """Flip-chart photos from a phone's camera or files: re-encoded, stripped, stored, recorded."""
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    topic_id = request.path_params["topic"]
    stored: list[str] = []
    try:
        if int(request.headers.get("content-length") or 0) > UPLOAD_LIMIT:
            raise Invalid(media.TOO_LARGE, field="photos", max=media.MAX_BYTES // (1024 * 1024))
        # a full session (or person, or event) is refused before 75 MB are parsed (#21, abuse bench)
        photo_room(await v.runtime.service.board(v.event.id), topic_id, v.actor)
        async with v.runtime.limits.uploading(request, v.actor):
            form = await read_upload(request)
            try:
                await store_uploads(v, topic_id, form, stored)
            finally:
                await form.close()
    except SlowDown as error:  # too fast: a small page, not the report's (a flood of refusals must cost little)
        v.runtime.photos.delete_all(stored)
        return refusal_page(v, error)
    except (media.PhotoError, DomainError) as problem:
        # the report page again, with why; and counted, so a loop of refused uploads ends at the
        # door like a loop of refused forms (#21: 240 refused pictures and 1,524 uploads past the
        # person's pace in 20 s, each answered with the whole report page, honest p99 x2.3)
        v.runtime.photos.delete_all(stored)
        v.runtime.limits.refused(request, v.actor)
        if isinstance(problem, media.PhotoError):
            said = Invalid(problem.message, field="photos", **problem.params)
            return await report_page(request, v.again(said, {}))
        return await report_page(request, v.again(problem, {"topic": topic_id}))
    return v.finish(RedirectResponse(v.url("report", slug=v.event.slug, topic=topic_id) + "#photos", status_code=303))


async def read_upload(request: Request) -> FormData:
    """The multipart form, its files kept in memory (not spooled to disk: see `Limits.uploading`),
    and never more than UPLOAD_LIMIT bytes of it, whatever Content-Length said (or if it said
    nothing: a chunked body)."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise Invalid(CHOOSE_A_PHOTO, field="photos")
    parser = MultiPartParser(
        request.headers, bounded(request.stream()), max_files=MAX_FILES, max_fields=8, max_part_size=FORM_LIMIT
    )
    parser.spool_max_size = UPLOAD_LIMIT
    try:
        return await parser.parse()
    except (MultiPartException, HTTPException) as problem:
        raise upload_refusal(problem) from None


async def bounded(stream: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > UPLOAD_LIMIT:
            raise Invalid(media.TOO_LARGE, field="photos", max=media.MAX_BYTES // (1024 * 1024))
        yield chunk


def upload_refusal(problem: MultiPartException | HTTPException) -> Exception:
    """Starlette's parser refuses too many files or too large a part: said on the report page
    instead, as any other refusal; a malformed body is a bare 400, as Starlette answers it."""
    detail = str(problem.detail if isinstance(problem, HTTPException) else problem.message)
    if detail.startswith("Too many files"):
        return Invalid(N_("Send at most %(max)s photos at a time."), field="photos", max=MAX_FILES)
    if "maximum size" in detail or (isinstance(problem, HTTPException) and problem.status_code == 413):
        return Invalid(TOO_BIG_A_FORM, field="photos")
    return problem if isinstance(problem, HTTPException) else HTTPException(400, detail)


async def store_uploads(v: Visit, topic_id: str, form: FormData, stored: list[str]) -> None:
    """Check the form, then each photo in turn: re-encode and store (one at a time, bounded);
    then record them all at once."""
    assert v.event is not None
    fields = {k: val for k, val in form.items() if isinstance(val, str)}
    await read_form(v.request, v, fields)
    uploads = [f for f in form.getlist("photos") if not isinstance(f, str) and f.filename]
    if not uploads:
        raise Invalid(CHOOSE_A_PHOTO, field="photos")
    # all of them must fit before any is decoded: they are recorded together, as one change
    photo_room(await v.runtime.service.board(v.event.id), topic_id, v.actor, adding=len(uploads))
    photos: list[dict[str, Any]] = []
    for upload in uploads:
        data = await upload.read(media.MAX_BYTES + 1)  # never more than one photo's worth
        await v.runtime.limits.upload(v.request, v.actor)
        processed = await v.runtime.jobs.run(media.process, data)
        # the decoding above is the heavy part, in a worker process; the files are written here, by
        # this process's own store (its database connections, or memory in the tests)
        name = await asyncio.to_thread(v.runtime.photos.save, processed)
        stored.append(name)
        photos.append(
            {
                "name": name,
                "width": processed.width,
                "height": processed.height,
                "thumb_width": processed.thumb_width,
                "thumb_height": processed.thumb_height,
            }
        )
    await v.runtime.service.execute(
        v.event.id, v.actor, "photo.add", {"topic": topic_id, "photos": photos}, internal=True
    )
    stored.clear()  # recorded: they belong to the board now


def shown_photo(board: Board, name: str, v: Visit) -> Photo | None:
    """The photo of this event by that file name, if this visitor may see its session."""
    found = next((p for p in board.photos.values() if p.name == name), None)
    topic = board.topics.get(found.topic_id) if found else None
    return found if topic is not None and topic.status not in hidden_statuses(v.audience) else None


async def photo(request: Request) -> Response:
    """A photo of this event only, of a session this visitor may see: hiding a topic hides its
    photos too, even from someone who kept the address. Cached privately only, since a shared
    cache would go on serving it after the topic is hidden.
    """
    v, event, board = await page(request)
    name = request.path_params["name"]
    size = request.path_params.get("size")
    if size not in (None, "thumb") or shown_photo(board, name, v) is None:
        return refusal_page(v, NotFound(N_("That photo has already been removed.")))
    headers = {"cache-control": "private, max-age=31536000, immutable"}
    path = v.runtime.photos.path(name, thumb=size == "thumb")
    if path is not None:  # a local file: sent as a file
        return FileResponse(path, media_type="image/jpeg", headers=headers)
    data = await asyncio.to_thread(read_photo, v.runtime.photos, name, size == "thumb")
    if data is None:
        return refusal_page(v, NotFound(N_("That photo has already been removed.")))
    return Response(data, media_type="image/jpeg", headers=headers)  # from a file store without local files


def read_photo(photos: media.PhotoStore, name: str, thumb: bool) -> bytes | None:
    """A photo's bytes (a few hundred KiB), or None when it is gone."""
    try:
        with photos.open(name, thumb) as file:
            return file.read()
    except FileNotFoundError:
        return None


async def news(request: Request, v: Visit | None = None) -> Response:
    """The news room: reports as they arrive, newest first, live on phones and the projector."""
    v, event, board = await page(request, v)
    data = v.page_data(board, "public")
    return v.render(
        "news.html",
        alike=(str(data["myDots"]),),  # a joined person's own on it: how many dots they have given
        vm=board_view(board, "public", slot_states(board)),
        data=data,
        cards=news_cards(board),
        error=v.error,
    )


def news_cards(board: Board) -> list[dict[str, Any]]:
    cards = []
    for report in sorted(board.reports.values(), key=lambda r: r.updated_at, reverse=True):
        topic = board.topics.get(report.id)
        if topic is None or topic.status != "open" or not any(getattr(report, f) for f in FIELDS):
            continue
        photos = [p for p in board.photos.values() if p.topic_id == topic.id]
        cards.append({"topic": topic, "report": report, "html": report_html(report), "photos": photos})
    return cards


async def print_reports(request: Request) -> Response:
    """One sheet per session with a QR code to its report, for groups who write on paper first."""
    v, event, board = await page(request)
    view = board_view(board, "public")
    sheets = [
        (topic, view.where(topic), v.link("report", slug=event.slug, topic=topic.id))
        for topic in view.topics
        if topic.placed
    ]
    sheets.sort(key=lambda s: (s[1][0].day, s[1][0].start, s[1][1].position) if s[1] else ("", "", 0))
    breaks = [slot for slot in board.ordered_slots() if slot.label]  # a sheet names the break after its session
    return v.render("print_reports.html", sheets=sheets, breaks=breaks)
