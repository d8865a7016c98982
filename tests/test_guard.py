"""Secrets stay out of logs; facilitator links resist guessing and can be replaced; names can go."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx2
from starlette.testclient import TestClient

from openspace.domain import rules
from openspace.domain.model import Board, Event, Topic, apply
from openspace.guard import RedactSecrets, redact
from openspace.limits import Limits
from openspace.settings import Settings
from tests.conftest import act, create_event, join, new_browser, state
from tests.server import running_server


def test_redaction_scrubs_secrets_from_paths_and_records() -> None:
    assert redact("GET /e/abc/f/SeCrEt-123_x HTTP/1.1") == "GET /e/abc/f/[secret] HTTP/1.1"
    record = logging.LogRecord("uvicorn.access", 20, "", 0, '%s "%s %s"', ("1.2.3.4", "GET", "/e/s/f/abcdef"), None)
    RedactSecrets().filter(record)
    assert "abcdef" not in record.getMessage()


def test_the_running_server_never_logs_a_facilitator_secret(tmp_path: Path) -> None:
    with running_server(tmp_path / "logs.db", demo=True, log_level="info") as server:
        link = server.link("Facilitator link")
        secret = link.rsplit("/", 1)[1]
        with httpx2.Client() as http:
            http.get(link)
            http.get(link + "wrong")
        server.process.terminate()
        server.process.wait(timeout=15)
        if server.reader is not None:
            server.reader.join(timeout=5)
    logged = "".join(line for line in server.output if not line.startswith("Facilitator link"))
    assert "/f/[secret]" in logged  # the access log saw the requests, without the secrets
    assert secret not in logged


def test_wrong_facilitator_links_never_lock_out_the_right_one(client: TestClient) -> None:
    """Every test client shares one address, as everyone does behind a reverse proxy: ten wrong
    links from one person used to give everyone 429 for a minute, the right link included."""
    event = create_event(client, language="en")
    guesser, holder = new_browser(client), new_browser(client)
    for n in range(10):
        assert guesser.get(f"{event.path}/f/guess{n}").status_code == 403
    right = event.facilitator_url.replace("http://127.0.0.1:8000", "")
    assert holder.get(right).status_code == 303 and guesser.get(right).status_code == 303
    for _ in range(10):  # a broken link reloaded again and again
        assert guesser.get(f"{event.path}/f/typo").status_code == 403
    slowed = guesser.get(f"{event.path}/f/typo")
    assert slowed.status_code == 429 and "Wait a minute" in slowed.text
    assert new_browser(client).get(f"{event.path}/f/other").status_code == 403  # others' links: not this one's count
    assert new_browser(client).get(right).status_code == 303


async def test_wrong_links_are_counted_per_link_and_per_event(settings: Settings) -> None:
    """Ten of one wrong link, then 429 for it and not for another; a hundred for the event, then
    429 for every wrong link to it and not to another event. Only hashes of the secrets are kept."""
    limits = Limits(settings)
    try:
        assert [await limits.wrong_link("e1", "a") for _ in range(11)] == [False] * 10 + [True]
        assert not await limits.wrong_link("e1", "b")
        for n in range(89):  # up to the event's 100th wrong link (the refused 11th "a" was not counted)
            assert not await limits.wrong_link("e1", f"x{n}")
        assert await limits.wrong_link("e1", "c") and not await limits.wrong_link("e2", "a")
        assert not any("x1" in key for key in limits.wrong_links._buckets)
    finally:
        await limits.close()


def test_a_new_link_ends_every_old_session(client: TestClient) -> None:
    event = create_event(client)
    other = new_browser(client)
    old = event.facilitator_url.replace("http://127.0.0.1:8000", "")
    assert other.get(old).status_code == 303 and other.get(f"{event.path}/facilitate").status_code == 200
    token = event.facilitator.cookies.get("os_csrf")
    rotated = event.facilitator.post(f"{event.path}/rotate", data={"csrf": token})
    assert rotated.status_code == 303
    page = event.facilitator.get(rotated.headers["location"])
    new = re.search(r"<code>http://[^<]+(/e/[^<]+)</code>", page.text).group(1)  # type: ignore[union-attr]
    assert new != old
    assert other.get(f"{event.path}/facilitate").status_code == 403  # logged out
    assert event.facilitator.get(f"{event.path}/facilitate").status_code == 200  # stays in
    assert new_browser(client).get(old).status_code == 403
    assert new_browser(client).get(new).status_code == 303
    participant = join(client, event)
    assert (
        participant.post(f"{event.path}/rotate", data={"csrf": participant.cookies.get("os_csrf")}).status_code == 403
    )


def test_a_participant_erases_their_name(client: TestClient) -> None:
    event = create_event(client)
    lisa = join(client, event, "Lisa Lindqvist")
    act(lisa, event, "topic.propose", title="Mitt ämne")
    act(lisa, event, "me.forget")
    assert state(client, event)["topics"][0]["convener_name"] == ""
    assert "Lisa Lindqvist" not in client.get(event.path).text
    assert "Lisa Lindqvist" not in event.facilitator.get(f"{event.path}/facilitate").text


def test_forgetting_removes_the_name_as_co_convener_too() -> None:
    board = Board(
        event=Event(id="e", slug="s", name="x"),
        topics={"t": Topic("t", "T", convener_id="p1", convener_name="A", co_convener_ids="p2", co_conveners="B")},
    )
    ctx = rules.Context(rules.Actor(participant_id="p2", name="B"), lambda: "i", 1)
    after = apply(board, rules.decide(board, "me.forget", {}, ctx), 1)
    assert (after.topics["t"].co_conveners, after.topics["t"].co_convener_ids) == ("", "")


def test_a_new_link_takes_rights_from_open_sockets_at_once(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    event = create_event(client)
    other = new_browser(client)
    other.get(event.facilitator_url.replace("http://127.0.0.1:8000", ""))
    with other.websocket_connect(f"{event.path}/ws", headers={"origin": "http://testserver"}) as ws:
        assert "merges" in ws.receive_json()["state"]  # a facilitator's snapshot
        token = event.facilitator.cookies.get("os_csrf")
        event.facilitator.post(f"{event.path}/rotate", data={"csrf": token})
        try:
            ws.receive_json()
            raise AssertionError("the old facilitator socket stayed open")
        except WebSocketDisconnect as closed:
            assert closed.code == 4001  # sign in again
    with other.websocket_connect(f"{event.path}/ws", headers={"origin": "http://testserver"}) as ws:
        assert "merges" not in ws.receive_json()["state"]  # back as the public, not as facilitator
        ws.send_json({"type": "action", "id": "after-rotation", "name": "space.add", "args": {"name": "Kapat"}})
        while (answer := ws.receive_json())["type"] != "result":
            pass
    assert answer["ok"] is False and answer["error"]["code"] == "forbidden"


def test_a_rename_is_used_at_once_on_the_same_socket(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event, "Gammalt Namn")
    with phone.websocket_connect(f"{event.path}/ws", headers={"origin": "http://testserver"}) as ws:
        ws.receive_json()
        for n, (name, args) in enumerate((("me.rename", {"name": "Nytt Namn"}), ("topic.propose", {"title": "T"}))):
            ws.send_json({"type": "action", "id": f"rename-{n:04d}", "name": name, "args": args})
            while ws.receive_json()["type"] != "result":
                pass
    assert state(client, event)["topics"][0]["convener_name"] == "Nytt Namn"


def test_backup_and_restore_refuse_what_they_cannot_use(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from openspace.cli import main

    runner = CliRunner()
    missing = runner.invoke(main, ["backup", "--db", str(tmp_path / "none.db"), "-o", str(tmp_path / "b.db")])
    assert missing.exit_code != 0 and "no database" in missing.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    bad = runner.invoke(main, ["restore", str(junk), "--db", str(tmp_path / "new.db")])
    assert bad.exit_code != 0 and not (tmp_path / "new.db").exists()
