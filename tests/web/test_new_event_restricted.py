"""Creating events kept to the operator on a public host (#17): a token typed into /new, or an
allow-list of client addresses; refused with a translated message; `openspace new-event` unaffected."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from openspace.app import create_app
from openspace.cli import main
from openspace.settings import Settings
from tests.conftest import ORIGIN, csrf_of

TOKEN = "operator-token-7f3a"
FIELDS = {"name": "Biblioteksdagen", "starts_on": "2026-05-02", "timezone": "Europe/Stockholm", "language": "sv"}


def post_new(client: TestClient, headers: dict[str, str] | None = None, **extra: str):  # type: ignore[no-untyped-def]
    data = {**FIELDS, **extra, "csrf": csrf_of(client, "/new")}
    return client.post("/new", data=data, headers={"origin": ORIGIN, **(headers or {})})


def events(client: TestClient) -> int:
    count: int = client.portal.call(client.app.state.runtime.store.event_count)  # type: ignore[attr-defined,union-attr]
    return count


def test_without_a_token_or_list_anyone_creates_events(client: TestClient) -> None:
    assert "operator_token" not in client.get("/new").text
    assert post_new(client).status_code == 303


def test_the_token_is_asked_for_and_a_wrong_one_refused_in_the_visitors_language(settings: Settings) -> None:
    with TestClient(
        create_app(replace(settings, new_event_token=TOKEN)), base_url=ORIGIN, follow_redirects=False
    ) as client:
        page = client.get("/new", headers={"accept-language": "en"}).text
        assert 'name="operator_token"' in page and 'type="password"' in page
        assert "kept to its operator" in page
        client.cookies.set("os_lang", "en")
        refused = post_new(client, operator_token="guess")
        assert refused.status_code == 403
        assert "Only this server&#39;s operator may create events here" in refused.text
        assert "guess" not in refused.text  # a typed token is never written back
        client.cookies.set("os_lang", "sv")
        swedish = post_new(client)
        assert swedish.status_code == 403 and "Här kan bara serverns driftansvarige skapa evenemang" in swedish.text
        assert events(client) == 0
        created = post_new(client, operator_token=TOKEN)
        assert created.status_code == 303 and events(client) == 1


def test_an_address_on_the_list_needs_no_token_unless_it_came_through_a_proxy(settings: Settings) -> None:
    restricted = replace(settings, new_event_token=TOKEN, new_event_allow="10.0.0.0/8")
    app = create_app(restricted)
    with TestClient(app, base_url=ORIGIN, client=("10.1.2.3", 5000), follow_redirects=False) as inside:
        assert 'name="operator_token"' not in inside.get("/new").text
        assert post_new(inside).status_code == 303
        proxied = post_new(inside, headers={"x-forwarded-for": "203.0.113.7"})
        assert proxied.status_code == 403
    with TestClient(app, base_url=ORIGIN, client=("192.168.1.9", 5000)) as outside:
        assert post_new(outside).status_code == 403


def test_the_command_line_creates_events_whatever_the_restriction(tmp_path: Path) -> None:
    env = {"OPENSPACE_NEW_EVENT_TOKEN": TOKEN, "OPENSPACE_NEW_EVENT_ALLOW": "10.0.0.0/8"}
    db = str(tmp_path / "cli.db")
    made = CliRunner().invoke(main, ["new-event", "--name", "Dagen", "--date", "2026-05-02", "--db", db], env=env)
    assert made.exit_code == 0, made.output
    assert re.search(r"Facilitator link: \S+/f/\S+", made.output)
