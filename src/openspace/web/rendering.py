"""Rendering: the Jinja environment, hashed static URLs and QR codes.

Templates and static files live at the top of the repository and are packaged into the wheel as
`openspace.templates` and `openspace.static`, so an installed copy serves the same pages.
Static URLs carry one version hash over all files (`/static/<hash>/js/app.js`): ES modules import
each other by relative paths, which then stay inside the same version.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyphen
import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.routing import BaseRoute, NoMatchFound

from openspace import i18n
from openspace.assets import asset_dir
from openspace.domain.harvest import has_report
from openspace.domain.model import Board, Slot
from openspace.web.regions import Pages
from openspace.web.views import PHASE_LABELS, clock_text


def static_version(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=256)
def qr_svg(url: str) -> Markup:
    """An inline SVG QR code; inline so it needs no request and no `img-src` exception."""
    svg = segno.make(url, error="m").svg_inline(scale=8, border=2, dark="#000", light="#fff", omitsize=True)
    return Markup(svg)  # noqa: S704 - segno's own output, the URL inside is ours and escaped by segno


def slot_states(board: Board, now: datetime | None = None) -> dict[str, str]:
    """Which slot is on now and which comes next, by the clock in the event's time zone."""
    zone = ZoneInfo(board.event.timezone)
    local = (now or datetime.now(zone)).astimezone(zone)
    day, clock = local.date().isoformat(), local.strftime("%H:%M")
    states: dict[str, str] = {}
    upcoming: list[Slot] = []
    for slot in board.ordered_slots():
        if slot.day == day and slot.start <= clock < slot.end:
            states[slot.id] = "now"
        elif (slot.day, slot.start) > (day, clock):
            upcoming.append(slot)
    if upcoming:
        states[upcoming[0].id] = "next"
    return states


WORD = re.compile(r"\w{10,}")


@lru_cache(maxsize=4)
def _hyphenator(language: str) -> pyphen.Pyphen:
    return pyphen.Pyphen(lang=language if language in pyphen.LANGUAGES else "en")


def hyphenate(text: str, language: str) -> str:
    """Soft hyphens at the hyphenation points of long words (#15): chromium has no Swedish
    hyphenation dictionary of its own, so a long compound in a narrow projector cell would
    otherwise break anywhere ("folkbibliote|ken"). Short words are left alone, so a title
    reads (and is found) as typed wherever it is not broken."""
    hyphens = _hyphenator(language)
    return WORD.sub(lambda m: hyphens.inserted(m.group(0), hyphen="\u00ad"), text)


class Renderer:
    def __init__(self) -> None:
        self.shared = Pages(limit=256)  # live regions' asks by visitors with nothing of their own
        self.pages = Pages()  # participant pages rendered once for everyone (web/personal.py)
        self.script_urls: dict[str, dict[str, str]] = {}  # by event slug (`Visit.script_urls`)
        self.states = Pages()  # page data the same for everyone at a seq (views.seq_data), by event, epoch, seq
        self.static_root = asset_dir("static")
        self.version = static_version(self.static_root)
        self.env = Environment(
            loader=FileSystemLoader(str(asset_dir("templates"))),
            autoescape=select_autoescape(default=True, default_for_string=True),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
        self.env.globals.update(
            static=self.static_url,
            format_day=i18n.format_day,
            clock_text=clock_text,
            phase_labels=PHASE_LABELS,
            qr_svg=qr_svg,
            languages=i18n.LANGUAGE_NAMES,
            has_report=has_report,  # a session can get dots only once its report has text
            # each rendered form carries its own id: a double-click or a resent post applies once
            new_action_id=lambda: secrets.token_urlsafe(12),
            url=self.url,
        )
        self.env.filters["hyphenate"] = hyphenate
        self.routes: dict[str, list[BaseRoute]] = {}

    def use_routes(self, routes: Iterable[BaseRoute]) -> None:
        """Templates build links by route name (`url("session", slug=…, topic=…)`) from the app's
        route table, so a path is written once, in `web.routes`; the app hands it over once built."""
        self.routes = {}
        for route in routes:
            self.routes.setdefault(getattr(route, "name", ""), []).append(route)

    def url(self, name: str, /, **params: Any) -> str:
        """As Starlette's `url_path_for`, but asking only the routes of that name: a board page
        makes hundreds of links, and trying each route of the table in turn made it 40 % slower."""
        for route in self.routes.get(name, []):
            try:
                return str(route.url_path_for(name, **params))
            except NoMatchFound:
                continue
        raise NoMatchFound(name, params)

    def static_url(self, path: str) -> str:
        return self.url("static", version=self.version, path=path)

    def warm(self) -> None:
        """Compile every template now, not at its first use. Compiling report.html took 74 ms of
        the event loop the first time anyone's upload was answered (the abuse bench's uploads,
        during a measured phase): a stall for every screen of every event, once per template.
        The server calls it when it is up, before the heap is frozen; the tests' apps do not."""
        for name in self.env.list_templates(extensions=["html"]):
            self.env.get_template(name)

    def render(self, template: str, **context: Any) -> str:
        context.setdefault("lang", i18n.current_language())
        return self.env.get_template(template).render(**context)

    def render_block(self, template: str, block: str, **context: Any) -> str:
        """One block of a page, alone (the person's own regions of a shared page: personal.py)."""
        context.setdefault("lang", i18n.current_language())
        page = self.env.get_template(template)
        return "".join(page.blocks[block](page.new_context(context)))
