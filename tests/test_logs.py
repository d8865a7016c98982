"""Structured logs (#17): one JSON object per line when asked, with the request id, the event's
slug, seq and worker where they apply, and nothing a person wrote (names, topics, reports)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import httpx2
import orjson
import pytest

from openspace import logs
from tests.live.test_live_server import join, propose
from tests.server import running_server

NAME = "Zebulon Quistgaard"
TITLE = "Hemliga ämnet om bokbussar"


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("openspace.test", logging.WARNING, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_a_json_line_has_the_fields_that_apply_and_no_empty_ones() -> None:
    token = logs.REQUEST_ID.set("req-1")
    try:
        line = record("changes %s..%s left the log", event_id="ev1", seq=7)
        line.args = (3, 7)
        logs.Context().filter(line)
        body = orjson.loads(logs.JsonFormatter().format(line))
    finally:
        logs.REQUEST_ID.reset(token)
    assert body["message"] == "changes 3..7 left the log"
    assert (body["level"], body["logger"], body["seq"], body["event_id"]) == ("warning", "openspace.test", 7, "ev1")
    assert body["request_id"] == "req-1" and isinstance(body["worker"], int)
    assert "event" not in body  # no event in context: the key is left out, not empty
    assert body["time"].endswith("+00:00")


def test_a_traceback_stays_inside_its_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        line = record("failed")
        line.exc_info = sys.exc_info()
    text = logs.JsonFormatter().format(line)
    assert "\n" not in text and "ValueError: boom" in orjson.loads(text)["exception"]


def test_the_text_format_names_the_event_and_request() -> None:
    line = record("websocket failed", event="abc234", request_id="r9")
    assert logs.TextFormatter().format(line) == "WARNING openspace.test: websocket failed [event=abc234 request_id=r9]"


def test_a_server_logs_json_lines_with_request_ids_and_no_personal_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENSPACE_LOG_FORMAT", "json")
    with running_server(tmp_path / "logs.db", log_level="info") as server:
        slug = server.link("Participant link").rsplit("/", 1)[1]
        given = httpx2.get(f"{server.url}/e/{slug}", headers={"x-request-id": "from-the-proxy-42"})
        assert given.headers["x-request-id"] == "from-the-proxy-42"
        made = httpx2.get(f"{server.url}/", headers={"x-request-id": "bad id with spaces"})
        assert made.headers["x-request-id"] != "bad id with spaces" and len(made.headers["x-request-id"]) == 16
        person = join(server.url, slug, NAME)
        propose(person, slug, TITLE)
        person.close()
        lines = [line for line in server.output if line.startswith("{")]
    bodies = [orjson.loads(line) for line in lines]
    assert bodies, "".join(server.output)
    access = [b for b in bodies if b["logger"] == "uvicorn.access"]
    assert any(b.get("request_id") == "from-the-proxy-42" and b.get("event") == slug for b in access), access
    assert all(b.get("request_id") and b.get("worker") for b in access)
    everything = "".join(server.output)
    assert NAME not in everything and TITLE not in everything
