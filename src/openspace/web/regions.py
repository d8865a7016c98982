"""Live regions: the parts of a page that change, cut from the very page the server renders.

There is one source of markup (issue #14). A page marks each part that follows the board with
`data-region="NAME"` on its outer element and closes it with `<!--/NAME-->`. When a change
arrives, the page asks its own address again with an `X-Regions` header listing the hashes of
the regions it has; the answer is the same page rendered anew, of which only the regions whose
hash the page does not have are sent, and the page morphs them into place (static/js/regions.js).
So a page left open shows what the page loaded fresh would show, because it *is* that page,
minus what the person is doing in it.

Regions nest: a marketplace region holds one region per topic, an agenda one per row. A region's
hash covers its own markup only, each nested region in it standing as `<template
data-same="NAME">`; so when one topic of sixty changes and the list around it does not, the
answer is that topic alone (the page morphs it in where it is). When the list itself changed (a
topic added, the order), the list is sent with each nested region the page already has, whole,
as such a stub (without its closing marker), which the page fills from its own copy, marker and
all, before morphing: the bytes of what changed and one short stub per other item.

A region's name is inside its own markup, so equal hashes mean the same region unchanged: the
page sends hashes only, not names. Hashes leave out the per-render form ids (`_action_id`, new
for every render so that a no-script post is applied once), the CSRF token (the person's own,
so that a region is the same for everyone who sees the same: web/personal.py) and the
countdown's text (the page ticks it towards `data-until` itself): without that a region would
look changed at every render.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from openspace.web import packing

HEADER = "x-regions"
KEEP_ANSWERS = 8  # answers kept per cut page, the last ones made: the states its pages are in
KEEP_BYTES = 16_384  # a longer answer (every region: a page's first ask) is made, not kept
MAX_HEADER = 16_384  # about 1,800 hashes; past that the page is sent whole, never refused

NAME = re.compile(r'data-region="(?P<name>[\w-]+)"')  # begins with text: the search skips ahead fast
ACTION_ID = re.compile(r'(name="_action_id" value=")[^"]*(")')
CSRF = re.compile(r'(name="csrf" value=")[^"]*(")')
COUNTDOWN = re.compile(r"(<p [^>]*data-countdown[^>]*>)[^<]*")


@dataclass(frozen=True)
class Region:
    name: str
    start: int  # where its outer element begins in the page
    end: int  # where its closing marker begins


def find(html: str) -> list[Region]:
    """Every region of a rendered page, in document order (a region before the ones it holds).

    The attribute is searched for, then the tag it is in: a pattern for the whole tag was tried
    at every `<` of the page and took 1 ms of a joined phone's 128 KB page. Markup from people is
    escaped, so the attribute's text stands only inside a tag of the template's."""
    found = []
    for match in NAME.finditer(html):
        start = html.rfind("<", 0, match.start())
        tag = html[start : match.start()]
        if start < 0 or not tag[1:2].isalpha() or not tag[-1:].isspace() or ">" in tag:
            continue
        name = match.group("name")
        end = html.find(f"<!--/{name}-->", match.end())
        if end >= 0:
            found.append(Region(name, start, end))
    return found


def regions(html: str) -> dict[str, str]:
    """Every region by name, as its outer HTML (its closing marker left out)."""
    return {r.name: html[r.start : r.end] for r in find(html)}


def region_hash(html: str) -> str:
    """What a region looks like, in eight characters: equal hashes mean nothing to send."""
    steady = CSRF.sub(r"\1\2", ACTION_ID.sub(r"\1\2", html)) if "value=" in html else html
    if "data-countdown" in html:
        steady = COUNTDOWN.sub(r"\1", steady)
    return base64.urlsafe_b64encode(hashlib.blake2b(steady.encode(), digest_size=6).digest()).decode()


@lru_cache(maxsize=1024)
def own_hash(html: str) -> str:
    """`region_hash` of a person's own region, kept by its markup: those are the same few variants
    for everyone (web/personal.py), and a live page's every ask needs them. Bounded: a few KB each."""
    return region_hash(html)


def hashes_script(hashes: dict[str, str]) -> str:
    """The hashes of a page's regions, in the page: its first ask after a load sends them, and
    gets only what changed since, not every region (8.7 KB of a joined phone's page, and its
    whole cut on the server). Names and hashes are word characters: nothing to escape."""
    return f'<script type="application/json" id="os-hashes">{orjson.dumps(hashes).decode()}</script>'


def with_hashes(html: str) -> str:
    """A live page with its regions' hashes (`hashes_script`) before `</body>`."""
    at = html.rfind("</body>")
    hashes = Cut.of(html).hashes if at >= 0 and 'data-region="' in html else {}
    return html[:at] + hashes_script(hashes) + html[at:] if hashes else html


def wanted(header: str | None) -> set[str] | None:
    """The hashes a page says it has; None when the request is a plain page load."""
    if header is None:
        return None
    if len(header) > MAX_HEADER:
        return set()
    return set(header.split())


def stub(name: str) -> str:
    return f'<template data-same="{name}"></template>'


def nesting(found: list[Region]) -> dict[str, list[Region]]:
    """Each region's directly nested regions, in document order ("" holds the outermost)."""
    kids: dict[str, list[Region]] = {"": []}
    open_: list[Region] = []
    for region in found:
        while open_ and open_[-1].end < region.start:
            open_.pop()
        kids[open_[-1].name if open_ else ""].append(region)
        kids[region.name] = []
        open_.append(region)
    return kids


@dataclass(frozen=True)
class Encoded:
    """A live page's answer as sent: JSON, and gzipped when long enough to be worth it."""

    body: bytes
    gzipped: bytes | None


@dataclass(frozen=True)
class Cut:
    """A rendered page's regions, found, nested and hashed once.

    A page shared by many (web/personal.py, `Visit.shared_render`) is cut once and every live page's
    ask is answered from the cut: finding and hashing a joined phone's 78 regions took 2 ms, and
    a hall of phones asks after every change, so one change cost 2,000 phones 4 CPU-seconds."""

    html: str
    kids: dict[str, list[Region]]  # each region's directly nested ones ("" holds the outermost)
    hashes: dict[str, str]  # each region's own markup (nested regions as stubs), hashed
    kept: OrderedDict[tuple[Any, ...], Encoded] = field(default_factory=OrderedDict, compare=False, repr=False)

    @classmethod
    def of(cls, html: str) -> Cut:
        kids = nesting(find(html))

        def own(region: Region) -> str:  # its markup, each nested region a stub
            parts, at = [], region.start
            for inner in kids[region.name]:
                parts += [html[at : inner.start], stub(inner.name)]
                at = inner.end + len(f"<!--/{inner.name}-->")
            parts.append(html[at : region.end])
            return "".join(parts)

        return cls(html, kids, {r.name: region_hash(own(r)) for rs in kids.values() for r in rs})

    def answer(
        self, have: set[str], seq: int | None, own: dict[str, str] | None = None, hashes: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """What a page that has the regions hashed in `have` lacks: for each region whose own
        markup changed, the region, with the nested regions the page has whole as stubs; inside a
        region whose own markup did not change, only what changed in it. With the names of all
        outermost regions (the page's shape), and the hashes of the regions sent, nested ones
        included (the page keeps the hashes of what it was not sent).

        For one person's page made from a shared one, `own` holds their own regions' markup in
        place of the shared ones' (regions with none nested); `hashes`, all regions' with the
        person's own, if the caller has them already (`encoded`)."""
        html, kids, own = self.html, self.kids, own or {}
        if any(kids.get(name) for name in own):
            raise ValueError("only a region with none nested in it can be a person's own")
        if hashes is None:
            hashes = self.hashes | {name: own_hash(markup) for name, markup in own.items() if name in kids}
        regions_ = [r for rs in kids.values() for r in rs]
        whole: dict[str, bool] = {}
        for region in reversed(regions_):  # inner ones first: a region is whole when all inside it is
            whole[region.name] = hashes[region.name] in have and all(whole[i.name] for i in kids[region.name])
        changed: dict[str, str] = {}
        sent: dict[str, str] = {}

        def markup(region: Region) -> str:
            sent[region.name] = hashes[region.name]
            if region.name in own:
                return own[region.name]
            parts, at = [], region.start
            for inner in kids[region.name]:
                marker = f"<!--/{inner.name}-->"
                parts.append(html[at : inner.start])
                parts += [stub(inner.name)] if whole[inner.name] else [markup(inner), marker]
                at = inner.end + len(marker)
            parts.append(html[at : region.end])
            return "".join(parts)

        def visit(region: Region) -> None:
            if whole[region.name]:
                return
            if hashes[region.name] in have:
                for inner in kids[region.name]:
                    visit(inner)
            else:
                changed[region.name] = markup(region)

        for region in kids[""]:
            visit(region)
        return {"seq": seq, "outer": [r.name for r in kids[""]], "hashes": sent, "regions": changed}

    def encoded(self, have: set[str], seq: int | None, clock: str | None, own: dict[str, str] | None = None) -> Encoded:
        """`answer` with `clockChange`, encoded; kept for every page in the same state. After a
        change a hall of open pages asks at once, and all that lack the same regions (and have
        the same own regions among them) get the same bytes: their forms' CSRF token is the
        shared render's stand-in, which each page replaces with its own (static/js/regions.js)."""
        own = own or {}
        hashes = self.hashes | {name: own_hash(markup) for name, markup in own.items() if name in self.kids}
        lacking = frozenset(name for name, value in hashes.items() if value not in have)
        key = (seq, clock, lacking, tuple(sorted((n, m) for n, m in own.items() if n in lacking)))
        found = self.kept.get(key)
        if found is None:
            cut = self.answer(have, seq, own, hashes)
            cut["clockChange"] = clock
            body = orjson.dumps(cut)
            found = Encoded(body, packing.gzip_small(body) if len(body) >= packing.SMALL else None)
            if len(body) <= KEEP_BYTES:  # not every region at once: that is one per page load
                self.kept[key] = found
                while len(self.kept) > KEEP_ANSWERS:
                    self.kept.popitem(last=False)
        return found


@dataclass
class Pages:
    """Pages rendered once for many, each kept until the clock changes it; bounded, least
    recently used first out. The participant page for everyone (web/personal.py); and other
    pages' live asks by visitors who hold nothing of their own in them (`Visit.shared_render`)."""

    limit: int = 64
    entries: OrderedDict[tuple[str, ...], tuple[Any, str | None]] = field(default_factory=OrderedDict)
    renders: int = 0  # pages put here (for tests and the benchmark)

    def get(self, key: tuple[str, ...], now: str) -> Any:
        found = self.entries.get(key)
        if found is None:
            return None
        if found[1] is not None and now >= found[1]:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return found[0]

    def put(self, key: tuple[str, ...], page: Any, until: str | None) -> None:
        self.renders += 1
        self.entries[key] = (page, until)
        self.entries.move_to_end(key)
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)
