"""HTTP routes: server-rendered pages that work without JavaScript, and the form posts behind them.

Every form posts to one endpoint, `/e/<slug>/act`, which calls the same `Service.execute` as the
websocket does. On success it redirects back (post/redirect/get); on a refusal it renders the
page the form came from again, with the message and everything the person typed still in place.

The pages themselves live in `web_public` (anyone with the link) and `web_facilitator`; what
they share in `web_base`, whose names this module still offers to the harvest and export pages.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openspace.domain.errors import DomainError
from openspace.web.base import (
    FORM_LIMIT,
    YEAR,
    Visit,
    form_fields,
    page,
    read_form,
    refusal_page,
    requested_topic,
    set_session_cookie,
    visit,
)
from openspace.web.facilitator import delete_event, facilitate, facilitator_login, rotate_link
from openspace.web.public import (
    choose_language,
    edit_topic,
    home,
    join,
    new_event,
    participant,
    place_topic,
    print_rooms,
    projector,
    qr,
    room,
    session_page,
    state_json,
)

__all__ = [
    "FORM_LIMIT",
    "ROUTES",
    "YEAR",
    "Visit",
    "act",
    "page",
    "read_form",
    "refusal_page",
    "register",
    "requested_topic",
    "set_session_cookie",
    "visit",
]

ANCHOR = re.compile(r"[A-Za-z][\w-]{0,40}")

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
            v.runtime.limits.preview(request, v.actor)
            return await PAGES[page](request, v, None, values)  # show the preview, save nothing
        name = values.pop("action", "")
        action_id = values.pop("action_id", None) or None
        v.runtime.limits.action(request, v.event.id, v.actor)
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
