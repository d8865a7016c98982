"""What every page and form post starts from: the visit (who, which event, which language, which
CSRF token), reading a form safely, and answering with a page or a refusal.

The page modules (`public`, `facilitator`, `harvest`, `exports`) and the form endpoint (`routes`)
share these, so a check made here is made the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from openspace import i18n, logs
from openspace.domain.errors import N_, DomainError, Forbidden, Invalid, NotFound, SlowDown
from openspace.domain.model import Board, Event, Topic
from openspace.domain.projection import Audience
from openspace.domain.rules import Actor
from openspace.runtime import Runtime, runtime_of
from openspace.security import CSRF_COOKIE, LANG_COOKIE, csrf_ok, form_origin_ok, new_secret
from openspace.web import regions
from openspace.web.views import page_data, seq_data

YEAR = 365 * 24 * 3600
RETRY_AFTER = "10"  # seconds, on a refusal for going too fast: the refill of most budgets
SCRIPT_URLS_KEPT = 1024  # events whose scripts' addresses are kept (`Visit.script_urls`)
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
    # a page shown again after its form was refused: the refusal, and what the person typed
    error: DomainError | None = None
    values: dict[str, str] = field(default_factory=dict)

    def again(self, error: DomainError | None, values: dict[str, str]) -> Visit:
        """This visit, to show the page a form came from once more with its refusal and what was typed."""
        return replace(self, error=error, values=values)

    def url(self, name: str, /, **params: str) -> str:
        """A path by route name, from the app's one route table (`web.routes`)."""
        return self.runtime.renderer.url(name, **params)

    def link(self, name: str, /, **params: str) -> str:
        """A full link by route name, for QR codes and links people copy: the public base URL first."""
        return self.runtime.base_url + self.url(name, **params)

    @property
    def audience(self) -> Audience:
        return "facilitator" if self.actor.facilitator else "public"

    def render(
        self, template: str, status: int = 200, *, alike: tuple[str, ...] | None = None, **context: Any
    ) -> Response:
        """Render a page; a refusal passed as `error` sets the status and is shown translated.
        `alike` names all of a joined person's own that the page shows: a live page's asks are
        then answered from one render for everyone who has the same (`shared_render`)."""
        error = context.get("error")
        if isinstance(error, DomainError):
            status, context["error"] = error.status, error.to_dict(i18n.gettext)
        self.chrome(context)
        data = context.get("data")
        given: dict[str, Any] = data if isinstance(data, dict) else {}
        have = self.has()
        if have is not None:
            cut = self.shared_render(template, status, given, context, alike)
            return self.live_answer(cut.encoded(have, given.get("seq"), given.get("clockChange")), status)
        return self.answer(self.runtime.renderer.render(template, **context), status, given)

    def chrome(self, context: dict[str, Any], actor: Actor | None = None, csrf: str | None = None) -> dict[str, Any]:
        """What every page's template is given besides its own: the event, who is asking (or a
        stand-in, for a render shared by many: web/personal.py), the header's links."""
        context.update(
            event=self.event,
            actor=self.actor if actor is None else actor,
            csrf=self.csrf if csrf is None else csrf,
            request=self.request,
            path=self.request.url.path,
            base_url=self.runtime.base_url,
            join_url=self.link("participant", slug=self.event.slug) if self.event else "",
        )
        data = context.get("data")
        if isinstance(data, dict):
            data["here"] = self.here()
        return context

    def here(self) -> str | None:
        """Where this page asks for its live regions: its own address, unless it is a form's
        answer (a refusal shown at /act or /join), which has no address to ask again."""
        url = self.request.url
        return (url.path + (f"?{url.query}" if url.query else "")) if self.request.method == "GET" else None

    def has(self) -> set[str] | None:
        """The hashes of the regions a live page asking again has; None for a plain page load."""
        return regions.wanted(self.request.headers.get(regions.HEADER))

    def answer(
        self, html: str, status: int, data: dict[str, Any], gzipped: bytes | None = None, hashed: bool = False
    ) -> Response:
        """The page as HTML (or as `gzipped`, the same compressed: web/packing.py), a live page
        with its regions' hashes in it unless `hashed` says they are already; or, to a live page
        asking with the hashes of the regions it has, the regions of this same render that it
        lacks (web/regions.py)."""
        have = self.has()
        if have is not None:
            cut = regions.Cut.of(html)
            return self.live_answer(cut.encoded(have, data.get("seq"), data.get("clockChange")), status)
        if gzipped is not None:  # the gzip middleware lets a body with its encoding set through
            response = HTMLResponse(gzipped, status_code=status, headers={"content-encoding": "gzip"})
            response.headers["vary"] = "x-regions, accept-encoding"
            return self.finish(response)
        response = HTMLResponse(regions.with_hashes(html) if self.here() and not hashed else html, status_code=status)
        response.headers["vary"] = "x-regions"
        return self.finish(response)

    def live_answer(self, answer: regions.Encoded, status: int) -> Response:
        """A live page's regions (`regions.Cut.encoded`), gzipped if the browser takes it."""
        body, headers = answer.body, {"vary": "x-regions, accept-encoding"}
        if answer.gzipped is not None and "gzip" in self.request.headers.get("accept-encoding", ""):
            body, headers["content-encoding"] = answer.gzipped, "gzip"  # the middleware lets it through
        return self.finish(Response(body, status_code=status, media_type="application/json", headers=headers))

    def accepts_gzip(self) -> bool:
        return self.has() is None and "gzip" in self.request.headers.get("accept-encoding", "")

    def shared_render(
        self, template: str, status: int, data: dict[str, Any], context: dict[str, Any], alike: tuple[str, ...] | None
    ) -> regions.Cut:
        """The page for a live regions' ask, cut. Everyone who sees the same markup but for their
        CSRF token shares one render and cut per page, language, seq and clock, made with a
        stand-in token that each page replaces with its own (static/js/regions.js): visitors who
        have not joined (a phone that only follows the agenda, the projector), and joined people
        whose own state on the page (`alike`) is the same. A hall of phones asks after every
        change: a session page rendered per ask cost 1.0 ms, shared 0.1. Facilitators, and pages
        that do not say what of a person they show, are rendered for each ask (the participant
        page shares its own way: web/personal.py)."""
        renderer = self.runtime.renderer
        seq = data.get("seq")
        joined = self.actor.participant_id is not None
        if self.actor.facilitator or seq is None or status != 200 or (joined and alike is None):
            return regions.Cut.of(renderer.render(template, **context))
        who = ("joined", *(alike or ())) if joined else ("visitor",)
        key = (template, str(data.get("here")), i18n.current_language(), str(seq), *who)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        found: regions.Cut | None = renderer.shared.get(key, now)
        if found is None:
            found = regions.Cut.of(renderer.render(template, **context).replace(self.csrf, new_secret()))
            renderer.shared.put(key, found, data.get("clockChange"))
        return found

    def page_data(self, board: Board, audience: Audience) -> dict[str, Any]:
        assert self.event is not None
        epoch = self.runtime.epoch(self.event.id)
        # what is the same for everyone at a seq (the board's state as this audience sees it, the
        # next clock change, the script's strings) is made once and kept until that clock change:
        # a hall of open pages asks after every change, and making it took 0.28 ms of an ask
        renderer, now = self.runtime.renderer, datetime.now(UTC)
        key = (self.event.id, epoch, str(board.seq), audience, i18n.current_language())
        shared: dict[str, Any] | None = renderer.states.get(key, now.isoformat(timespec="seconds"))
        if shared is None:
            shared = seq_data(board, audience, now)
            renderer.states.put(key, shared, shared["clockChange"])
        data = page_data(board, audience, self.actor.participant_id, self.event.slug, epoch, self.csrf, shared)
        data["urls"] = self.script_urls(self.event.slug)
        return data

    def script_urls(self, slug: str) -> dict[str, str]:
        """The addresses a page's scripts link to or connect to, so that no script builds a path:
        one that names a topic or photo carries a `{topic}` or `{name}` for the script to fill in."""
        kept = self.runtime.renderer.script_urls.get(slug)
        if kept is not None:  # the same for every page of the event: made once per event
            return kept
        topic, name = {"topic": "{topic}"}, {"name": "{name}"}
        urls = {
            "act": self.url("act", slug=slug),
            "live": self.url("live", slug=slug),
            "facilitate": self.url("facilitate", slug=slug),
            "session": self.url("session", slug=slug, **topic),
            "report": self.url("report", slug=slug, **topic),
            "editTopic": self.url("edit_topic", slug=slug, **topic),
            "placeTopic": self.url("place_topic", slug=slug, **topic),
            "thumb": self.url("photo", slug=slug, **name, size="thumb"),
        }
        if len(self.runtime.renderer.script_urls) >= SCRIPT_URLS_KEPT:
            self.runtime.renderer.script_urls.clear()
        self.runtime.renderer.script_urls[slug] = urls
        return urls

    def finish(self, response: Response) -> Response:
        """The CSRF cookie lives as long as the session cookies: it also names the browser whose
        outbox is resent (`Actor.key`), so losing it early could apply a resent action twice."""
        secure = self.request.url.scheme == "https"
        if self.new_csrf:
            response.set_cookie(
                CSRF_COOKIE, self.csrf, max_age=YEAR, httponly=True, samesite="lax", secure=secure, path="/"
            )
        response.headers["cache-control"] = "no-store"
        return response


def requested_topic(board: Board, v: Visit) -> Topic | None:
    """The topic a page is about: from a re-rendered form's fields, else from the address."""
    topic = board.topics.get(v.values.get("topic") or v.request.path_params.get("topic", ""))
    return topic if topic is not None and topic.status != "merged" else None


async def page(request: Request, v: Visit | None = None) -> tuple[Visit, Event, Board]:
    """The start of every event page: who is visiting (or the visit whose form was refused, to show
    the page again), which event, and its board now."""
    v = v or await visit(request, request.path_params["slug"])
    assert v.event is not None
    try:
        board = await v.runtime.service.board(v.event.id)
    except NotFound:  # deleted between the lookup and now (retention, or the facilitator): gone
        raise HTTPException(404) from None
    return v, v.event, board


async def visit(request: Request, slug: str | None = None) -> Visit:
    runtime = runtime_of(request)
    event = None
    if slug is not None:
        event = await runtime.event(slug)
        if event is None:
            raise HTTPException(404)
        logs.EVENT.set(slug)  # every log line about this request names its event
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
    response = v.render("error.html", status=error.status, error=error.to_dict(i18n.gettext))
    if isinstance(error, SlowDown):  # a client that reads it (or a script) comes back no sooner
        response.headers["retry-after"] = RETRY_AFTER
    return response


def set_session_cookie(response: Response, request: Request, event: Event, name: str, value: str) -> None:
    """Scoped to the event's own path: one event's cookies are never even sent to another's pages."""
    response.set_cookie(
        name,
        value,
        max_age=YEAR,
        path=path_to(request, "participant", slug=event.slug),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def path_to(request: Request, name: str, /, **params: str) -> str:
    """A path by route name from the app's route table, as templates build theirs. (Starlette's
    `request.url_for` would add the host the request came by: links here stay paths.)"""
    return runtime_of(request).renderer.url(name, **params)
