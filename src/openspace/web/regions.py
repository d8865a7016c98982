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
from typing import Any

HEADER = "x-regions"
MAX_HEADER = 16_384  # about 1,800 hashes; past that the page is sent whole, never refused

START = re.compile(r'<[a-z]+\b[^>]*?\sdata-region="(?P<name>[\w-]+)"[^>]*>')
ACTION_ID = re.compile(r'(name="_action_id" value=")[^"]*(")')
CSRF = re.compile(r'(name="csrf" value=")[^"]*(")')
COUNTDOWN = re.compile(r"(<p [^>]*data-countdown[^>]*>)[^<]*")


@dataclass(frozen=True)
class Region:
    name: str
    start: int  # where its outer element begins in the page
    end: int  # where its closing marker begins


def find(html: str) -> list[Region]:
    """Every region of a rendered page, in document order (a region before the ones it holds)."""
    found = []
    for match in START.finditer(html):
        name = match.group("name")
        end = html.find(f"<!--/{name}-->", match.end())
        if end >= 0:
            found.append(Region(name, match.start(), end))
    return found


def regions(html: str) -> dict[str, str]:
    """Every region by name, as its outer HTML (its closing marker left out)."""
    return {r.name: html[r.start : r.end] for r in find(html)}


def region_hash(html: str) -> str:
    """What a region looks like, in eight characters: equal hashes mean nothing to send."""
    steady = COUNTDOWN.sub(r"\1", CSRF.sub(r"\1\2", ACTION_ID.sub(r"\1\2", html)))
    return base64.urlsafe_b64encode(hashlib.blake2b(steady.encode(), digest_size=6).digest()).decode()


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


def answer(html: str, have: set[str], seq: int | None) -> dict[str, Any]:
    """What a page that has the regions hashed in `have` lacks: for each region whose own markup
    changed, the region, with the nested regions the page has whole as stubs; inside a region
    whose own markup did not change, only what changed in it. With the names of all outermost
    regions (the page's shape), and the hashes of the regions sent, nested ones included (the
    page keeps the hashes of what it was not sent)."""
    kids = nesting(find(html))

    def own(region: Region) -> str:  # its markup, each nested region a stub
        parts, at = [], region.start
        for inner in kids[region.name]:
            parts += [html[at : inner.start], stub(inner.name)]
            at = inner.end + len(f"<!--/{inner.name}-->")
        parts.append(html[at : region.end])
        return "".join(parts)

    regions_ = [r for rs in kids.values() for r in rs]
    hashes = {r.name: region_hash(own(r)) for r in regions_}
    whole: dict[str, bool] = {}
    for region in reversed(regions_):  # inner ones first: a region is whole when all inside it is
        whole[region.name] = hashes[region.name] in have and all(whole[i.name] for i in kids[region.name])
    changed: dict[str, str] = {}
    sent: dict[str, str] = {}

    def markup(region: Region) -> str:
        sent[region.name] = hashes[region.name]
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


@dataclass
class SharedRenders:
    """Pages rendered once for everyone who holds nothing of their own in them.

    Every ask renders the whole page for the person asking, which is what keeps a page left open
    equal to a fresh one, and costs a render per open page and burst of changes. A visitor who
    has not joined (a phone that only follows the agenda, the projector) sees the same markup as
    every other such visitor but for their CSRF token (the language form): their asks share one
    render per page, language, seq and clock, with the token swapped. Bounded, least recently used
    first out. Joined participants and facilitators are rendered for themselves (issue #14 leaves
    sharing those for later: their marks, check-ins and forms are in the markup).
    """

    limit: int = 256
    entries: OrderedDict[tuple[str, ...], tuple[str, str, str | None]] = field(default_factory=OrderedDict)

    def get(self, key: tuple[str, ...], csrf: str, now: str) -> str | None:
        found = self.entries.get(key)
        if found is None:
            return None
        html, token, until = found
        if until is not None and now >= until:  # the clock has changed the page since
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return html.replace(token, csrf) if token and csrf else html

    def put(self, key: tuple[str, ...], html: str, csrf: str, until: str | None) -> None:
        self.entries[key] = (html, csrf, until)
        self.entries.move_to_end(key)
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)


@dataclass
class Pages:
    """Pages rendered once for many (web/personal.py), each kept until the clock changes it;
    bounded, least recently used first out."""

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
