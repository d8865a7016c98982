"""The pages anyone with the event's link opens: the participant page and joining, a topic's edit
and self-placement pages, a session and a room, the projector and the printed room signs; and
outside any event, the home page, creating an event and choosing a language.

All of them work without JavaScript; their forms post to the one form endpoint in `web`.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from openspace import i18n
from openspace.domain import attendance, hybrid
from openspace.domain.errors import N_, DomainError, Forbidden, NotFound, SlowDown
from openspace.domain.model import Board, Slot, Topic
from openspace.domain.projection import state_for
from openspace.guard import address_allowed
from openspace.security import LANG_COOKIE, PARTICIPANT_COOKIE
from openspace.settings import Settings
from openspace.web import personal
from openspace.web.base import YEAR, Visit, page, read_form, refusal_page, requested_topic, set_session_cookie, visit
from openspace.web.facilitator import links_ready
from openspace.web.rendering import qr_svg, slot_states
from openspace.web.views import board_view, projector_day


async def home(request: Request) -> Response:
    v = await visit(request)
    return v.render("home.html")


RESTRICTED = N_(
    "Only this server's operator may create events here. Enter the operator token, or ask the operator "
    "to create the event for you."
)


async def new_event(request: Request) -> Response:
    v = await visit(request)
    values: dict[str, str] = {"language": i18n.current_language(), "timezone": "Europe/Stockholm"}
    restricted = not may_create(request, v.runtime.settings, "")
    if request.method == "GET":
        return v.render("new_event.html", values=values, restricted=restricted)
    try:
        values = await read_form(request, v)
        await v.runtime.limits.new_event(request)  # before the token: guesses spend the same bucket
        if not may_create(request, v.runtime.settings, values.pop("operator_token", "")):
            raise Forbidden(RESTRICTED, field="operator_token")
        event, secret = await v.runtime.service.create_event(values)
    except DomainError as error:
        values.pop("operator_token", None)  # never written back into the page
        return v.render(
            "new_event.html",
            status=error.status,
            values=values,
            error=error.to_dict(i18n.gettext),
            restricted=restricted,
        )
    token = await v.runtime.service.open_facilitator_session(event.id)
    return links_ready(request, v, event, secret, token)


def may_create(request: Request, settings: Settings, typed: str) -> bool:
    """Whether this visitor may create an event at /new (#17). Open unless the operator set a
    token or an allow-list; then an address on the list (not through a proxy, where everyone has
    the proxy's address) or the token typed into the form. `openspace new-event` is not asked."""
    token, allow = settings.new_event_token, settings.new_event_allow
    if not token and not allow:
        return True
    client = request.client.host if request.client else ""
    if allow and "x-forwarded-for" not in request.headers and address_allowed(client, allow):
        return True
    return bool(token) and hmac.compare_digest(typed.encode(), token.encode())


async def participant(request: Request, v: Visit | None = None) -> Response:
    """The participant page: rendered once for everyone and finished for this person
    (web/personal.py), a refused form's message and what they typed included; unless it shows
    the undo of the withdrawal they just made, or a form's values without a refusal, which are
    theirs alone."""
    v, event, board = await page(request, v)
    undo = offered_undo(v, board, request.query_params.get(UNDO_FIELD, ""))
    if (v.error is not None or not v.values) and undo is None:
        return personal.participant_page(v, board)
    return whole_participant_page(v, board, undo)


def whole_participant_page(v: Visit, board: Board, undo: dict[str, str] | None = None) -> Response:
    """The participant page rendered whole for this person (what personal.py's is checked against)."""
    vm = board_view(board, "public", slot_states(board))
    vm.online = hybrid.following_online(board, v.actor.participant_id)
    return v.render(
        "participant.html",
        vm=vm,
        data=v.page_data(board, "public"),
        error=v.error,
        values=v.values,
        undo=undo,
    )


UNDO_ACTION, UNDO_FIELD = "topic.restore", "undo"
UNDO_SECONDS = 600  # how long a withdrawal can be undone


def unsealed_withdrawal(v: Visit, token: str) -> dict[str, Any] | None:
    """A withdrawn topic's rows, if `token` is this server's seal for this event and browser and
    still fresh: the undo the participant page offers after a withdrawal (#15)."""
    assert v.event is not None
    sealed = v.runtime.signer.unseal(token, UNDO_ACTION, UNDO_SECONDS) if token else None
    if not isinstance(sealed, dict) or sealed.get("event") != v.event.id or sealed.get("who") != v.actor.key:
        return None
    rows = sealed.get("rows")
    return rows if isinstance(rows, dict) else None


def offered_undo(v: Visit, board: Board, token: str) -> dict[str, str] | None:
    """The undo to show after a withdrawal: the topic's title and the seal, while it can be undone."""
    rows = unsealed_withdrawal(v, token)
    topic = rows.get("topic") if rows else None
    if not isinstance(topic, dict) or topic.get("id") in board.topics:
        return None
    return {"token": token, "title": str(topic.get("title", ""))}


# Where a person lands after joining, by phase (#15): what the phase needs of them on a phone.
LANDING = {"opening": "about", "marketplace": "propose", "sessions": "mine", "closing": "mine"}


async def join(request: Request) -> Response:
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    values: dict[str, str] = {}
    try:
        values = await read_form(request, v)
        await v.runtime.limits.join(request)
        participant_id, token = await v.runtime.service.join(v.event.id, values.get("name", ""))
    except SlowDown as error:  # a flood of joins is answered with a small page, not the board (#21)
        return refusal_page(v, error)
    except DomainError as error:
        return await participant(request, v.again(error, values))
    landing = LANDING.get(v.event.phase, "agenda")
    response = v.finish(RedirectResponse(v.url("participant", slug=v.event.slug) + f"#{landing}", status_code=303))
    set_session_cookie(response, request, v.event, PARTICIPANT_COOKIE, v.runtime.signer.sign(token))
    return response


async def edit_topic(request: Request, v: Visit | None = None) -> Response:
    v, event, board = await page(request, v)
    topic = requested_topic(board, v)
    if topic is None or (topic.status == "hidden" and not v.actor.facilitator):
        return refusal_page(v, NotFound(N_("That topic no longer exists. It may have been withdrawn.")))
    if not v.actor.facilitator and not topic.convened_by(v.actor.participant_id):
        return refusal_page(v, Forbidden(N_("Only the convener of a topic or the facilitator can change it.")))
    return v.render(
        "edit_topic.html",
        topic=topic,
        values=v.values or {"title": topic.title, "description": topic.description, "version": str(topic.version)},
        error=v.error,
    )


async def projector(request: Request) -> Response:
    v, event, board = await page(request)
    vm = board_view(board, "public", slot_states(board))
    day = projector_day(vm)
    vm.days = [(d, slots) for d, slots in vm.days if d == day]
    return v.render(
        "projector.html",
        vm=vm,
        proceedings_url=v.link("proceedings", slug=event.slug),
        data=v.page_data(board, "public"),
    )


async def place_topic(request: Request, v: Visit | None = None) -> Response:
    """A convener's own "paper wall": the free cells, one button each (self-placement).

    Free means free on the whole board: a cell held by a topic the public cannot see is not
    offered, so nobody picks a cell only to be told it is taken.
    """
    v, event, board = await page(request, v)
    topic = requested_topic(board, v)
    if topic is None or topic.status != "open":
        return refusal_page(v, NotFound(N_("That topic no longer exists. It may have been withdrawn.")))
    if not v.actor.facilitator and not topic.convened_by(v.actor.participant_id):
        return refusal_page(v, Forbidden(N_("Only the convener of a topic or the facilitator can change it.")))
    taken = {(t.slot_id, t.space_id) for t in board.topics.values() if t.placed}
    return v.render(
        "place_topic.html",
        topic=topic,
        vm=board_view(board, "public"),
        taken=taken,
        error=v.error,
    )


async def session_page(request: Request, v: Visit | None = None) -> Response:
    """One session (a topic in a slot and a space): what it is, who is here, and "I'm here"."""
    v, event, board = await page(request, v)
    topic = requested_topic(board, v)
    if topic is None or topic.status != "open" or not topic.placed:
        return refusal_page(v, NotFound(N_("That session is not on the agenda (any more).")))
    slot, space = board.slots[topic.slot_id or ""], board.spaces[topic.space_id or ""]
    me = v.actor.participant_id
    now = datetime.now(UTC).isoformat(timespec="seconds")
    vm = board_view(board, "public", slot_states(board))
    vm.online = hybrid.following_online(board, me)
    row = board.attendance.get(f"{slot.id}|{me}")
    here = bool(me) and row is not None and row.topic_id == topic.id
    return v.render(
        "session.html",
        alike=(str(here), str(here and row is not None and row.online), str(vm.online)),
        topic=topic,
        slot=slot,
        space=space,
        vm=vm,
        online_here=here and row is not None and row.online,
        data=v.page_data(board, "public"),
        here=here,
        over=attendance.is_over(event, slot, now),
        open_now=attendance.is_open(event, slot, now),
        error=v.error,
    )


async def room(request: Request) -> Response:
    """Where a room sign's QR code leads: the session on there now, else the room's sessions."""
    v, event, board = await page(request)
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
            return v.finish(RedirectResponse(v.url("session", slug=event.slug, topic=topic.id), status_code=303))
    # the room's day with its breaks among the sessions (#15), so a lunch is not a gap here either
    day: list[tuple[Slot, Topic | None]] = [*sessions, *((s, None) for s in board.ordered_slots() if s.label)]
    day.sort(key=lambda pair: (pair[0].day, pair[0].start))
    return v.render("room.html", space=space, sessions=day, data=v.page_data(board, "public"))


async def print_rooms(request: Request) -> Response:
    """One A4 sign per room, with a QR code that opens the session running there now."""
    v, event, board = await page(request)
    signs = [(space, v.link("room", slug=event.slug, space=space.id)) for space in board.ordered_spaces()]
    breaks = [slot for slot in board.ordered_slots() if slot.label]  # on every door, so nobody waits in an empty room
    return v.render("print_rooms.html", signs=signs, breaks=breaks, several_days=len(board.days()) > 1)


POSTER_SIZES = ("a3", "a4")


async def print_poster(request: Request) -> Response:
    """The agenda as one printed poster, A3 or A4 (#15): the grid with its breaks, and a QR code to
    the event for the phone that will follow the changes the paper cannot."""
    v, event, board = await page(request)
    size = request.query_params.get("size", "a3")
    view = board_view(board, "public")
    return v.render(
        "print_poster.html",
        vm=view,
        size=size if size in POSTER_SIZES else "a3",
        sizes=POSTER_SIZES,
    )


async def state_json(request: Request) -> Response:
    """The JSON twin of the board: exactly what a snapshot frame carries for this person."""
    v, _, board = await page(request)
    return v.finish(JSONResponse(state_for(board, v.audience)))


async def qr(request: Request) -> Response:
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    svg = qr_svg(v.link("participant", slug=v.event.slug))
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
