"""Downloads for organisers: the proceedings and the data, and the published read-only book.

Exports are the facilitator's, unless the facilitator has published the proceedings; then anyone
with the event's link may read and download them. A participant's own calendar ("my sessions")
is theirs at any time. Files are written by the bounded job pool (jobs.py) to a temporary file,
kept in the export cache by the event's sequence number and streamed: a published PDF is built
once per change, however many people ask for it (issue #21).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from openspace.domain.errors import N_, DomainError, Forbidden, NotFound
from openspace.domain.model import Board
from openspace.domain.projection import public_board
from openspace.exports import agenda as export_agenda
from openspace.exports import formats as exporting
from openspace.web.base import Visit, page, refusal_page

UNPUBLISHED = N_("Only the facilitator can download this until the proceedings are published.")
NO_STORE = {"cache-control": "no-store"}
# A busy event changes many times a second, and a PDF of it takes seconds of CPU: readers of the
# published proceedings get a build at most this old rather than one build per change (#21, the
# abuse bench's parallel PDF requests). The facilitator's downloads are always of the board as it is.
PUBLIC_FRESH_SECONDS = 30.0
PROCEEDINGS_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"


def may_export(v: Visit, board: Board) -> bool:
    return v.actor.facilitator or board.event.published


async def render_file(v: Visit, board: Board, fmt: str, downloads: dict[str, str] | None = None) -> Path:
    """The export of this board as it is at its sequence number, built at most once per change
    (the proceedings page, with `downloads`, apart from the HTML file, which has none); for the
    public, one built in the last PUBLIC_FRESH_SECONDS will do."""
    audience = "facilitator" if v.actor.facilitator else "public"
    shown = board if v.actor.facilitator else public_board(board)

    async def build() -> Path:
        handle, name = tempfile.mkstemp(prefix="openspace-export-")
        os.close(handle)
        path = Path(name)
        try:
            await v.runtime.jobs.run(exporting.write_file, shown, fmt, name, v.runtime.photos, downloads)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    kind = f"{fmt}+links" if downloads else fmt
    if audience == "public":  # the published book: at most one build per PUBLIC_FRESH_SECONDS
        recent = v.runtime.exports.recent((board.event.id, kind, audience), PUBLIC_FRESH_SECONDS)
        if recent is not None:
            return Path(recent)
    path: Path = await v.runtime.exports.get((board.event.id, board.seq, kind, audience), build)
    return path


async def export(request: Request) -> Response:
    v, event, board = await page(request)
    fmt = request.path_params["fmt"]
    if fmt not in exporting.FORMATS:
        return refusal_page(v, NotFound(N_("There is no such export.")))
    if not may_export(v, board):
        return refusal_page(v, Forbidden(UNPUBLISHED))
    try:
        await v.runtime.limits.download(request, v.actor)
        path = await render_file(v, board, fmt)
        await v.runtime.limits.downloaded(request, v.actor, path.stat().st_size)  # its bytes: its cost
    except DomainError as error:
        return refusal_page(v, error)
    return FileResponse(
        path, media_type=exporting.FORMATS[fmt][1], filename=exporting.file_name(board, fmt), headers=NO_STORE
    )


async def read_proceedings(request: Request) -> Response:
    """The proceedings as a page: one self-contained document, no script, only its own styles."""
    v, event, board = await page(request)
    if not may_export(v, board):
        return refusal_page(v, Forbidden(UNPUBLISHED))
    downloads = {fmt: v.url("export", slug=event.slug, fmt=fmt) for fmt in exporting.DOWNLOADS}
    try:
        await v.runtime.limits.download(request, v.actor)
        path = await render_file(v, board, "html", downloads)
        await v.runtime.limits.downloaded(request, v.actor, path.stat().st_size)
    except DomainError as error:
        return refusal_page(v, error)
    return FileResponse(
        path, media_type="text/html; charset=utf-8", headers={"content-security-policy": PROCEEDINGS_CSP, **NO_STORE}
    )


async def my_calendar(request: Request) -> Response:
    """A participant's own sessions (marked "I want to go", or checked in) for their calendar app."""
    v, event, board = await page(request)
    me = v.actor.participant_id
    if me is None:
        return refusal_page(v, Forbidden(N_("Please join the event with your name first.")))
    mine = {i.topic_id for i in board.interests.values() if i.participant_id == me}
    mine |= {a.topic_id for a in board.attendance.values() if a.participant_id == me}
    mine |= {t.id for t in board.topics.values() if t.convened_by(me)}
    body = export_agenda.agenda_ics(board, only_topics=mine, calendar_name=event.name)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{event.slug}-my-sessions.ics"',
            "cache-control": "no-store",
        },
    )
