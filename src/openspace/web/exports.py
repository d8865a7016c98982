"""Downloads for organisers: the proceedings and the data, and the published read-only book.

Exports are the facilitator's, unless the facilitator has published the proceedings; then anyone
with the event's link may read and download them. A participant's own calendar ("my sessions")
is theirs at any time. Files are written in a worker thread to a temporary file and streamed.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from openspace.domain.errors import N_, Forbidden, NotFound
from openspace.domain.model import Board
from openspace.domain.projection import public_board
from openspace.exports import agenda as export_agenda
from openspace.exports import formats as exporting
from openspace.web.base import Visit, page, refusal_page

UNPUBLISHED = N_("Only the facilitator can download this until the proceedings are published.")
PROCEEDINGS_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"


def may_export(v: Visit, board: Board) -> bool:
    return v.actor.facilitator or board.event.published


async def render_file(v: Visit, board: Board, fmt: str) -> Path:
    handle, name = tempfile.mkstemp(prefix="openspace-export-")
    os.close(handle)
    path = Path(name)

    def work() -> None:
        with path.open("wb") as out:
            exporting.write(board, fmt, out, v.runtime.photos)

    try:
        await asyncio.to_thread(work)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def export(request: Request) -> Response:
    v, event, board = await page(request)
    fmt = request.path_params["fmt"]
    if fmt not in exporting.FORMATS:
        return refusal_page(v, NotFound(N_("There is no such export.")))
    if not may_export(v, board):
        return refusal_page(v, Forbidden(UNPUBLISHED))
    path = await render_file(v, board if v.actor.facilitator else public_board(board), fmt)
    return FileResponse(
        path,
        media_type=exporting.FORMATS[fmt][1],
        filename=exporting.file_name(board, fmt),
        background=BackgroundTask(path.unlink, missing_ok=True),
        headers={"cache-control": "no-store"},
    )


async def read_proceedings(request: Request) -> Response:
    """The proceedings as a page: one self-contained document, no script, only its own styles."""
    v, event, board = await page(request)
    if not may_export(v, board):
        return refusal_page(v, Forbidden(UNPUBLISHED))
    path = await render_file(v, board if v.actor.facilitator else public_board(board), "html")
    return FileResponse(
        path,
        media_type="text/html; charset=utf-8",
        background=BackgroundTask(path.unlink, missing_ok=True),
        headers={"content-security-policy": PROCEEDINGS_CSP, "cache-control": "no-store"},
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
