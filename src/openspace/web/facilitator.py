"""The facilitator's side: the board they run the event from, signing in with the secret link,
replacing that link, and deleting the event.

Every page here checks `actor.facilitator` itself before showing or doing anything; forms that
change the board post to the shared form endpoint in `web` with `_return_to=facilitate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from openspace.domain.errors import N_, DomainError, Forbidden, Invalid
from openspace.domain.hints import Hint, hints_for_board, hints_for_cells
from openspace.domain.model import Board, Event, Slot, Space, Topic
from openspace.security import FACILITATOR_COOKIE, PARTICIPANT_COOKIE, READY_COOKIE, same_hash
from openspace.web import regions
from openspace.web.base import Visit, page, read_form, refusal_page, set_session_cookie, visit
from openspace.web.rendering import slot_states
from openspace.web.views import Suggestion, board_view, flow, merge_rows, suggestion


@dataclass(frozen=True)
class Console:
    """How the console is laid out (#15): the parts the current phase works with, open and first
    (`main`, in this order: two side by side on a laptop), and the rest folded below (`folded`).
    Each name is a template, `_fac_NAME.html`."""

    focus: str
    main: tuple[str, ...]
    folded: tuple[str, ...]


# what each phase needs first; "setup" until there is a space and a time slot for sessions
CONSOLE_MAIN: dict[str, tuple[str, ...]] = {
    "setup": ("spaces", "slots"),
    "opening": ("run", "opening"),
    "marketplace": ("queue", "waiting", "grid"),
    "closed": ("queue", "waiting", "grid"),
    "sessions": ("run", "grid"),
    "closing": ("harvest",),
}
CONSOLE_PARTS = (
    "grid",
    "queue",
    "waiting",
    "run",
    "topics",
    "opening",
    "flow",
    "harvest",
    "spaces",
    "slots",
    "event",
    "delete",
)


def console(event: Event, spaces: int, session_slots: int) -> Console:
    focus = "setup" if not spaces or not session_slots else event.phase
    main = CONSOLE_MAIN.get(focus, CONSOLE_MAIN["sessions"])
    return Console(focus, main, tuple(name for name in CONSOLE_PARTS if name not in main))


async def facilitate(request: Request, v: Visit | None = None) -> Response:
    v, event, board = await page(request, v)
    if not v.actor.facilitator:
        return refusal_page(v, Forbidden(N_("Only the facilitator can see this page. Open your facilitator link.")))
    query = request.query_params
    pick = board.topics.get(query.get("pick", ""))
    # a live page asking for its regions gets them cut from the whole page (web/regions.py)
    fragment = query.get("fragment") == "board" and regions.HEADER not in request.headers
    merging = [t for i in dict.fromkeys(query.getlist("merge")) if (t := board.topics.get(i)) and t.status != "merged"]
    now = datetime.now(UTC).isoformat(timespec="seconds")

    error = v.error
    try:
        hints, picked, suggested = await v.runtime.jobs.run(
            plan, board, pick.id if pick else None, query.get("replace") == "1", bool(query.get("suggest")), now
        )
    except DomainError as busy:
        hints, picked, suggested, error = {}, {}, None, error or busy

    def cell_hints(topic: Topic, slot: Slot, space: Space) -> list[Hint]:
        return picked.get((slot.id, space.id), [])

    vm = board_view(board, "facilitator", slot_states(board))
    vm.online = True  # every announcement, for online participants too, so it can be taken down
    return v.render(
        "_facilitate_board.html" if fragment else "facilitate.html",
        vm=vm,
        hints=hints,
        cell_hints=cell_hints,
        suggestion=suggested,
        merging=merging if len(merging) > 1 else [],
        merges=merge_rows(board),
        flow=flow(board, now),
        data=v.page_data(board, "facilitator"),
        console=console(event, len(board.spaces), len(board.session_slots())),
        pick=pick,
        error=error,
        values=v.values,
    )


def plan(
    board: Board, pick: str | None, replace_unpinned: bool, suggest: bool, now: str
) -> tuple[dict[str, list[Hint]], dict[tuple[str, str], list[Hint]], Suggestion | None]:
    """The planning work of the facilitator's page, all of it in a job pool worker (issue #21, case 16)."""
    board_hints = hints_for_board(board)
    picked = hints_for_cells(board, pick) if pick is not None else {}
    return board_hints, picked, suggestion(board, replace_unpinned, now) if suggest else None


async def facilitator_login(request: Request) -> Response:
    """Exchange the secret link for a session cookie, then move to a URL without the secret.

    The right link always works: wrong ones are counted per link and per event
    (`Limits.wrong_link`), never per address, since behind a proxy everyone shares one.
    """
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    secret = request.path_params["secret"]
    stored = await v.runtime.store.facilitator_secret_hash(v.event.id)
    if stored is None or not same_hash(secret, stored):
        if await v.runtime.limits.wrong_link(v.event.id, secret):
            error = Forbidden(N_("Too many tries with wrong facilitator links. Wait a minute, then check the link."))
            response = refusal_page(v, error)
            response.status_code = 429
            return response
        return refusal_page(v, Forbidden(N_("This facilitator link is not valid. Check that you copied all of it.")))
    token = await v.runtime.service.open_facilitator_session(v.event.id)
    response = v.finish(RedirectResponse(v.url("facilitate", slug=v.event.slug), status_code=303))
    set_session_cookie(response, request, v.event, FACILITATOR_COOKIE, v.runtime.signer.sign(token))
    return response


async def facilitator_form(request: Request) -> tuple[Visit, Event, dict[str, str] | DomainError]:
    """The start of the facilitator's own posts (a new link, deleting the event): the visit, its
    event, and the form's fields once they passed the CSRF and Origin checks, or else the refusal,
    which anyone but the facilitator gets whatever they sent."""
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    if not v.actor.facilitator:
        return v, v.event, Forbidden(N_("Only the facilitator can do that."))
    try:
        return v, v.event, await read_form(request, v)
    except DomainError as error:
        return v, v.event, error


READY_SECONDS = 3600  # long enough to print the QR codes and copy the links; the link itself lasts


def links_ready(request: Request, v: Visit, event: Event, secret: str, token: str, rotated: bool = False) -> Response:
    """After a new event or a new facilitator link: redirect to the page that shows the links.

    Post/redirect/get (#19): reloading that page shows the same links again, where reloading the
    answer to the post made a second event (or yet another link). The secret goes along in a
    signed cookie that only that page receives, and is shown while it is still the event's link.
    """
    target = v.url("event_ready", slug=event.slug) + ("?rotated=1" if rotated else "")
    response = v.finish(RedirectResponse(target, status_code=303))
    set_session_cookie(response, request, event, FACILITATOR_COOKIE, v.runtime.signer.sign(token))
    response.set_cookie(
        READY_COOKIE,
        v.runtime.signer.sign(f"ready:{secret}"),
        max_age=READY_SECONDS,
        path=v.url("event_ready", slug=event.slug),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def event_ready(request: Request) -> Response:
    """The links of a new event, or a new facilitator link, with copy buttons and the QR code."""
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    slug = v.event.slug
    signed = v.runtime.signer.unsign(request.cookies.get(READY_COOKIE)) or ""
    secret = signed.removeprefix("ready:") if signed.startswith("ready:") else ""
    stored = await v.runtime.store.facilitator_secret_hash(v.event.id)
    if not v.actor.facilitator or not secret or stored is None or not same_hash(secret, stored):
        return v.finish(RedirectResponse(v.url("facilitate", slug=slug), status_code=303))
    return v.render(
        "event_created.html",
        participant_url=v.link("participant", slug=slug),
        facilitator_url=v.link("facilitator_login", slug=slug, secret=secret),
        projector_url=v.link("projector", slug=slug),
        rotated=request.query_params.get("rotated") == "1",
    )


async def rotate_link(request: Request) -> Response:
    """A new facilitator link: the old one stops working and every session opened with it ends."""
    v, event, form = await facilitator_form(request)
    if isinstance(form, DomainError):
        return refusal_page(v, form)
    secret = await v.runtime.service.rotate_facilitator_secret(event.id)
    # the service tells every process (the bus): open facilitator pages sign in again
    token = await v.runtime.service.open_facilitator_session(event.id)  # this browser stays in
    return links_ready(request, v, event, secret, token, rotated=True)


async def delete_event(request: Request) -> Response:
    """The facilitator deletes the event, typing its name to show they mean it."""
    v, event, form = await facilitator_form(request)
    if isinstance(form, dict) and form.get("confirm", "").strip() != event.name:
        form = Invalid(N_("Type the event's name exactly to delete it."), field="confirm")
    if isinstance(form, DomainError):
        if not v.actor.facilitator:
            return refusal_page(v, form)
        return await facilitate(request, v.again(form, {"_action": "event.delete"}))  # the board, with the message
    await v.runtime.service.delete_event(event.id)  # its photos' files go with it
    v.runtime.exports.forget(event.id)
    v.event = None
    response = v.render("deleted.html", name=event.name)
    for cookie in (PARTICIPANT_COOKIE, FACILITATOR_COOKIE):
        response.delete_cookie(cookie, path=v.url("participant", slug=event.slug))
    return response
