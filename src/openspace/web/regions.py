"""Live regions: the parts of a page that change, cut from the very page the server renders.

There is one source of markup (issue #14). A page marks each part that follows the board with
`data-region="NAME"` on its outer element and closes it with `<!--/NAME-->`. When a change
arrives, the page asks its own address again with an `X-Regions` header listing the hashes of
the regions it has; the answer is the same page rendered anew, of which only the regions whose
hash the page does not have are sent, and the page morphs them into place (static/js/regions.js).
So a page left open shows what the page loaded fresh would show, because it *is* that page,
minus what the person is doing in it.

Regions nest: a marketplace region holds one region per topic, an agenda one per row. Inside a
region that is sent, a nested region the page already has goes as `<template data-same="NAME">`
(without its closing marker), which the page fills from its own copy, marker and all, before
morphing; so one changed topic in a list of sixty costs the bytes of that topic and sixty short
stubs, not of the list.

A region's name is inside its own markup, so equal hashes mean the same region unchanged: the
page sends hashes only, not names. Hashes leave out the per-render form ids (`_action_id`, new
for every render so that a no-script post is applied once) and the countdown's text (the page
ticks it towards `data-until` itself): without that a region would look changed at every render.
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
    steady = COUNTDOWN.sub(r"\1", ACTION_ID.sub(r"\1\2", html))
    return base64.urlsafe_b64encode(hashlib.blake2b(steady.encode(), digest_size=6).digest()).decode()


def wanted(header: str | None) -> set[str] | None:
    """The hashes a page says it has; None when the request is a plain page load."""
    if header is None:
        return None
    if len(header) > MAX_HEADER:
        return set()
    return set(header.split())


def answer(html: str, have: set[str], seq: int | None) -> dict[str, Any]:
    """The outermost regions the page lacks, with the nested regions it has as stubs; the names
    of all outermost regions (the page's shape); and the hashes of the regions sent, nested ones
    included (the page keeps the hashes of what it was not sent)."""
    found = find(html)
    hashes = {r.name: region_hash(html[r.start : r.end]) for r in found}
    changed: dict[str, str] = {}
    sent: dict[str, str] = {}
    outer = [r for r in found if not any(o.start < r.start < o.end for o in found)]
    for region in outer:
        if hashes[region.name] in have:
            continue
        sent[region.name] = hashes[region.name]
        parts, at = [], region.start
        for inner in found:
            if not (region.start < inner.start < region.end) or inner.start < at:
                continue  # not inside this region, or inside a stub already made
            if hashes[inner.name] in have:
                parts += [html[at : inner.start], f'<template data-same="{inner.name}"></template>']
                at = inner.end + len(f"<!--/{inner.name}-->")  # the page puts the marker back
            else:
                sent[inner.name] = hashes[inner.name]
        parts.append(html[at : region.end])
        changed[region.name] = "".join(parts)
    return {"seq": seq, "outer": [r.name for r in outer], "hashes": sent, "regions": changed}


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
