"""The websocket: live fan-out, exact resume, snapshots, idempotent actions, refusals and limits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from openspace.settings import Settings
from tests.conftest import ORIGIN, UNLIMITED, EventHandle, act, create_event, join, new_browser, setup_grid, state


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Every websocket test on both stores (issue #17)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    db = "" if url else str(tmp_path / "test.db")
    return Settings(
        db=db,
        database_url=url,
        demo=False,
        secret_key="test-secret-key",
        port=8000,
        allowed_hosts="testserver",  # the test client's Host, as in conftest's settings
        **UNLIMITED,
    )


def page_data(browser: TestClient, path: str) -> dict[str, Any]:
    html = browser.get(path).text
    match = re.search(r'<script type="application/json" id="os-data">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def connect(browser: TestClient, event: EventHandle, query: str = "", origin: str = ORIGIN):  # type: ignore[no-untyped-def]
    return browser.websocket_connect(f"{event.path}/ws{query}", headers={"origin": origin})


def resume_query(browser: TestClient, event: EventHandle) -> tuple[str, int]:
    data = page_data(browser, event.path)
    return f"?since={data['seq']}&epoch={data['epoch']}", data["seq"]


def action(ws: Any, name: str, action_id: str = "a-00000001", **args: str) -> dict[str, Any]:
    ws.send_json({"type": "action", "id": action_id, "name": name, "args": args})
    while True:
        message = ws.receive_json()
        if message["type"] == "result":
            return message  # type: ignore[no-any-return]


def test_first_connection_without_a_resume_point_gets_a_snapshot(client: TestClient) -> None:
    event = create_event(client)
    with connect(client, event) as ws:
        first = ws.receive_json()
    assert first["type"] == "snapshot" and first["reason"] == "initial" and first["seq"] == 0


def test_a_change_reaches_every_connected_screen(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event, "Lisa")
    query, seq = resume_query(phone, event)
    projector, laptop = new_browser(client), event.facilitator
    with connect(phone, event, query) as a, connect(projector, event, query) as b, connect(laptop, event, query) as c:
        result = action(a, "topic.propose", title="Biblioteket som mötesplats")
        assert result["ok"] and result["result"]["seq"] == seq + 1
        for ws in (a, b, c):
            change = ws.receive_json()
            assert change["type"] == "change" and change["seq"] == seq + 1 and change["kind"] == "topic.proposed"
            assert change["patch"]["upsert"]["topics"][0]["title"] == "Biblioteket som mötesplats"


def test_resume_gets_exactly_the_missed_changes_in_order(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    query, seq = resume_query(phone, event)
    for i in range(25):
        assert act(event.facilitator, event, "topic.propose", "facilitate", title=f"Ämne {i}").status_code == 303
    with connect(phone, event, query) as ws:
        got: list[dict[str, Any]] = []
        while len(got) < 25:  # as one batch frame, or a few (catchup.py)
            message = ws.receive_json()
            got += message["changes"] if message["type"] == "batch" else [message]
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # and nothing else was queued before it
    assert [m["seq"] for m in got] == list(range(seq + 1, seq + 26))
    assert [m["patch"]["upsert"]["topics"][0]["title"] for m in got] == [f"Ämne {i}" for i in range(25)]


def test_nothing_is_sent_twice_when_already_up_to_date(client: TestClient) -> None:
    event = create_event(client)
    query, _ = resume_query(client, event)
    with connect(client, event, query) as ws:
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


@pytest.mark.parametrize("since", ["abc", "-1", "99999", "1e3", ""])
def test_a_forged_resume_point_gets_a_snapshot(client: TestClient, since: str) -> None:
    event = create_event(client)
    query, _ = resume_query(client, event)
    epoch = query.split("epoch=")[1]
    with connect(client, event, f"?since={since}&epoch={epoch}") as ws:
        message = ws.receive_json()
    assert message["type"] == "snapshot" and message["reason"] == "invalid"


def test_a_resume_point_from_another_event_gets_this_events_snapshot(client: TestClient) -> None:
    first, second = create_event(client), create_event(client, name="Andra")
    setup_grid(client, second)
    query, _ = resume_query(client, first)
    with connect(client, second, query.replace("since=0", "since=1")) as ws:
        message = ws.receive_json()
    assert message["type"] == "snapshot" and message["reason"] == "invalid"
    assert message["state"]["event"]["name"] == "Andra"


def test_a_gap_past_the_log_gets_a_flagged_snapshot(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from openspace.app import create_app

    with TestClient(create_app(replace(settings, log_keep=10)), base_url=ORIGIN, follow_redirects=False) as client:
        event = create_event(client)
        query, _ = resume_query(client, event)
        for i in range(120):
            act(event.facilitator, event, "topic.propose", "facilitate", title=f"T{i}")
        with connect(client, event, query) as ws:
            message = ws.receive_json()
        assert message["type"] == "snapshot" and message["reason"] == "gap" and message["seq"] == 120
        assert len(message["state"]["topics"]) == 120


def test_a_resent_action_is_applied_once(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    query, seq = resume_query(phone, event)
    with connect(phone, event, query) as ws:
        answers = [action(ws, "topic.propose", "retry-0000001", title="Bara en gång") for _ in range(5)]
    assert all(a == answers[0] for a in answers) and answers[0]["ok"]
    data = page_data(phone, event.path)
    assert data["seq"] == seq + 1 and len(data["state"]["topics"]) == 1


def test_refusals_come_back_translated_with_the_field(client: TestClient) -> None:
    event = create_event(client, language="sv")
    phone = join(client, event)
    with connect(phone, event) as ws:
        ws.receive_json()
        answer = action(ws, "topic.propose", title="")
    assert not answer["ok"] and answer["error"]["field"] == "title" and "Fyll i" in answer["error"]["message"]


def test_foreign_look_alike_null_and_missing_origins_are_refused_before_accept(client: TestClient) -> None:
    event = create_event(client)
    for origin in ("https://evil.example", "null", ORIGIN + ".evil.example", "http://testserver:81"):
        with pytest.raises(WebSocketDisconnect):
            with connect(client, event, origin=origin):
                pass
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(f"{event.path}/ws"):
            pass


def test_unknown_event_socket_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/e/nosuchev/ws", headers={"origin": ORIGIN}):
            pass


def test_malformed_messages_get_an_error_and_persistent_abuse_is_closed(client: TestClient) -> None:
    event = create_event(client)
    with connect(client, event) as ws:
        ws.receive_json()
        for bad in ("{not json", "[1,2]", '{"type":"nonsense"}', "[" * 5000 + "]" * 5000):
            ws.send_text(bad)
            assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "action", "id": "x", "name": "topic.propose", "args": {}})  # id too short
        assert ws.receive_json()["ok"] is False
        for _ in range(10):
            ws.send_text("{")
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_json()
        assert closed.value.code == 1008


def test_binary_frames_are_refused(client: TestClient) -> None:
    event = create_event(client)
    with connect(client, event) as ws:
        ws.receive_json()
        ws.send_bytes(b"\x00\x01")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1003


def test_participants_see_hidden_topics_vanish_live(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    act(phone, event, "topic.propose", title="Spam")
    data = page_data(phone, event.path)
    topic = data["state"]["topics"][0]["id"]
    with connect(phone, event, f"?since={data['seq']}&epoch={data['epoch']}") as ws:
        act(event.facilitator, event, "topic.hide", "facilitate", topic=topic)
        change = ws.receive_json()
    assert change["patch"] == {"delete": {"topics": [topic]}}


class FakeSocket:
    """What `Connection` needs of a websocket: somewhere to send replies."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))


class HeldService:
    """A service whose writer is busy (a long fan-out, a slow disk) until released."""

    def __init__(self) -> None:
        import asyncio

        self.release = asyncio.Event()
        self.calls: list[str] = []

    async def execute(self, event_id: str, actor: Any, name: str, args: Any, action_id: Any) -> dict[str, Any]:
        self.calls.append(name)
        await self.release.wait()
        return {"seq": 9}


def held_connection() -> tuple[Any, Any, FakeSocket, HeldService]:
    from types import SimpleNamespace

    from openspace.domain.rules import Actor
    from openspace.limits import Limits
    from openspace.live.hub import Client
    from openspace.live.ws import Connection
    from openspace.settings import Settings

    async def nothing(*_: Any) -> None:
        return None

    socket, service = FakeSocket(), HeldService()
    client = Client("public", nothing, nothing)
    client.seq = 100  # a hundred changes were sent to this screen
    runtime = SimpleNamespace(service=service, limits=Limits(Settings()))
    connection = Connection(runtime, socket, client, "e", Actor())  # type: ignore[arg-type]
    return connection, client, socket, service


async def test_acks_are_taken_while_the_connections_own_action_waits() -> None:
    """A busy facilitator's acks must not queue behind their action, or the hub would close them
    for lagging although their screen is up to date."""
    import asyncio

    connection, client, socket, service = held_connection()
    assert await connection.read('{"type":"action","id":"act-00000001","name":"space.add","args":{"name":"A"}}')
    await asyncio.sleep(0.01)
    assert service.calls == ["space.add"]  # in flight, held by the writer
    assert await connection.read('{"type":"ack","seq":80}')
    assert await connection.read('{"type":"ping"}')
    assert client.acked == 80 and socket.sent == [{"type": "pong"}]
    service.release.set()
    await connection.finish()
    assert socket.sent[-1] == {"type": "result", "id": "act-00000001", "ok": True, "result": {"seq": 9}}


async def test_slow_downs_are_counted_over_a_window_so_a_resent_outbox_is_not_closed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from openspace.live import ws as ws_module

    connection, _, socket, service = held_connection()
    clock = [1000.0]
    monkeypatch.setattr(ws_module.time, "monotonic", lambda: clock[0])
    connection.bucket.tokens, connection.bucket.stamp = 0, clock[0]
    message = '{"type":"action","id":"act-%08d","name":"space.add","args":{}}'
    assert all([await connection.read(message % n) for n in range(ws_module.MAX_SLOW_DOWNS)])
    clock[0] += ws_module.SLOW_WINDOW + 0.01  # ten seconds on: those were an outbox, not a flood
    connection.bucket.tokens, connection.bucket.stamp = 0, clock[0]
    assert all([await connection.read(message % n) for n in range(ws_module.MAX_SLOW_DOWNS)])
    assert not await connection.read(message % 999)  # but this many within ten seconds is a flood
    assert {m["error"]["code"] for m in socket.sent} == {"slow_down"} and service.calls == []
    service.release.set()
    await connection.finish()


async def test_a_malformed_action_is_malformed_even_over_the_rate() -> None:
    connection, _, socket, _ = held_connection()
    connection.bucket.tokens = 0
    assert await connection.take('{"type":"action","id":{"x":1},"name":"space.add"}') is False
    assert socket.sent == [{"type": "error", "ok": False, "error": socket.sent[0]["error"]}]
    assert socket.sent[0]["error"]["code"] == "invalid"
    await connection.finish()


def test_a_resume_point_written_by_another_process_is_honoured_not_snapshotted(
    client: TestClient, settings: Settings
) -> None:
    """A client moved over from another worker may know a change this process's bus has not
    brought yet: its resume point is good, and it gets deltas, not a snapshot."""
    import asyncio

    from openspace.domain.rules import Actor
    from openspace.live.bus import MemoryBus
    from openspace.service import Service
    from openspace.store import open_store

    event = create_event(client)
    data = page_data(event.facilitator, event.path)

    async def elsewhere() -> None:  # another process: same database, a bus that reaches nobody here
        store = await open_store(settings.database)
        service = Service(store, MemoryBus())
        await service.start()
        try:
            found = await store.event_by_slug(event.slug)
            assert found is not None
            await service.execute(found.id, Actor(facilitator=True), "space.add", {"name": "Annanstans"})
        finally:
            await service.stop()
            await store.close()

    asyncio.run(elsewhere())
    with connect(event.facilitator, event, f"?since={data['seq'] + 1}&epoch={data['epoch']}") as ws:
        assert act(event.facilitator, event, "space.add", "facilitate", name="Här").status_code == 303
        first = ws.receive_json()
        assert first["type"] == "change" and first["seq"] == data["seq"] + 2, first


def test_a_withdrawal_over_the_socket_answers_without_who_had_marked_it(client: TestClient) -> None:
    """#15: the withdrawal's result carries the marks for the undo's seal (web/routes.py), never
    to a screen; and the undo itself cannot be sent over a socket."""
    event = create_event(client)
    lisa, kim = join(client, event, "Lisa"), join(client, event, "Kim")
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")
    act(lisa, event, "topic.propose", title="Spel")
    topic = state(lisa, event)["topics"][0]["id"]
    act(kim, event, "topic.interest", topic=topic, on="1")
    with connect(lisa, event) as ws:
        answer = action(ws, "topic.withdraw", topic=topic)
        assert answer["ok"] and set(answer["result"]) == {"seq", "photos"}
        refused = action(ws, "topic.restore", "a-00000002", undo="x")
        assert not refused["ok"] and refused["error"]["message"] == "Okänd åtgärd."  # "Unknown action."
