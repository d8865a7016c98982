"""Calendar feeds over HTTP (#18): the whole event's, each participant's own behind a secret URL
they can revoke, and the page that offers both as https and webcal links with QR codes.

Calendar apps poll: every answer carries an ETag (a hash of the body) and Last-Modified (the
latest change of any entry), and a poll that sends them back for an unchanged agenda gets 304.
Feeds carry no cookies and set none; their language is the event's, not the visitor's.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from openspace.domain.errors import N_, DomainError, Forbidden
from openspace.domain.model import Board
from openspace.exports import feeds
from openspace.runtime import runtime_of
from openspace.web.base import page, read_form, refusal_page, visit
from openspace.web.rendering import qr_svg


async def serve_feed(request: Request, board: Board, only: set[str] | None, name: str) -> Response:
    runtime = runtime_of(request)
    slug = board.event.slug

    def session_link(topic_id: str) -> str:
        return runtime.base_url + runtime.renderer.url("session", slug=slug, topic=topic_id)

    chosen = feeds.entries(board, session_link, only)
    known = await runtime.outward.sequences(board.event.id, {e.uid: e.fingerprint for e in chosen})
    stamps = {uid: feeds.Stamp(e.sequence, e.changed_at) for uid, e in known.items()}
    body = feeds.feed(board, chosen, stamps, name)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    modified = feeds.last_modified(stamps)
    headers = {"etag": etag, "cache-control": "no-cache", "content-disposition": "inline; filename=calendar.ics"}
    if modified is not None:
        headers["last-modified"] = format_datetime(modified, usegmt=True)
    if unchanged(request, etag, modified):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)


def unchanged(request: Request, etag: str, modified: datetime | None) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in {tag.strip() for tag in match.split(",")} or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since and modified is not None:
        try:
            return bool(parsedate_to_datetime(since) >= modified)
        except (TypeError, ValueError):
            return False
    return False


async def event_feed(request: Request) -> Response:
    """The whole agenda, for anyone with the event's link (the agenda is public to them anyway)."""
    runtime = runtime_of(request)
    event = await runtime.event(request.path_params["slug"])
    if event is None:
        return Response(status_code=404)
    board = await runtime.service.board(event.id)
    return await serve_feed(request, board, None, event.name)


async def personal_feed(request: Request) -> Response:
    runtime = runtime_of(request)
    event = await runtime.event(request.path_params["slug"])
    owner = await runtime.outward.calendar_owner(event.id, request.path_params["secret"]) if event else None
    if event is None or owner is None:
        return Response(status_code=404)  # revoked, or never valid: calendar apps stop on 404
    board = await runtime.service.board(event.id)
    return await serve_feed(request, board, feeds.my_topics(board, owner), event.name)


async def calendar_page(request: Request, error: DomainError | None = None) -> Response:
    """The feeds on offer, as links and QR codes; the personal one only to its participant."""
    v, event, board = await page(request, None)
    links = [("event", v.link("calendar_feed", slug=event.slug))]
    me = v.actor.participant_id
    if me is not None:
        token = await v.runtime.outward.calendar_token(event.id, me)
        if token is not None:
            links.append(("mine", v.link("my_feed", slug=event.slug, secret=f"{me}.{token}")))
    offered = [
        (kind, url, "webcal://" + url.split("://", 1)[1], qr_svg("webcal://" + url.split("://", 1)[1]))
        for kind, url in links
    ]
    return v.render("calendar.html", feeds=offered, error=error)


async def revoke(request: Request) -> Response:
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    if v.actor.participant_id is None:
        return refusal_page(v, Forbidden(N_("Please join the event with your name first.")))
    try:
        await read_form(request, v)
    except DomainError as error:
        return refusal_page(v, error)
    await v.runtime.outward.revoke_calendar(v.event.id, v.actor.participant_id)
    return v.finish(RedirectResponse(v.url("calendar", slug=v.event.slug) + "#mine", status_code=303))
