"""Accessibility, proven in chromium: axe-core (from the npm registry, injected into each page)
finds no WCAG 2.2 AA violation on any page, in Swedish or English."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Browser, Page

from tests.server import Server
from tests.web.test_browser import (  # noqa: F401  (fixtures)
    LAPTOP,
    PHONE,
    PROJECTOR,
    Watch,
    browser,
    context,
    fac_act,
    join,
    running_event,
    server,
    watch,
)

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
if not AXE.exists():
    if os.environ.get("OPENSPACE_REQUIRE_BROWSER"):
        raise RuntimeError(f"{AXE} is missing: `make test` installs axe-core from the npm registry")
    pytest.skip("axe-core is not installed (npm install axe-core@4.14.1)", allow_module_level=True)

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]


@pytest.fixture(scope="module")
def event(server: Server) -> Iterator[tuple[str, str, list[str]]]:
    """A running event with an announcement up: its strip is on every page (#19: it once broke lists)."""
    slug, link, topics = running_event(server.url)
    with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
        assert http.get(link.removeprefix(server.url)).status_code == 303  # signs in as the facilitator
        fac_act(http, slug, "announce", text="Lunch kl. 12 i caféet", minutes="120")
    yield slug, link, topics


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_page_has_no_violations(
    browser: Browser, server: Server, watch: Watch, event: tuple[str, str, list[str]], language: str
) -> None:
    slug, link, topics = event
    base = f"{server.url}/e/{slug}"
    found: dict[str, list[str]] = {}
    phone = context(browser, watch, PHONE, audit=True).new_page()
    phone.goto(f"{server.url}/")
    phone.get_by_role("button", name={"sv": "Svenska", "en": "English"}[language]).click()
    for path in ("/", "/new", f"/e/{slug}"):
        phone.goto(f"{server.url}{path}")
        found[path] = violations(phone)
    join(phone, server.url, slug, "Tillgänglig")
    for path in ("", f"/sessions/{topics[0]}", f"/sessions/{topics[0]}/report", "/news"):
        phone.goto(f"{base}{path}")
        found[f"participant {path}"] = violations(phone)
    laptop = context(browser, watch, LAPTOP, audit=True).new_page()
    laptop.goto(f"{server.url}/")
    laptop.get_by_role("button", name={"sv": "Svenska", "en": "English"}[language]).click()
    laptop.goto(link)
    for query in ("", f"?pick={topics[0]}", "?suggest=1", f"?merge={topics[0]}&merge={topics[1]}"):
        laptop.goto(f"{base}/facilitate{query}")
        found[f"facilitate {query}"] = violations(laptop)
    projector = context(browser, watch, PROJECTOR, audit=True).new_page()
    projector.goto(f"{base}/projector")
    found["projector"] = violations(projector)
    printouts = ("/print/rooms", "/print/reports", "/print/poster", "/print/poster?size=a4")
    for path in (*printouts, f"/topics/{topics[0]}/place", f"/topics/{topics[0]}/edit"):
        laptop.goto(f"{base}{path}")
        found[path] = violations(laptop)
    problems = {page: v for page, v in found.items() if v}
    assert not problems, "\n".join(f"{p}: {v}" for p, v in problems.items())
    assert re.match(r"sv|en", language)
