"""docs/protocol.md says what the code does (#19 point 8): the rules a reader is most likely to
rely on are checked against the code's own numbers here, so the two cannot drift apart again."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from openspace.limits import WRONG_LINK, WRONG_LINKS_EVENT, parse_rate
from openspace.live.feed import Feed
from openspace.live.hub import CLOSE_REAUTH
from openspace.service import Service
from openspace.web import facilitator

PROTOCOL = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")


def flat(text: str) -> str:
    return " ".join(text.split())


def row(route: str) -> str:
    """One row of the HTTP endpoints table."""
    found = [line for line in PROTOCOL.splitlines() if line.startswith(f"| {route} |")]
    assert len(found) == 1, route
    return found[0]


def test_wrong_facilitator_links_are_limited_per_secret_and_per_event_as_documented() -> None:
    per_link, per_event = (parse_rate(spec)[0] for spec in (WRONG_LINK, WRONG_LINKS_EVENT))
    assert not re.search(r"facilitator links[^.]*per (client )?address", PROTOCOL, re.S)
    security = flat(PROTOCOL[PROTOCOL.index("* **Secrets:**") :].split("\n* ")[0])
    assert "per secret and per event" in security and f"{per_link} times a minute" in security
    assert f"{per_event} wrong secrets a minute" in security
    limits = PROTOCOL[PROTOCOL.index("* **Limits:**") :].split("\n* ")[0]
    assert f"{per_link} a minute per wrong secret and {per_event} a minute per event" in flat(limits)


def test_rotating_the_link_closes_facilitator_sockets_as_documented() -> None:
    # the route rotates; the service announces it on the bus, and every process's feed closes
    # its facilitator sockets (issue #13: not only this process's)
    assert "rotate_facilitator_secret" in inspect.getsource(facilitator.rotate_link)
    assert 'Notice(event_id, "reauth")' in inspect.getsource(Service.rotate_facilitator_secret)
    assert "close_audience" in inspect.getsource(Feed.take)
    rotate = row("POST `/e/{slug}/rotate`")
    assert f"closed with **{CLOSE_REAUTH}**" in rotate and "keep the audience" not in rotate
    note = flat(PROTOCOL[PROTOCOL.index("7. Each visit to the facilitator link") :].split("\n8. ")[0])
    assert f"closes the event's facilitator sockets with {CLOSE_REAUTH}" in note
