"""Webhooks as rules: which changes go out, what they say, the signature and the addresses."""

from __future__ import annotations

from dataclasses import replace

import pytest
from standardwebhooks import Webhook

from openspace.domain import webhooks
from openspace.domain.errors import Invalid
from openspace.domain.model import Announcement, Board, Change, Event, Slot, Space, Topic


def board() -> Board:
    event = Event(id="e", slug="s", name="Dagen", language="sv")
    slot = Slot(id="sl", day="2026-03-14", start="10:00", end="10:45")
    space = Space(id="sp", name="Rum 1", video_url="https://meet.example.org/rum1")
    topic = Topic(id="t", title="Poddar", slot_id="sl", space_id="sp")
    hidden = Topic(id="h", title="Hemligt", status="hidden")
    return Board(event=event, slots={"sl": slot}, spaces={"sp": space}, topics={"t": topic, "h": hidden})


def test_a_signature_verifies_with_the_specifications_own_library() -> None:
    """Signed as Standard Webhooks says: its reference verifier accepts our headers."""
    secret = webhooks.new_secret(b"k" * 24)
    body = b'{"type":"bell"}'
    import time

    now = int(time.time())
    headers = webhooks.headers(secret, "msg_1", now, body)
    assert secret.startswith("whsec_") and headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == {"type": "bell"}


def test_a_placed_topic_is_told_with_its_time_place_and_call() -> None:
    """topic.placed carries the session's day, time, space and video link."""
    b = board()
    [notice] = webhooks.notices(b, Change("topic.placed", upserts=(b.topics["t"],)))
    assert notice.kind == "topic.placed"
    assert notice.data["topic"] == {
        "id": "t",
        "title": "Poddar",
        "day": "2026-03-14",
        "start": "10:00",
        "end": "10:45",
        "space": "Rum 1",
        "video_url": "https://meet.example.org/rum1",
    }


def test_hidden_topics_and_unsubscribable_changes_send_nothing() -> None:
    """A hidden topic is never named; interest marks are not a webhook kind."""
    b = board()
    assert webhooks.notices(b, Change("topic.placed", upserts=(b.topics["h"],))) == []
    assert webhooks.notices(b, Change("topic.interest", upserts=(b.topics["t"],))) == []


def test_announcements_phase_and_bell() -> None:
    """Online-only announcements say so; the phase and the bell carry their values."""
    b = board()
    row = Announcement(id="a", text="Länken har bytts", created_at="x", expires_at="y", audience="online")
    [notice] = webhooks.notices(b, Change("announcement.made", upserts=(row,)))
    assert notice.data["announcement"]["audience"] == "online"
    b2 = replace(b, event=replace(b.event, phase="sessions", bell_until="2026-03-14T10:40:00+00:00"))
    assert webhooks.notices(b2, Change("event.phase", event=b2.event))[0].data["phase"] == "sessions"
    assert webhooks.notices(b2, Change("bell.set", event=b2.event))[0].data["until"].startswith("2026-03-14T10:40")
    stopped = replace(b2, event=replace(b2.event, bell_until=""))
    assert webhooks.notices(stopped, Change("bell.set", event=stopped.event)) == []


@pytest.mark.parametrize(
    "url",
    ["http://example.org/hook", "ftp://example.org", "https://", "https://user:pw@example.org/", "https://a b", ""],
)
def test_only_plain_https_addresses_are_accepted(url: str) -> None:
    """https with a host, no credentials; http only where the operator allows private targets."""
    with pytest.raises(Invalid):
        webhooks.valid_url(url)


def test_http_is_allowed_only_with_the_setting() -> None:
    assert webhooks.valid_url("http://127.0.0.1:9/x", allow_http=True) == "http://127.0.0.1:9/x"
    assert webhooks.valid_url(" https://hooks.example.org/a?b=1 ") == "https://hooks.example.org/a?b=1"


def test_kinds_from_the_form() -> None:
    assert webhooks.chosen_kinds({"kind_bell": "1", "kind_announcement": "on"}) == ("announcement", "bell")
    with pytest.raises(Invalid):
        webhooks.chosen_kinds({})
    with pytest.raises(Invalid):
        webhooks.chosen_kinds({"kinds": "topic.placed nonsense"})


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [webhooks.backoff(n, 5, 60) for n in range(1, 6)] == [5, 10, 20, 40, 60]
