"""Reports written together over the websocket (issue #16): subscribe, push, ack, catch up
exactly, only the report's own sockets, hidden topics never leak, forms merge into the document."""

from __future__ import annotations

import base64
from typing import Any

from pycrdt import Doc, Text
from starlette.testclient import TestClient

from tests.conftest import act, join, state
from tests.live.test_ws import connect
from tests.web.test_harvest_flows import placed_topic, report_of, save

FIELDS = ("participants", "discussion", "insights", "recommendations")


class Browser:
    """A page's copy of the report's document, as cowrite.js keeps it."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        for name in FIELDS:
            self.doc.get(name, type=Text)
        self.rseq = -1

    def text(self, field: str = "discussion") -> str:
        return str(self.doc.get(field, type=Text))

    def type(self, text: str, at: int | None = None, field: str = "discussion") -> bytes:
        before = self.doc.get_state()
        target = self.doc.get(field, type=Text)
        target.insert(len(str(target).encode()) if at is None else at, text)
        return self.doc.get_update(before)

    def take(self, message: dict[str, Any]) -> None:
        self.doc.apply_update(base64.b64decode(message["update"]))
        self.rseq = max(self.rseq, message["rseq"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def receive(ws: Any, kind: str) -> dict[str, Any]:
    for _ in range(50):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind}")


def subscribe(ws: Any, topic: str, browser: Browser) -> dict[str, Any]:
    ws.send_json({"type": "doc.sub", "topic": topic, "sv": b64(browser.doc.get_state())})
    message = receive(ws, "doc.state")
    browser.take(message)
    return message


def push(ws: Any, topic: str, update: bytes, push_id: str = "push-0001") -> dict[str, Any]:
    ws.send_json({"type": "doc.push", "topic": topic, "id": push_id, "update": b64(update)})
    return receive(ws, "doc.ack")


def test_typing_reaches_the_reports_other_screens_and_the_report_row(client: TestClient) -> None:
    """An update is acknowledged once durable, reaches the other viewer, and is the report's text."""
    event, topic = placed_topic(client)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    mine, theirs = Browser(), Browser()
    with connect(lisa, event) as a, connect(olle, event) as b:
        subscribe(a, topic, mine)
        subscribe(b, topic, theirs)
        ack = push(a, topic, mine.type("Vi pratade om AI."))
        assert ack["rseq"] == 1
        arrived = receive(b, "doc.update")
        theirs.take(arrived)
        assert (arrived["rseq"], arrived["by"], theirs.text()) == (1, "Lisa", "Vi pratade om AI.")
        b.send_json({"type": "doc.presence", "topic": topic, "field": "insights"})
        presence = receive(a, "doc.presence")
        assert (presence["who"], presence["field"]) == ("Olle", "insights")
    assert report_of(client, event, topic)["discussion"] == "Vi pratade om AI."
    assert "Vi pratade om AI." in lisa.get(f"{event.path}/sessions/{topic}/report").text


def test_a_duplicate_update_is_acknowledged_and_logged_once(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa = join(client, event, "Lisa")
    mine = Browser()
    with connect(lisa, event) as ws:
        subscribe(ws, topic, mine)
        update = mine.type("Hej")
        assert push(ws, topic, update, "push-0001")["rseq"] == 1
        assert push(ws, topic, update, "push-0002")["rseq"] == 1  # already had: nothing new
        assert push(ws, topic, mine.type(" då"), "push-0003")["rseq"] == 2


def test_a_screen_back_from_a_drop_gets_exactly_what_it_lacks(client: TestClient) -> None:
    """Subscribing again with its state vector brings the copy level, its own offline typing kept."""
    event, topic = placed_topic(client)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    mine, theirs = Browser(), Browser()
    with connect(lisa, event) as a:
        subscribe(a, topic, mine)
        push(a, topic, mine.type("Ett."))
    with connect(olle, event) as b:
        subscribe(b, topic, theirs)
    offline = theirs.type(" Olle offline.")  # typed while away
    with connect(lisa, event) as a:
        subscribe(a, topic, mine)
        push(a, topic, mine.type(" Två."), "push-0002")
    with connect(olle, event) as b:
        message = subscribe(b, topic, theirs)
        assert message["rseq"] == 2
        push(b, topic, offline, "push-0003")
    assert theirs.text() == "Ett. Två. Olle offline." or theirs.text() == "Ett. Olle offline. Två."
    assert report_of(client, event, topic)["discussion"] == theirs.text()


def test_only_the_reports_own_screens_hear_of_it_and_never_a_hidden_topics(client: TestClient) -> None:
    event, topic = placed_topic(client)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    mine = Browser()
    with connect(lisa, event) as a, connect(olle, event) as b:
        subscribe(a, topic, mine)
        push(a, topic, mine.type("Hemligt"))
        b.send_json({"type": "ping"})
        kinds = []
        while not kinds or kinds[-1] != "pong":
            kinds.append(b.receive_json()["type"])
        assert "doc.update" not in kinds  # Olle does not show the report
        act(event.facilitator, event, "topic.hide", "facilitate", topic=topic)
        b.send_json({"type": "doc.sub", "topic": topic, "sv": ""})
        assert receive(b, "doc.refused")["topic"] == topic
        a.send_json({"type": "doc.push", "topic": topic, "id": "push-0002", "update": b64(mine.type("!"))})
        refused = receive(a, "doc.refused")
        assert refused["id"] == "push-0002"
    assert "Hemligt" not in str(state(olle, event)["reports"])


def test_a_form_save_merges_into_the_shared_document(client: TestClient) -> None:
    """A phone without JavaScript saves whole texts; the live screens get them as an update, and
    a clash on the same line keeps both (no conflict page)."""
    event, topic = placed_topic(client)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    mine = Browser()
    with connect(lisa, event) as a:
        subscribe(a, topic, mine)
        push(a, topic, mine.type("Rad ett.\nRad två.\n"))
        shown = {f"was_{f}": mine.text(f) for f in FIELDS}  # the texts Olle's page showed
        push(a, topic, mine.type("Lisa: ", at=0), "push-0002")
        olles = {"discussion": "Olle: Rad ett.\nRad två.\n", "insights": "Olles insikt"}
        saved = save(olle, event, topic, "0", **shown, **olles)
        assert saved.status_code in (200, 303)
        mine.take(receive(a, "doc.update"))
    merged = report_of(client, event, topic)
    assert "Lisa: Rad ett." in merged["discussion"] and "Olle: Rad ett." in merged["discussion"]
    assert merged["insights"] == "Olles insikt" == mine.text("insights")
    assert mine.text() == merged["discussion"]
