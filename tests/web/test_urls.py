"""URLs are built by route name from one table (`web.routes`), and the form endpoint's table of
return pages is written out there too, not filled in by importing other modules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.routing import Match, NoMatchFound, Route
from starlette.testclient import TestClient

from openspace.web.routes import RETURNS, ROUTES, path_for
from tests.conftest import act, create_event, join
from tests.live.test_ws import page_data

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "openspace" / "web"
ROUTE_LINE = re.compile(r'^\s*(Route|post)\("/e/')  # the table itself: the one place a path is written


def sources() -> list[Path]:
    """Where links are made: templates, the web layer, page scripts, and the CLI's printed links."""
    return [
        *sorted((ROOT / "templates").glob("*.html")),
        *sorted(WEB.glob("*.py")),
        *sorted((ROOT / "static" / "js").glob("*.js")),
        ROOT / "src" / "openspace" / "cli.py",
        ROOT / "src" / "openspace" / "links.py",
    ]


def test_no_event_path_is_written_by_hand_outside_the_route_table() -> None:
    """A path like `/e/<slug>/…` is written once, in `web.routes`; everywhere else it comes by name."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "/e/" in line and not (path == WEB / "routes.py" and ROUTE_LINE.match(line))
    ]
    assert not found, "build these from the route's name instead:\n" + "\n".join(found)


def test_every_route_name_a_template_uses_is_in_the_table(client: TestClient) -> None:
    """A renamed route cannot leave a dead link in a template that no test happens to render."""
    names = {route.name for route in client.app.routes}  # type: ignore[attr-defined]
    used = {
        match
        for template in (ROOT / "templates").glob("*.html")
        for match in re.findall(r"""url\(\s*'(\w+)'""", template.read_text())
    }
    assert used and used <= names, used - names


def test_the_addresses_a_script_gets_are_routes_of_the_app(client: TestClient) -> None:
    """Page data hands scripts every address they use; each, filled in, is a route of the app."""
    event = create_event(client)
    lisa = join(client, event)
    urls = page_data(lisa, event.path)["urls"]
    assert {"act", "live", "facilitate", "session", "report", "editTopic", "placeTopic", "thumb"} <= set(urls)
    routes = client.app.routes  # type: ignore[attr-defined]
    for name, template in urls.items():
        path = template.replace("{topic}", "t1").replace("{name}", "p1.jpg")
        kind = "websocket" if name == "live" else "http"
        scope = {"type": kind, "path": path, "method": "GET"}
        assert any(route.matches(scope)[0] != Match.NONE for route in routes), (name, path)
        assert path.startswith(event.path + "/") or path == event.path, (name, path)


def test_the_renderer_builds_links_by_name_and_refuses_an_unknown_one(client: TestClient) -> None:
    """Templates' `url()` picks the route of that name whose parameters fit, as `url_path_for` does."""
    renderer = client.app.state.runtime.renderer  # type: ignore[attr-defined]
    assert renderer.url("photo", slug="a", name="p.jpg") == "/e/a/photos/p.jpg"
    assert renderer.url("photo", slug="a", name="p.jpg", size="thumb") == "/e/a/photos/p.jpg/thumb"
    assert renderer.url("live", slug="a") == "/e/a/ws"
    assert renderer.url("home") == "/"
    with pytest.raises(NoMatchFound):
        renderer.url("nowhere")
    with pytest.raises(NoMatchFound):
        renderer.url("session", slug="a")  # a parameter missing


def test_the_cli_builds_its_links_from_the_same_table() -> None:
    assert path_for("participant", slug="abc") == "/e/abc"
    assert path_for("facilitator_login", slug="abc", secret="s3") == "/e/abc/f/s3"
    assert path_for("photo", slug="abc", name="p.jpg", size="thumb") == "/e/abc/photos/p.jpg/thumb"


def test_every_route_of_the_web_layer_has_a_name_of_its_own() -> None:
    """Names are given, not taken from the function: a renamed function keeps its links working.
    One name stands for two routes only where they are one page (a photo, and its thumbnail)."""
    named = [route for route in ROUTES if isinstance(route, Route)]
    assert all(route.name for route in named)
    shapes: dict[str, set[str]] = {}
    for route in named:
        shapes.setdefault(route.name, set()).add(route.path)
    assert {name for name, paths in shapes.items() if len(paths) > 1} == {"photo"}


def test_the_return_pages_are_one_explicit_table_without_import_side_effects() -> None:
    """Importing the form endpoint alone knows every page a form may return to (the harvest's too),
    since no other module has to be imported first to register its pages."""
    code = "from openspace.web.routes import RETURNS; print(' '.join(sorted(RETURNS)))"
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert alone.stdout.split() == sorted(RETURNS)
    used = set()
    for template in (ROOT / "templates").glob("*.html"):
        text = template.read_text()
        used |= set(re.findall(r'(?:hidden|button_form)\(csrf, (?:[\w.]+, )?"[\w.]+", "(\w+)"', text))
    for script in (ROOT / "static" / "js").glob("*.js"):
        used |= set(re.findall(r'return_to: "(\w+)"', script.read_text()))
    assert used == set(RETURNS), used ^ set(RETURNS)


def test_a_form_returns_to_its_page_by_route_name(client: TestClient) -> None:
    """After an action, the form endpoint redirects to the page named in RETURNS, with the form's
    own anchor if it names one; a session page without a topic falls back to the event's page."""
    event = create_event(client)
    lisa = join(client, event)
    assert act(lisa, event, "me.rename", "news", name="Lisa A").headers["location"] == f"{event.path}/news"
    moved = act(lisa, event, "me.rename", "participant", name="Lisa B", _anchor="propose")
    assert moved.headers["location"] == f"{event.path}#propose"
    assert act(lisa, event, "me.rename", "place", name="Lisa C").headers["location"] == f"{event.path}#agenda"
    assert act(lisa, event, "me.rename", "session", name="Lisa D").headers["location"] == event.path
