"""HTTP routes: server-rendered pages that work without JavaScript, and the form posts behind them.

Every form posts to one endpoint, `/e/<slug>/act`, which calls the same `Service.execute` as the
websocket does. On success it redirects back (post/redirect/get); on a refusal it renders the
page the form came from again, with the message and everything the person typed still in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import attendance, i18n, links, planning
from .errors import N_, DomainError, Forbidden, Invalid, NotFound
from .model import Board, Event, Slot, Space, Topic
from .projection import Audience, state_for
from .rendering import qr_svg, slot_states
from .rules import Actor
from .runtime import Runtime, runtime_of
from .security import (
    CSRF_COOKIE,
    FACILITATOR_COOKIE,
    LANG_COOKIE,
    PARTICIPANT_COOKIE,
    csrf_ok,
    form_origin_ok,
    new_secret,
    same_hash,
)
from .views import board_view, flow, merge_rows, page_data, projector_day, suggestion

ANCHOR = re.compile(r"[A-Za-z][\w-]{0,40}")
YEAR = 365 * 24 * 3600
FORM_LIMIT = 256 * 1024  # a full report in Swedish, percent-encoded (å is six bytes), fits


@dataclass
class Visit:
    """One request as the pages need it: who, in which language, with which CSRF token."""

    runtime: Runtime
    request: Request
    event: Event | None
    actor: Actor
    csrf: str
    new_csrf: bool

    @property
    def audience(self) -> Audience:
        return "facilitator" if self.actor.facilitator else "public"

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        """Render a page; a refusal passed as `error` sets the status and is shown translated."""
        error = context.get("error")
        if isinstance(error, DomainError):
            status, context["error"] = error.status, error.to_dict(i18n.gettext)
        context.update(
            event=self.event,
            actor=self.actor,
            csrf=self.csrf,
            request=self.request,
            path=self.request.url.path,
            base_url=self.runtime.base_url,
            join_url=links.participant_link(self.runtime.base_url, self.event.slug) if self.event else "",
        )
        response = HTMLResponse(self.runtime.renderer.render(template, **context), status_code=status)
        return self.finish(response)

    def page_data(self, board: Board, audience: Audience) -> dict[str, Any]:
        assert self.event is not None
        epoch = self.runtime.epoch(self.event.id)
        return page_data(board, audience, self.actor.participant_id, self.event.slug, epoch, self.csrf)

    def finish(self, response: Response) -> Response:
        secure = self.request.url.scheme == "https"
        if self.new_csrf:
            response.set_cookie(CSRF_COOKIE, self.csrf, httponly=True, samesite="lax", secure=secure, path="/")
        response.headers["cache-control"] = "no-store"
        return response


def requested_topic(board: Board, request: Request, values: dict[str, str] | None) -> Topic | None:
    """The topic a page is about: from a re-rendered form's fields, else from the address."""
    topic = board.topics.get((values or {}).get("topic") or request.path_params.get("topic", ""))
    return topic if topic is not None and topic.status != "merged" else None


async def page(request: Request, v: Visit | None) -> tuple[Visit, Event, Board]:
    """The start of every event page: who is visiting, which event, and its board now."""
    v = v or await visit(request, request.path_params["slug"])
    assert v.event is not None
    return v, v.event, await v.runtime.service.board(v.event.id)


async def visit(request: Request, slug: str | None = None) -> Visit:
    runtime = runtime_of(request)
    event = None
    if slug is not None:
        event = await runtime.service.event(slug)
        if event is None:
            raise HTTPException(404)
    existing = request.cookies.get(CSRF_COOKIE)
    csrf, new = (existing, False) if existing and len(existing) >= 32 else (new_secret(), True)
    language = i18n.choose_language(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"), event.language if event else ""
    )
    i18n.set_language(language)
    actor = await runtime.actor(request, event) if event else Actor()
    return Visit(runtime, request, event, actor, csrf, new)


async def read_form(request: Request, v: Visit, data: dict[str, str] | None = None) -> dict[str, str]:
    """The posted fields as strings, after the CSRF and Origin checks (on `data` if already read)."""
    if data is None:
        data = await form_fields(request)
    settings = v.runtime.settings
    if not form_origin_ok(request.headers, request.url.scheme, settings.public_url):
        raise Forbidden(N_("This form was sent from another site, so it was refused."))
    if v.new_csrf or not csrf_ok(v.csrf, data.pop("csrf", None)):
        raise Forbidden(N_("This form had expired. Please try again: nothing was changed."))
    return data


async def form_fields(request: Request) -> dict[str, str]:
    if int(request.headers.get("content-length") or 0) > FORM_LIMIT:
        raise Invalid(N_("That was more text than one form can take. Please shorten it."))
    async with request.form(max_files=0, max_fields=64, max_part_size=FORM_LIMIT) as form:
        return strings(form)


def strings(form: FormData) -> dict[str, str]:
    return {key: value for key, value in form.items() if isinstance(value, str)}


def refusal_page(v: Visit, error: DomainError) -> Response:
    return v.render("error.html", status=error.status, error=error.to_dict(i18n.gettext))


# --- pages ---------------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    v = await visit(request)
    return v.render("home.html")


async def new_event(request: Request) -> Response:
    v = await visit(request)
    values: dict[str, str] = {"language": i18n.current_language(), "timezone": "Europe/Stockholm"}
    if request.method == "GET":
        return v.render("new_event.html", values=values)
    try:
        values = await read_form(request, v)
        event, secret = await v.runtime.service.create_event(values)
    except DomainError as error:
        return v.render("new_event.html", status=error.status, values=values, error=error.to_dict(i18n.gettext))
    token = await v.runtime.service.open_facilitator_session(event.id)
    v.event = event
    response = v.render(
        "event_created.html",
        participant_url=links.participant_link(v.runtime.base_url, event.slug),
        facilitator_url=links.facilitator_link(v.runtime.base_url, event.slug, secret),
    )
    set_session_cookie(response, request, event, FACILITATOR_COOKIE, v.runtime.signer.sign(token))
    return response


def set_session_cookie(response: Response, request: Request, event: Event, name: str, value: str) -> None:
    """Scoped to the event's own path: one event's cookies are never even sent to another's pages."""
    response.set_cookie(
        name,
        value,
        max_age=YEAR,
        path=f"/e/{event.slug}",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


async def participant(
    request: Request,
    v: Visit | None = None,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    v, event, board = await page(request, v)
    return v.render(
        "participant.html",
        vm=board_view(board, "public", slot_states(board)),
        data=v.page_data(board, "public"),
        error=error,
        values=values or {},
    )


async def join(request: Request) -> Response:
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    values: dict[str, str] = {}
    try:
        values = await read_form(request, v)
        participant_id, token = await v.runtime.service.join(v.event.id, values.get("name", ""))
    except DomainError as error:
        return await participant(request, v, error, values)
    response = v.finish(RedirectResponse(f"/e/{v.event.slug}#marketplace", status_code=303))
    set_session_cookie(response, request, v.event, PARTICIPANT_COOKIE, v.runtime.signer.sign(token))
    return response


async def edit_topic(
    request: Request,
    v: Visit | None = None,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    v, event, board = await page(request, v)
    topic = requested_topic(board, request, values)
    if topic is None or (topic.status == "hidden" and not v.actor.facilitator):
        return refusal_page(v, NotFound(N_("That topic no longer exists. It may have been withdrawn.")))
    if not v.actor.facilitator and not topic.convened_by(v.actor.participant_id):
        return refusal_page(v, Forbidden(N_("Only the convener of a topic or the facilitator can change it.")))
    return v.render(
        "edit_topic.html",
        topic=topic,
        values=values or {"title": topic.title, "description": topic.description, "version": str(topic.version)},
        error=error,
    )


async def projector(request: Request) -> Response:
    v, event, board = await page(request, None)
    vm = board_view(board, "public", slot_states(board))
    day = projector_day(vm)
    vm.days = [(d, slots) for d, slots in vm.days if d == day]
    return v.render(
        "projector.html",
        vm=vm,
        data=v.page_data(board, "public"),
    )


async def facilitate(
    request: Request,
    v: Visit | None = None,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    v, event, board = await page(request, v)
    if not v.actor.facilitator:
        return refusal_page(v, Forbidden(N_("Only the facilitator can see this page. Open your facilitator link.")))
    query = request.query_params
    pick = board.topics.get(query.get("pick", ""))
    fragment = query.get("fragment") == "board"
    merging = [t for i in dict.fromkeys(query.getlist("merge")) if (t := board.topics.get(i)) and t.status != "merged"]

    def cell_hints(topic: Topic, slot: Slot, space: Space) -> list[planning.Hint]:
        return planning.hints_for_cell(board, topic.id, slot.id, space.id)

    return v.render(
        "_facilitate_board.html" if fragment else "facilitate.html",
        vm=board_view(board, "facilitator", slot_states(board)),
        hints=planning.hints_for_board(board),
        cell_hints=cell_hints,
        suggestion=suggestion(board, query.get("replace") == "1") if query.get("suggest") else None,
        merging=merging if len(merging) > 1 else [],
        merges=merge_rows(board),
        flow=flow(board, datetime.now(UTC).isoformat(timespec="seconds")),
        data=v.page_data(board, "facilitator"),
        pick=pick,
        error=error,
        values=values or {},
    )


async def place_topic(
    request: Request,
    v: Visit | None = None,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """A convener's own "paper wall": the free cells, one button each (self-placement)."""
    v, event, board = await page(request, v)
    topic = requested_topic(board, request, values)
    if topic is None or topic.status != "open":
        return refusal_page(v, NotFound(N_("That topic no longer exists. It may have been withdrawn.")))
    if not v.actor.facilitator and not topic.convened_by(v.actor.participant_id):
        return refusal_page(v, Forbidden(N_("Only the convener of a topic or the facilitator can change it.")))
    return v.render(
        "place_topic.html",
        topic=topic,
        vm=board_view(board, "public"),
        error=error,
    )


async def session_page(
    request: Request,
    v: Visit | None = None,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """One session (a topic in a slot and a space): what it is, who is here, and "I'm here"."""
    v, event, board = await page(request, v)
    topic = requested_topic(board, request, values)
    if topic is None or topic.status != "open" or not topic.placed:
        return refusal_page(v, NotFound(N_("That session is not on the agenda (any more).")))
    slot, space = board.slots[topic.slot_id or ""], board.spaces[topic.space_id or ""]
    me = v.actor.participant_id
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return v.render(
        "session.html",
        topic=topic,
        slot=slot,
        space=space,
        vm=board_view(board, "public", slot_states(board)),
        data=v.page_data(board, "public"),
        here=bool(me)
        and board.attendance.get(f"{slot.id}|{me}", None) is not None
        and board.attendance[f"{slot.id}|{me}"].topic_id == topic.id,
        over=attendance.is_over(event, slot, now),
        open_now=attendance.is_open(event, slot, now),
        error=error,
    )


async def room(request: Request) -> Response:
    """Where a room sign's QR code leads: the session on there now, else the room's sessions."""
    v, event, board = await page(request, None)
    space = board.spaces.get(request.path_params["space"])
    if space is None:
        return refusal_page(v, NotFound(N_("That space no longer exists.")))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    sessions = sorted(
        (
            (board.slots[t.slot_id or ""], t)
            for t in board.topics.values()
            if t.space_id == space.id and t.status == "open"
        ),
        key=lambda pair: (pair[0].day, pair[0].start),
    )
    for slot, topic in sessions:
        if attendance.is_open(event, slot, now):
            return v.finish(RedirectResponse(f"/e/{event.slug}/sessions/{topic.id}", status_code=303))
    return v.render("room.html", space=space, sessions=sessions)


async def print_rooms(request: Request) -> Response:
    """One A4 sign per room, with a QR code that opens the session running there now."""
    v, event, board = await page(request, None)
    base = v.runtime.base_url
    signs = [(space, f"{base}/e/{event.slug}/rooms/{space.id}") for space in board.ordered_spaces()]
    return v.render("print_rooms.html", signs=signs)


PAGES = {
    "participant": participant,
    "facilitate": facilitate,
    "edit": edit_topic,
    "place": place_topic,
    "session": session_page,
}
TARGETS = {
    "participant": "/e/{slug}#marketplace",
    "facilitate": "/e/{slug}/facilitate",
    "edit": "/e/{slug}",
    "place": "/e/{slug}#agenda",
    "session": "/e/{slug}/sessions/{topic}",
}


def register(name: str, page_function: Any, target: str) -> None:
    """Pages of other modules (the harvest) join the form endpoint's table of return pages."""
    PAGES[name] = page_function
    TARGETS[name] = target


async def act(request: Request) -> Response:
    """The one form endpoint: every action of every page, for people without JavaScript."""
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    values: dict[str, str] = {}
    page = "participant"
    try:
        values = await form_fields(request)
        page = values.pop("return_to", "participant")  # known before the checks, to answer there
        if page not in PAGES:
            page = "participant"
        values = await read_form(request, v, values)
        if page == "report" and values.get("preview"):
            return await PAGES[page](request, v, None, values)  # show the preview, save nothing
        name = values.pop("action", "")
        action_id = values.pop("action_id", None) or None
        await v.runtime.service.execute(v.event.id, v.actor, name, values, action_id)
        values["action"] = name
    except DomainError as error:
        # every refusal goes back to the page the form came from, with what was typed; the pages
        # themselves refuse anyone who may not see them
        values["action"] = name if "name" in locals() else ""
        return await PAGES[page](request, v, error, values)
    slug = v.event.slug
    base = TARGETS[page].format(slug=slug, topic=values.get("topic", ""))
    anchor = values.get("anchor", "")
    url = base if not ANCHOR.fullmatch(anchor) else base.split("#")[0] + "#" + anchor
    return v.finish(RedirectResponse(url, status_code=303))


async def rotate_link(request: Request) -> Response:
    """A new facilitator link: the old one stops working and every session opened with it ends."""
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    if not v.actor.facilitator:
        return refusal_page(v, Forbidden(N_("Only the facilitator can do that.")))
    try:
        await read_form(request, v)
    except DomainError as error:
        return refusal_page(v, error)
    secret = await v.runtime.service.rotate_facilitator_secret(v.event.id)
    await v.runtime.hub.close_audience(v.event.id, "facilitator")  # open pages sign in again
    token = await v.runtime.service.open_facilitator_session(v.event.id)  # this browser stays in
    response = v.render(
        "event_created.html",
        participant_url=links.participant_link(v.runtime.base_url, v.event.slug),
        facilitator_url=links.facilitator_link(v.runtime.base_url, v.event.slug, secret),
        rotated=True,
    )
    set_session_cookie(response, request, v.event, FACILITATOR_COOKIE, v.runtime.signer.sign(token))
    return response


async def delete_event(request: Request) -> Response:
    """The facilitator deletes the event, typing its name to show they mean it."""
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    if not v.actor.facilitator:
        return refusal_page(v, Forbidden(N_("Only the facilitator can do that.")))
    try:
        data = await read_form(request, v)
        if data.get("confirm", "").strip() != v.event.name:
            raise Invalid(N_("Type the event's name exactly to delete it."), field="confirm")
    except DomainError as error:
        return await facilitate(request, v, error, {"action": "event.delete"})
    board = await v.runtime.service.board(v.event.id)
    names = [p.name for p in board.photos.values()]
    await v.runtime.service.delete_event(v.event.id)
    v.runtime.photos.delete_all(names)
    gone = v.event
    v.event = None
    response = v.render("deleted.html", name=gone.name)
    for cookie in (PARTICIPANT_COOKIE, FACILITATOR_COOKIE):
        response.delete_cookie(cookie, path=f"/e/{gone.slug}")
    return response


async def facilitator_login(request: Request) -> Response:
    """Exchange the secret link for a session cookie, then move to a URL without the secret."""
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    client = request.client.host if request.client else "unknown"
    limiter = v.runtime.login_limit
    if limiter.blocked(client):
        response = refusal_page(v, Forbidden(N_("Too many wrong facilitator links from here. Wait a minute.")))
        response.status_code = 429
        return response
    stored = await v.runtime.store.facilitator_secret_hash(v.event.id)
    if stored is None or not same_hash(request.path_params["secret"], stored):
        limiter.fail(client)
        return refusal_page(v, Forbidden(N_("This facilitator link is not valid. Check that you copied all of it.")))
    token = await v.runtime.service.open_facilitator_session(v.event.id)
    response = v.finish(RedirectResponse(f"/e/{v.event.slug}/facilitate", status_code=303))
    set_session_cookie(response, request, v.event, FACILITATOR_COOKIE, v.runtime.signer.sign(token))
    return response


async def state_json(request: Request) -> Response:
    """The JSON twin of the board: exactly what a snapshot frame carries for this person."""
    v, _, board = await page(request, None)
    return v.finish(JSONResponse(state_for(board, v.audience)))


async def qr(request: Request) -> Response:
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    svg = qr_svg(links.participant_link(v.runtime.base_url, v.event.slug))
    return Response(svg, media_type="image/svg+xml", headers={"cache-control": "public, max-age=3600"})


async def choose_language(request: Request) -> Response:
    v = await visit(request)
    try:
        data = await read_form(request, v)
    except DomainError as error:
        return refusal_page(v, error)
    back = data.get("next", "/")
    if not back.startswith("/") or back.startswith("//") or "\\" in back:
        back = "/"
    response = v.finish(RedirectResponse(quote(back, safe="/#?=&"), status_code=303))
    language = data.get("language", "")
    if language in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, max_age=YEAR, samesite="lax", path="/")
    return response


ROUTES = [
    Route("/", home),
    Route("/new", new_event, methods=["GET", "POST"], max_body_size=FORM_LIMIT * 2),
    Route("/lang", choose_language, methods=["POST"], max_body_size=FORM_LIMIT * 2),
    Route("/e/{slug}", participant),
    Route("/e/{slug}/join", join, methods=["POST"], max_body_size=FORM_LIMIT * 2),
    Route("/e/{slug}/act", act, methods=["POST"], max_body_size=FORM_LIMIT * 2),
    Route("/e/{slug}/topics/{topic}/edit", edit_topic),
    Route("/e/{slug}/topics/{topic}/place", place_topic),
    Route("/e/{slug}/sessions/{topic}", session_page),
    Route("/e/{slug}/rooms/{space}", room),
    Route("/e/{slug}/print/rooms", print_rooms),
    Route("/e/{slug}/projector", projector),
    Route("/e/{slug}/facilitate", facilitate),
    Route("/e/{slug}/f/{secret}", facilitator_login),
    Route("/e/{slug}/delete", delete_event, methods=["POST"], max_body_size=FORM_LIMIT * 2),
    Route("/e/{slug}/rotate", rotate_link, methods=["POST"], max_body_size=FORM_LIMIT * 2),
    Route("/e/{slug}/state.json", state_json),
    Route("/e/{slug}/qr.svg", qr),
]
