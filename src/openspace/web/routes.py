"""HTTP routes: every page and form post of the web layer in one named table, and the form endpoint.

Every route has a name, and every link is built from it (`request.url_path_for` in Python, `url()`
in templates, the page data's `urls` in scripts), so a path is written once: here.

Every form posts to one endpoint, `act`, which calls the same `Service.execute` as the websocket
does. On success it redirects back (post/redirect/get); on a refusal it renders the page the form
came from again, with the message and everything the person typed still in place. Which pages a
form may return to is the explicit table `RETURNS`, next to the routes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, Router

from openspace.domain.errors import DomainError, SlowDown
from openspace.web.base import FORM_LIMIT, Visit, form_fields, read_form, refusal_page, visit
from openspace.web.exports import export, my_calendar, read_proceedings
from openspace.web.facilitator import delete_event, event_ready, facilitate, facilitator_login, rotate_link
from openspace.web.feeds import calendar_page, event_feed, personal_feed, revoke
from openspace.web.harvest import UPLOAD_LIMIT, news, photo, print_reports, report_page, upload_photos
from openspace.web.public import (
    UNDO_ACTION,
    UNDO_FIELD,
    choose_language,
    edit_topic,
    home,
    join,
    new_event,
    participant,
    place_topic,
    print_poster,
    print_rooms,
    projector,
    qr,
    room,
    session_page,
    state_json,
    unsealed_withdrawal,
)
from openspace.web.webhooks import add_webhook, remove_webhook, webhooks_page

ANCHOR = re.compile(r"[A-Za-z][\w-]{0,40}")
# The fields that steer the form endpoint start with "_" (and csrf, which every form has): an
# action's arguments never do, so no argument can take their names (#19: `action.remove` takes
# an `action` argument, which once collided with the field that named the action).
ACTION_FIELD, RETURN_FIELD, ANCHOR_FIELD, ID_FIELD, PREVIEW_FIELD = (
    "_action",
    "_return_to",
    "_anchor",
    "_action_id",
    "_preview",
)


@dataclass(frozen=True)
class ReturnPage:
    """A page a form may come from: how to show it again on a refusal, and where to go on success
    (a route by name, and the anchor to land on unless the form names its own)."""

    show: Callable[[Request, Visit], Awaitable[Response]]
    route: str
    anchor: str = ""


RETURNS = {
    "participant": ReturnPage(participant, "participant", "marketplace"),
    "facilitate": ReturnPage(facilitate, "facilitate"),
    "edit": ReturnPage(edit_topic, "participant"),
    "place": ReturnPage(place_topic, "participant", "agenda"),
    "session": ReturnPage(session_page, "session"),
    "report": ReturnPage(report_page, "report"),
    "news": ReturnPage(news, "news"),
}


async def act(request: Request) -> Response:
    """The one form endpoint: every action of every page, for people without JavaScript."""
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    values: dict[str, str] = {}
    back = RETURNS["participant"]
    try:
        refusal = await hopeless(request, v)
        if refusal is not None:
            return refusal_page(v, refusal)
        values = await form_fields(request)
        back = RETURNS.get(values.get(RETURN_FIELD, ""), back)  # known before the checks, to answer there
        values = await read_form(request, v, values)
        if back.route == "report" and values.get(PREVIEW_FIELD):
            await v.runtime.limits.preview(request, v.actor)
            return await back.show(request, v.again(None, values))  # show the preview, save nothing
        name = values.get(ACTION_FIELD, "")
        args: dict[str, Any] = {key: value for key, value in values.items() if not key.startswith("_")}
        action_id = values.get(ID_FIELD) or None
        await v.runtime.limits.action(request, v.event.id, v.actor, name)
        internal = name == UNDO_ACTION
        if internal:  # the rows come from the server's own seal, never from the form
            args = {"rows": unsealed_withdrawal(v, args.get(UNDO_FIELD, ""))}
        result = await v.runtime.service.execute(v.event.id, v.actor, name, args, action_id, internal=internal)
    except SlowDown as error:
        if error.field and not v.runtime.limits.flooding(request, v.actor):
            # a person's own pace (a few topics a minute): the form again, what they typed kept
            return await back.show(request, v.again(error, values))
        # too fast: a small page, not the board's (a flood of refusals must cost little, #21)
        return refusal_page(v, error)
    except DomainError as error:
        # every refusal goes back to the page the form came from, with what was typed (and the
        # action's name in ACTION_FIELD); the pages themselves refuse anyone who may not see them.
        # From an address refused again and again, the short page (a flood must cost little).
        v.runtime.limits.refused(request, v.actor)
        if v.runtime.limits.flooding(request, v.actor):
            return refusal_page(v, error)
        return await back.show(request, v.again(error, values))
    anchor = values.get(ANCHOR_FIELD, "")
    anchor = anchor if ANCHOR.fullmatch(anchor) else back.anchor
    path = return_path(v, back, v.event.slug, values)
    if name == "topic.withdraw" and isinstance(result.get("withdrawn"), dict):  # the page offers an undo (#15)
        seal = {"event": v.event.id, "who": v.actor.key, "rows": result["withdrawn"]}
        path += "?" + urlencode({UNDO_FIELD: v.runtime.signer.seal(seal, UNDO_ACTION)})
    return v.finish(RedirectResponse(path + anchor_part(anchor), 303))


PEEK = re.compile(
    rb"(?:^|&)(%b|%b|%b)=([A-Za-z0-9._]*)(?=&|$)"
    % (ACTION_FIELD.encode(), PREVIEW_FIELD.encode(), RETURN_FIELD.encode())
)


async def hopeless(request: Request, v: Visit) -> SlowDown | None:
    """A form that its sender's flood will refuse anyway, told from the raw body's action and
    preview fields without decoding the rest (Limits.hopeless)."""
    if not v.runtime.limits.flooding(request, v.actor):
        return None
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    if int(request.headers.get("content-length") or 0) > FORM_LIMIT:
        return None  # refused as too long when read
    fields = {key.decode(): value.decode() for key, value in PEEK.findall(await request.body())}
    preview = bool(fields.get(PREVIEW_FIELD)) and fields.get(RETURN_FIELD) == "report"
    assert v.event is not None
    return v.runtime.limits.hopeless(request, v.event.id, v.actor, fields.get(ACTION_FIELD, ""), preview)


def return_path(v: Visit, back: ReturnPage, slug: str, values: dict[str, str]) -> str:
    """The page to go back to; a session's or report's page is the one of the form's own topic."""
    if back.route in ("session", "report"):
        topic = values.get("topic", "")
        if topic and "/" not in topic:
            return v.url(back.route, slug=slug, topic=topic)
        return v.url("participant", slug=slug)
    return v.url(back.route, slug=slug)


def anchor_part(anchor: str) -> str:
    return f"#{anchor}" if anchor else ""


Endpoint = Callable[[Request], Awaitable[Response]]


def post(path: str, endpoint: Endpoint, name: str, limit: int = FORM_LIMIT * 2) -> Route:
    """A form post; its body is capped by the route, so a larger one is refused before it is read."""
    return Route(path, endpoint, name=name, methods=["POST"], max_body_size=limit)


ROUTES = [
    Route("/", home, name="home"),
    Route("/new", new_event, name="new_event", methods=["GET", "POST"], max_body_size=FORM_LIMIT * 2),
    post("/lang", choose_language, "language"),
    Route("/e/{slug}", participant, name="participant"),
    post("/e/{slug}/join", join, "join"),
    post("/e/{slug}/act", act, "act"),
    Route("/e/{slug}/topics/{topic}/edit", edit_topic, name="edit_topic"),
    Route("/e/{slug}/topics/{topic}/place", place_topic, name="place_topic"),
    Route("/e/{slug}/sessions/{topic}", session_page, name="session"),
    Route("/e/{slug}/sessions/{topic}/report", report_page, name="report"),
    post("/e/{slug}/sessions/{topic}/photos", upload_photos, "upload_photos", limit=UPLOAD_LIMIT),
    Route("/e/{slug}/photos/{name}", photo, name="photo"),
    Route("/e/{slug}/photos/{name}/{size}", photo, name="photo"),
    Route("/e/{slug}/news", news, name="news"),
    Route("/e/{slug}/rooms/{space}", room, name="room"),
    Route("/e/{slug}/print/rooms", print_rooms, name="print_rooms"),
    Route("/e/{slug}/print/reports", print_reports, name="print_reports"),
    Route("/e/{slug}/print/poster", print_poster, name="print_poster"),
    Route("/e/{slug}/projector", projector, name="projector"),
    Route("/e/{slug}/facilitate", facilitate, name="facilitate"),
    Route("/e/{slug}/f/{secret}", facilitator_login, name="facilitator_login"),
    Route("/e/{slug}/ready", event_ready, name="event_ready"),
    post("/e/{slug}/delete", delete_event, "delete_event"),
    post("/e/{slug}/rotate", rotate_link, "rotate_link"),
    Route("/e/{slug}/state.json", state_json, name="state"),
    Route("/e/{slug}/qr.svg", qr, name="qr"),
    Route("/e/{slug}/export/{fmt}", export, name="export"),
    Route("/e/{slug}/proceedings", read_proceedings, name="proceedings"),
    Route("/e/{slug}/my.ics", my_calendar, name="my_calendar"),
    # the world outside the room (#18): calendar feeds and webhooks
    Route("/e/{slug}/calendar", calendar_page, name="calendar"),
    Route("/e/{slug}/calendar.ics", event_feed, name="calendar_feed"),
    Route("/e/{slug}/calendar/{secret}.ics", personal_feed, name="my_feed"),
    post("/e/{slug}/calendar/revoke", revoke, "calendar_revoke"),
    Route("/e/{slug}/webhooks", webhooks_page, name="webhooks"),
    post("/e/{slug}/webhooks/add", add_webhook, "webhook_add"),
    post("/e/{slug}/webhooks/{webhook}/remove", remove_webhook, "webhook_remove"),
]


def path_for(name: str, /, **params: str) -> str:
    """A path by route name outside any request: the command line prints an event's links."""
    return str(Router(ROUTES).url_path_for(name, **params))
