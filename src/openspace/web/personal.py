"""The participant page rendered once for everyone, and finished for each person (#14, #20).

A joined phone's page, and each of its live refreshes, was a whole render for that person: about
10 ms of CPU, so 2,000 phones cost 20 CPU-seconds per change, and a hall joining at once queued
behind the renders. Yet almost all of the page is the same for everyone who sees it at one seq
in one language: only a few parts are a person's own. So the page is rendered once per (event,
seq, address, language, kind of visitor: not joined or joined), for a stand-in who has nothing
of their own (no marks, no check-ins, no topics, no name) and a stand-in CSRF token, and kept
until the board changes (a new seq is a new key) or the clock would change it (`clockChange`).

Each person's own parts are regions of that page, rendered for them by the very same template
(`only` names the regions a render makes: templates/participant.html, _topics.html, _grid.html)
and spliced in where the stand-in's are:

- the banner (its countdown is the clock's, and announcements for online followers are theirs);
- the propose card (their name, their forms, the nudge to pitch their newest topic), once joined;
- the "my sessions" card: where they should be now and next, and in which room (#15);
- each topic they convene or marked, and each agenda row where they checked in;
- the page data's own keys (`views.OWN_KEYS`), the rest of which is serialised once;
- and their CSRF token, swapped for the stand-in's everywhere (region hashes leave it out, so a
  region is the same for everyone who sees the same: web/regions.py).

A live page asking again gets the regions it lacks, cut from the shared page with the person's
own regions in place (`regions.Cut.encoded`), with the stand-in's token, which the page replaces
with its own: so every page in the same state gets the same answer, made once.

Each of those parts is the same for everyone who has the same of it (a topic they marked, a row
where they checked in at one session), so each variant is rendered once per shared render, with
the stand-in's token and a stand-in name that the person's own (escaped) replaces.

The result is the page a whole render for the person makes, byte for byte but for each form's
fresh no-script id (tests/web/test_personal.py). Those ids are the ones rendered once: an id is
an idempotency key within one browser's actions (`Actor.key`), and one browser sees the same id
again only on the same form at the same seq, where a second post is the same action again.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from markupsafe import escape
from starlette.responses import Response

from openspace import i18n
from openspace.domain.model import Board
from openspace.domain.rules import Actor
from openspace.web import packing, regions
from openspace.web.base import Visit
from openspace.web.rendering import slot_states
from openspace.web.views import OWN_KEYS, BoardView, board_view, own_data

TEMPLATE = "participant.html"
DATA_START = '<script type="application/json" id="os-data">'
OWN_NAMES = ("banner", "propose", "mine", "join")  # the regions that may be a person's own
OWN_PREFIXES = ("t-", "row-")  # and those whose names begin so


class Only(frozenset[str]):
    """The regions a render for one person's own parts makes, as the templates ask about them."""

    @property
    def rows(self) -> bool:
        return any(name.startswith("row-") for name in self)

    @property
    def topics(self) -> bool:
        return any(name.startswith("t-") for name in self)


@dataclass
class Shared:
    """The page as rendered for the stand-in, with where its replaceable parts are."""

    html: str
    spans: dict[str, tuple[int, int]]  # region name -> where it is in `html`
    data_at: tuple[int, int]  # where the page data's JSON is
    pieces: dict[str, packing.Part]  # the page data's keys, each serialised as in the JSON ('"key": value')
    vm: BoardView
    token: str  # the stand-in's CSRF token
    until: str | None  # when the clock changes the page (UTC, ISO 8601)
    name: str = field(default_factory=lambda: secrets.token_urlsafe(16))  # the stand-in's name
    own: dict[tuple[str, ...], str] = field(default_factory=dict)  # people's own regions, by variant
    tokens: list[int] = field(default_factory=list)  # where the stand-in's token is in `html`
    stretches: packing.Stretches = field(default_factory=packing.Stretches)
    found: regions.Cut | None = None  # its regions, cut once for every live page's ask

    def cut(self) -> regions.Cut:
        if self.found is None:
            self.found = regions.Cut.of(self.html)
        return self.found


def json_piece(v: Visit, key: str, value: Any) -> str:
    """One key of the page data as Jinja's `tojson` writes it (sorted keys, HTML-safe)."""
    env = v.runtime.renderer.env
    dumps = env.policies["json.dumps_function"] or json.dumps
    kwargs = env.policies["json.dumps_kwargs"]
    text = f"{dumps(key)}: {dumps(value, **kwargs)}"
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")


def shared_page(v: Visit, board: Board, joined: bool) -> Shared:
    """The page for a stand-in visitor of this kind: nothing of their own, a token of its own."""
    assert v.event is not None
    stand_in = Actor(participant_id="-" if joined else None)
    token = secrets.token_urlsafe(32)
    vm = board_view(board, "public", slot_states(board))
    data = v.page_data(board, "public")
    data.update(own_data(board, "public", stand_in.participant_id, token, datetime.now(UTC)))
    context = v.chrome({"vm": vm, "data": data, "error": None, "values": {}}, actor=stand_in, csrf=token)
    html = v.runtime.renderer.render(TEMPLATE, **context)
    spans = {
        r.name: (r.start, r.end) for r in regions.find(html) if r.name in OWN_NAMES or r.name.startswith(OWN_PREFIXES)
    }
    start = html.index(DATA_START) + len(DATA_START)
    end = html.index("</script>", start)
    texts = {key: json_piece(v, key, value) for key, value in data.items() if key not in OWN_KEYS}
    pieces: dict[str, packing.Part] = {k: packing.Stretch(t) if len(t) >= packing.LONG else t for k, t in texts.items()}
    shared = Shared(html, spans, (start, end), pieces, vm, token, data.get("clockChange"))
    shared.tokens = [m.start() for m in re.finditer(re.escape(token), html)]
    return shared


def own_regions(v: Visit, board: Board, shared: Shared, own: dict[str, Any]) -> dict[str, str]:
    """The person's own regions. Each is the same for everyone who has the same of it (a topic
    they marked, or convene, a row where they checked in at a session, the banner at this second
    for those who follow online or not, the propose card but for the name), so each such variant
    is rendered once per shared render, for this person, with the stand-in's token and name."""
    me = v.actor.participant_id
    online = bool(own["online"])
    variants: dict[str, tuple[str, ...]] = {"banner": ("banner", own["serverNow"], str(online))}
    if me:
        nudge = shared.vm.pitch_nudge(me) if shared.vm.event.phase == "marketplace" else None
        variants["propose"] = ("propose", nudge.id if nudge else "")
        variants["mine"] = ("mine", *(k for stop in shared.vm.my_day(me, own) for k in stop.key()))
        marked = set(own["myInterests"])
        for topic in shared.vm.topics:
            mine, wants = topic.convened_by(me), topic.id in marked
            if mine or wants:
                variants[f"t-{topic.id}"] = (f"t-{topic.id}", str(mine), str(wants))
        for slot, topic_id in own["myAttendance"].items():
            variants[f"row-{slot}"] = (f"row-{slot}", topic_id, str(slot in own["myOnline"]))
    variants = {name: key for name, key in variants.items() if name in shared.spans}
    missing = {name for name, key in variants.items() if key not in shared.own}
    if missing:
        if "banner" in missing:  # a new second: the previous seconds' banners go
            for key in [k for k in shared.own if k[0] == "banner"]:
                del shared.own[key]
        vm = replace(shared.vm, now=own["serverNow"], online=online)
        context = {"vm": vm, "data": own, "error": None, "values": {}, "only": Only(missing)}
        v.chrome(context, actor=replace(v.actor, name=shared.name), csrf=shared.token)
        for name, markup in regions.regions(v.runtime.renderer.render_block(TEMPLATE, "main", **context)).items():
            if name in missing:
                shared.own[variants[name]] = markup
    name = str(escape(v.actor.name))
    return {
        n: shared.own[key].replace(shared.name, name) if n == "propose" else shared.own[key]
        for n, key in variants.items()
    }


def refused_region(v: Visit, shared: Shared, own: dict[str, Any]) -> dict[str, str]:
    """The one region that shows a refused form's message and what was typed: the propose card
    (where a joined person's forms report) or the join box. Rendered for this answer alone: a
    refusal used to be a whole render of the page for the person, about 65 ms with 500 topics,
    and a script posting refused forms in a loop held the event loop with them (#21)."""
    assert v.error is not None
    name = "propose" if v.actor.participant_id else "join"
    if name not in shared.spans:
        return {}
    vm = replace(shared.vm, now=own["serverNow"], online=bool(own["online"]))
    error = v.error.to_dict(i18n.gettext)
    context = {"vm": vm, "data": own, "error": error, "values": v.values, "only": Only({name})}
    v.chrome(context, csrf=shared.token)
    return {name: regions.regions(v.runtime.renderer.render_block(TEMPLATE, "main", **context))[name]}


def persons_regions(v: Visit, board: Board, shared: Shared) -> tuple[dict[str, Any], dict[str, str]]:
    """The page data's values that are this person's, and their own regions (with a refused
    form's message, if any), as markup with the stand-in's CSRF token."""
    own = own_data(board, "public", v.actor.participant_id, v.csrf, datetime.now(UTC))
    regions_ = own_regions(v, board, shared, own)
    if v.error is not None:
        regions_.update(refused_region(v, shared, own))
    return own, regions_


def finish(v: Visit, board: Board, shared: Shared) -> tuple[list[packing.Part], dict[str, Any]]:
    """The stand-in's page with this person's own parts spliced in, as parts (web/packing.py),
    and the page data's values the answer needs."""
    own, regions_ = persons_regions(v, board, shared)
    mine = {k: json_piece(v, k, own[k]) for k in OWN_KEYS}
    data: list[packing.Part] = ["{"]
    for key in sorted(shared.pieces.keys() | mine.keys()):
        data += [mine[key] if key in mine else shared.pieces[key], ", "]
    data[-1] = "}"
    places: list[tuple[tuple[int, int], list[packing.Part]]] = [
        (shared.spans[name], [markup.replace(shared.token, v.csrf)]) for name, markup in regions_.items()
    ]
    places += [(shared.data_at, data)]
    places += [((at, at + len(shared.token)), [v.csrf]) for at in shared.tokens]
    if v.here():  # a live page: its regions' hashes, for its first ask (regions.hashes_script)
        cut = shared.cut()
        mine_hashed = {name: regions.own_hash(markup) for name, markup in regions_.items() if name in cut.kids}
        body_end = shared.html.rindex("</body>")
        places += [((body_end, body_end), [regions.hashes_script(cut.hashes | mine_hashed)])]
    parts: list[packing.Part] = []
    html, at = shared.html, 0
    for (start, end), markup in sorted(places, key=lambda place: place[0]):
        if start < at:  # a token inside a part that was replaced whole
            continue
        parts += [shared.stretches.part(html, at, start), *markup]
        at = end
    parts.append(shared.stretches.part(html, at, len(html)))
    return parts, {"seq": board.seq, "clockChange": shared.until}


def participant_page(v: Visit, board: Board) -> Response:
    """The participant page for this person: the shared render for their kind of visitor, made
    if need be, with their own parts spliced in (and a refused form's message, if any)."""
    assert v.event is not None
    pages = v.runtime.renderer.pages
    joined = v.actor.participant_id is not None
    key = (v.event.id, str(board.seq), str(v.here()), i18n.current_language(), "joined" if joined else "anonymous")
    shared = pages.get(key, datetime.now(UTC).isoformat(timespec="seconds"))
    if not isinstance(shared, Shared):
        shared = shared_page(v, board, joined)
        pages.put(key, shared, shared.until)
    status = v.error.status if v.error is not None else 200
    have = v.has()
    if have is not None:  # a live page asking again: answered from the shared page's cut
        _, mine = persons_regions(v, board, shared)
        return v.live_answer(shared.cut().encoded(have, board.seq, shared.until, mine), status)
    parts, data = finish(v, board, shared)
    if v.accepts_gzip():
        return v.answer("", status, data, gzipped=packing.gzip(parts))
    return v.answer(packing.text(parts), status, data, hashed=True)
