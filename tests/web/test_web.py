"""The pages and form posts, through Starlette's TestClient."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import ORIGIN, act, create_event, csrf_of, join, new_browser, setup_grid, state


def test_home_and_new_event_pages(client: TestClient) -> None:
    assert "openspace" in client.get("/").text
    assert 'name="theme"' in client.get("/new").text


def test_creating_an_event_shows_the_secret_once_and_logs_the_creator_in(client: TestClient) -> None:
    event = create_event(client)
    page = event.facilitator.get(f"{event.path}/facilitate")
    assert page.status_code == 200 and 'id="grid-h"' in page.text
    assert event.facilitator_url.split("/f/")[1] not in page.text  # the secret is not shown again


def test_facilitator_link_becomes_a_session_and_a_clean_url(client: TestClient) -> None:
    event = create_event(client)
    laptop = new_browser(client)
    path = event.facilitator_url.replace("http://127.0.0.1:8000", "")
    response = laptop.get(path)
    assert response.status_code == 303 and response.headers["location"] == f"{event.path}/facilitate"
    assert response.headers["referrer-policy"] == "no-referrer"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and f"Path={event.path}" in cookie
    assert laptop.get(f"{event.path}/facilitate").status_code == 200


def test_a_wrong_facilitator_secret_opens_nothing(client: TestClient) -> None:
    event = create_event(client)
    laptop = new_browser(client)
    assert laptop.get(f"{event.path}/f/not-the-secret").status_code == 403
    assert laptop.get(f"{event.path}/facilitate").status_code == 403


def test_unknown_event_is_404_in_the_visitors_language(client: TestClient) -> None:
    response = client.get("/e/nosuchev", headers={"accept-language": "sv-SE,sv;q=0.9"})
    assert response.status_code == 404 and 'lang="sv"' in response.text


def test_join_then_propose_without_javascript(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event, "Lisa")
    response = act(phone, event, "topic.propose", title="Sociala medier i värdenätverk", description="Omvärld")
    assert response.status_code == 303 and response.headers["location"] == f"{event.path}#marketplace"
    page = phone.get(event.path).text
    assert "Sociala medier i värdenätverk" in page and "Lisa" in page
    topics = state(phone, event)["topics"]
    assert [(t["title"], t["convener_name"]) for t in topics] == [("Sociala medier i värdenätverk", "Lisa")]


def test_a_double_submitted_form_applies_once(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    action_id = re.search(r'name="_action_id" value="([^"]+)"', phone.get(event.path).text).group(1)  # type: ignore[union-attr]
    for _ in range(2):
        assert act(phone, event, "topic.propose", title="Dubbelklick", _action_id=action_id).status_code == 303
    assert [t["title"] for t in state(phone, event)["topics"]] == ["Dubbelklick"]


def test_a_refused_form_keeps_what_was_typed_and_says_why(client: TestClient) -> None:
    event = create_event(client, language="en")
    phone = join(client, event)
    long_title = "Bibliotek " * 20
    response = act(phone, event, "topic.propose", title=long_title, description="Min beskrivning")
    assert response.status_code == 400
    assert "too long" in response.text and "Min beskrivning" in response.text
    assert long_title.strip() in response.text and 'aria-invalid="true"' in response.text
    assert state(phone, event)["topics"] == []


def test_refusal_messages_are_translated(client: TestClient) -> None:
    event = create_event(client, language="sv")
    phone = join(client, event)
    response = act(phone, event, "topic.propose", title="")
    assert response.status_code == 400 and "Fyll i" in response.text


def test_owner_edits_and_withdraws_their_topic(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    act(phone, event, "topic.propose", title="Första")
    topic = state(phone, event)["topics"][0]
    assert phone.get(f"{event.path}/topics/{topic['id']}/edit").status_code == 200
    r = act(phone, event, "topic.edit", "edit", topic=topic["id"], version="1", title="Andra", description="")
    assert r.status_code == 303
    assert state(phone, event)["topics"][0]["title"] == "Andra"
    assert act(phone, event, "topic.withdraw", "edit", topic=topic["id"]).status_code == 303
    assert state(phone, event)["topics"] == []


def test_a_stale_edit_shows_both_texts(client: TestClient) -> None:
    event = create_event(client, language="en")
    phone = join(client, event)
    act(phone, event, "topic.propose", title="Original")
    topic = state(phone, event)["topics"][0]
    act(event.facilitator, event, "topic.edit", "edit", topic=topic["id"], version="1", title="Fixed by facilitator")
    response = act(phone, event, "topic.edit", "edit", topic=topic["id"], version="1", title="My own words")
    assert response.status_code == 409
    assert "Fixed by facilitator" in response.text and "My own words" in response.text


def test_others_cannot_open_the_edit_page(client: TestClient) -> None:
    event = create_event(client)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    act(lisa, event, "topic.propose", title="Lisas")
    topic = state(lisa, event)["topics"][0]
    assert olle.get(f"{event.path}/topics/{topic['id']}/edit").status_code == 403


def test_facilitator_sets_up_and_places_without_javascript(client: TestClient) -> None:
    event = create_event(client)
    spaces, slots = setup_grid(client, event)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Från lapp", convener_name="Kristina")
    topic = state(event.facilitator, event)["topics"][0]
    page = event.facilitator.get(f"{event.path}/facilitate?pick={topic['id']}").text
    assert page.count("Place here") + page.count("Placera här") == 4
    r = act(event.facilitator, event, "topic.place", "facilitate", topic=topic["id"], slot=slots[0], space=spaces[1])
    assert r.status_code == 303
    grid = client.get(event.path).text
    assert re.search(r'data-space="Rum 2"><a class="t-title" href="[^"]+">Från lapp</a>', grid)


def test_hidden_topics_disappear_from_public_pages(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    act(phone, event, "topic.propose", title="Reklam för min firma")
    topic = state(phone, event)["topics"][0]
    assert act(event.facilitator, event, "topic.hide", "facilitate", topic=topic["id"]).status_code == 303
    assert "Reklam för min firma" not in phone.get(event.path).text
    assert "Reklam för min firma" not in phone.get(f"{event.path}/projector").text
    assert state(phone, event)["topics"] == []
    assert "Reklam för min firma" in event.facilitator.get(f"{event.path}/facilitate").text


def test_hostile_text_is_rendered_harmless_everywhere(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event, '"><img src=x onerror=alert(1)>')
    payloads = ["<script>alert(1)</script>", '" onmouseover="alert(1)', "</textarea><svg onload=alert(1)>"]
    for payload in payloads:
        assert act(phone, event, "topic.propose", title=payload, description=payload).status_code == 303
    for path in (event.path, f"{event.path}/projector"):
        html = phone.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
        assert 'onmouseover="alert' not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "\\u003cscript\\u003e" in html
    facilitate = event.facilitator.get(f"{event.path}/facilitate").text
    assert "<script>alert" not in facilitate and "<svg onload" not in facilitate


def test_csrf_missing_or_from_another_browser_is_refused(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    other = new_browser(client)
    foreign_token = csrf_of(other, event.path)
    for token in ("", foreign_token):
        response = phone.post(f"{event.path}/act", data={"csrf": token, "_action": "topic.propose", "title": "x"})
        assert response.status_code == 403
    assert state(phone, event)["topics"] == []


def test_cross_site_posts_are_refused(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    token = phone.cookies.get("os_csrf")
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": ORIGIN + ".evil"}):
        response = phone.post(
            f"{event.path}/act", data={"csrf": token, "_action": "topic.propose", "title": "x"}, headers=headers
        )
        assert response.status_code == 403
    assert state(phone, event)["topics"] == []


def test_oversized_posts_are_refused_with_a_message(client: TestClient) -> None:
    event = create_event(client, language="en")
    phone = join(client, event)
    token = phone.cookies.get("os_csrf")
    big = {"csrf": token, "_action": "topic.propose", "title": "x", "description": "y" * 200_000}
    response = phone.post(f"{event.path}/act", data=big)
    assert response.status_code in (400, 413)
    assert state(phone, event)["topics"] == []


def test_security_headers_on_every_kind_of_response(client: TestClient) -> None:
    event = create_event(client)
    css = re.search(r'href="(/static/[^"]+/css/app.css)"', client.get("/").text)
    assert css
    for path in ("/", event.path, f"{event.path}/projector", "/e/missing", css.group(1), f"{event.path}/qr.svg"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_static_files_are_versioned_and_cached(client: TestClient) -> None:
    html = client.get("/").text
    url = re.search(r'src="(/static/[^"]+)"|href="(/static/[^"]+\.css)"', html)
    assert url
    path = url.group(1) or url.group(2)
    response = client.get(path)
    assert response.status_code == 200 and "immutable" in response.headers["cache-control"]
    stale = re.sub(r"/static/[^/]+/", "/static/000000000000/", path)
    assert client.get(stale).status_code == 404
    assert client.get(path.rsplit("/", 2)[0] + "/../../pyproject.toml").status_code == 404


def test_no_page_loads_anything_from_another_host(client: TestClient) -> None:
    event = create_event(client)
    for path in ("/", "/new", event.path, f"{event.path}/projector"):
        html = client.get(path).text
        assert not re.search(r'src="(https?:)?//', html), path
        assert not re.search(r'<link[^>]+href="(https?:)?//', html), path


def test_language_switch_is_remembered(client: TestClient) -> None:
    event = create_event(client, language="sv")
    phone = join(client, event)
    assert 'lang="sv"' in phone.get(event.path).text
    token = phone.cookies.get("os_csrf")
    response = phone.post("/lang", data={"csrf": token, "language": "en", "next": event.path})
    assert response.status_code == 303 and response.headers["location"] == event.path
    assert 'lang="en"' in phone.get(event.path).text
    evil = phone.post("/lang", data={"csrf": token, "language": "en", "next": "//evil.example"})
    assert evil.headers["location"] == "/"


def test_qr_code_points_at_the_join_link(client: TestClient) -> None:
    event = create_event(client)
    svg = client.get(f"{event.path}/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text


def test_page_state_matches_the_json_twin(client: TestClient) -> None:
    """The page and the socket start from one state: the embedded data equals state.json."""
    import json

    event = create_event(client)
    setup_grid(client, event)
    html = client.get(event.path).text
    embedded = json.loads(
        re.search(r'<script type="application/json" id="os-data">(.*?)</script>', html, re.S).group(1)
    )  # type: ignore[union-attr]
    assert embedded["state"] == state(client, event)


def test_every_route_sends_the_security_headers(client: TestClient) -> None:
    """S9: all pages, errors, files, downloads and refusals carry CSP, nosniff, no-referrer, no framing."""
    from starlette.routing import Route

    from openspace.app import create_app

    event = create_event(client)
    spaces, slots = setup_grid(client, event, spaces=1, slots=1)
    act(event.facilitator, event, "topic.propose", "facilitate", title="T", convener_name="A")
    topic = state(client, event)["topics"][0]["id"]
    version = client.app.state.runtime.renderer.version  # type: ignore[attr-defined]
    values = {"slug": event.slug, "topic": topic, "space": spaces[0], "secret": "wrong", "name": "x" * 22,
              "size": "thumb", "fmt": "json", "version": version, "path": "css/app.css"}  # fmt: skip
    app = create_app(client.app.state.runtime.settings)  # type: ignore[attr-defined]
    checked = 0
    for route in app.routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or set()):
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], route.path)
        response = event.facilitator.get(path)
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert "'unsafe-inline'" not in headers["content-security-policy"].split("script-src")[-1].split(";")[0], path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
        checked += 1
    assert checked >= 20


def test_an_outbox_resent_after_joining_or_logging_in_is_applied_once(client: TestClient) -> None:
    """The same browser keeps its idempotency records whatever it becomes: the facilitator who
    joins, the participant who opens the facilitator link (the key used to change with it)."""
    event = create_event(client)
    laptop = event.facilitator
    with laptop.websocket_connect(f"{event.path}/ws", headers={"origin": ORIGIN}) as ws:
        ws.receive_json()
        ws.send_json({"type": "action", "id": "outbox-000001", "name": "space.add", "args": {"name": "Trappan"}})
        while (first := ws.receive_json())["type"] != "result":
            pass
    answer = laptop.post(f"{event.path}/join", data={"csrf": laptop.cookies.get("os_csrf"), "name": "Facilitatorn"})
    assert answer.status_code == 303
    with laptop.websocket_connect(f"{event.path}/ws", headers={"origin": ORIGIN}) as ws:  # as F and P now
        ws.receive_json()
        ws.send_json({"type": "action", "id": "outbox-000001", "name": "space.add", "args": {"name": "Trappan"}})
        while (again := ws.receive_json())["type"] != "result":
            pass
    assert again == first and [s["name"] for s in state(laptop, event)["spaces"]] == ["Trappan"]

    phone = join(client, event, "Olle")
    assert act(phone, event, "topic.propose", title="Från mobilen", _action_id="outbox-000002").status_code == 303
    assert phone.get(event.facilitator_url.replace("http://127.0.0.1:8000", "")).status_code == 303
    assert act(phone, event, "topic.propose", title="Från mobilen", _action_id="outbox-000002").status_code == 303
    assert [t["title"] for t in state(phone, event)["topics"]] == ["Från mobilen"]
    other = join(client, event, "Lisa")  # the same id from another browser is another action
    assert act(other, event, "topic.propose", title="Lisas", _action_id="outbox-000002").status_code == 303
    assert [t["title"] for t in state(phone, event)["topics"]] == ["Från mobilen", "Lisas"]


def test_a_cell_freed_by_hiding_can_be_taken_from_the_self_placement_page(client: TestClient) -> None:
    event = create_event(client, language="en")
    setup_grid(client, event, spaces=1, slots=1)
    act(event.facilitator, event, "event.options", "facilitate", self_placement="1")
    act(event.facilitator, event, "topic.propose", "facilitate", title="Reklam", convener_name="Spam")
    phone = join(client, event)
    act(phone, event, "topic.propose", title="Mitt ämne")
    spam, mine = (t["id"] for t in state(event.facilitator, event)["topics"])
    s = state(event.facilitator, event)
    slot, space = s["slots"][0]["id"], s["spaces"][0]["id"]
    act(event.facilitator, event, "topic.place", "facilitate", topic=spam, slot=slot, space=space)
    act(event.facilitator, event, "topic.hide", "facilitate", topic=spam)
    page = phone.get(f"{event.path}/topics/{mine}/place").text
    assert f'name="space" value="{space}"' in page  # offered, and this time it is really free
    placed = act(phone, event, "topic.place", "place", topic=mine, slot=slot, space=space, swap_with="")
    assert placed.status_code == 303
    assert [t["slot_id"] for t in state(phone, event)["topics"]] == [slot]


def test_a_warmed_renderer_compiles_no_template_while_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiling report.html took 74 ms of the event loop at its first use, in the middle of the
    abuse bench's uploads: a server that is up has compiled every template already."""
    from openspace.web.rendering import Renderer

    renderer = Renderer()
    renderer.warm()

    def no_compiling(*_: object) -> None:
        raise AssertionError("a template was compiled while serving")

    monkeypatch.setattr(renderer.env.loader, "load", no_compiling)
    for name in renderer.env.list_templates(extensions=["html"]):
        assert renderer.env.get_template(name).name == name
