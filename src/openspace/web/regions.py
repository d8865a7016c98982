"""Live regions: the parts of a page that change, cut from the very page the server renders.

There is one source of markup (issue #14). A page marks each part that follows the board with
`data-region="NAME"` on its outer element and closes it with `<!--/NAME-->`. When a change
arrives, the page asks its own address again with an `X-Regions` header that carries, as JSON,
the hash of each region as it last got it; the answer is the same page rendered anew, of which
only the regions whose hash differs are sent, and the page morphs them into place
(static/js/regions.js). So a page left open shows what the page loaded fresh would show,
because it *is* that page, minus what the person is doing in it.

Hashes leave out the per-render form ids (`action_id`, new for every render so that a no-script
post is applied once) and the countdown's text (the page ticks it towards `data-until` itself):
without that a region would look changed at every render.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

HEADER = "x-regions"
MAX_HEADER = 4096  # a page has a handful of regions: 16-character hashes fit many times over

REGION = re.compile(r'<(?P<tag>[a-z]+)\b[^>]*?\sdata-region="(?P<name>[\w-]+)"[^>]*>.*?<!--/(?P=name)-->', re.S)
ACTION_ID = re.compile(r'(name="action_id" value=")[^"]*(")')
COUNTDOWN = re.compile(r"(<p [^>]*data-countdown[^>]*>)[^<]*")


def regions(html: str) -> dict[str, str]:
    """Every region of a rendered page, by name, as its outer HTML (the closing marker left out)."""
    found: dict[str, str] = {}
    for match in REGION.finditer(html):
        name = match.group("name")
        found[name] = match.group(0)[: -len(f"<!--/{name}-->")]
    return found


def region_hash(html: str) -> str:
    """What a region looks like, short: equal hashes mean nothing to send."""
    steady = COUNTDOWN.sub(r"\1", ACTION_ID.sub(r"\1\2", html))
    return hashlib.blake2b(steady.encode(), digest_size=8).hexdigest()


def wanted(header: str | None) -> dict[str, str] | None:
    """The hashes a page says it has; None when the request is a plain page load."""
    if header is None:
        return None
    if len(header) > MAX_HEADER:
        return {}
    try:
        have = orjson.loads(header)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(have, dict):
        return {}
    return {str(k): str(v) for k, v in have.items()}


def answer(html: str, have: dict[str, str], seq: int | None) -> dict[str, Any]:
    """The regions that differ from what the page has, with every current hash and the seq they show."""
    changed: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for name, part in regions(html).items():
        hashes[name] = region_hash(part)
        if have.get(name) != hashes[name]:
            changed[name] = part
    return {"seq": seq, "hashes": hashes, "regions": changed}
