"""Hybrid open space as rules, tested directly: call links, virtual spaces, following online
counted apart from the room, and announcements for online participants only."""

from __future__ import annotations

import pytest

from openspace.domain import hybrid, webhooks
from openspace.domain.errors import Invalid
from openspace.domain.projection import state_for
from tests.domain.test_attendance import AFTER, FAC, PEOPLE, board, step


def test_a_space_carries_a_validated_https_call_link() -> None:
    """Any https call is accepted; other schemes, credentials and junk are refused; "" removes it."""
    b = step(board(), "space.update", FAC, space="A", name="Sagorummet", capacity="3",
             video_url="https://meet.jit.si/Stenhamra-sagorummet")  # fmt: skip
    assert b.spaces["A"].video_url == "https://meet.jit.si/Stenhamra-sagorummet"
    for bad in ("http://meet.example.org/x", "javascript:alert(1)", "https://u:p@zoom.example/j/1", "https://", "x"):
        with pytest.raises(Invalid) as refused:
            step(b, "space.update", FAC, space="A", name="Sagorummet", video_url=bad)
        assert refused.value.field == "video_url"
    b = step(b, "space.update", FAC, space="A", name="Sagorummet", capacity="3")  # not in the form: kept
    assert b.spaces["A"].video_url.startswith("https://meet.jit.si/")
    assert step(b, "space.update", FAC, space="A", name="Sagorummet", video_url="").spaces["A"].video_url == ""


def test_a_virtual_space_has_no_places_and_everyone_there_is_online() -> None:
    """Online only: no capacity, and a check-in there counts online even without saying so."""
    b = step(board(), "space.add", FAC, name="Nätet", capacity="50", virtual="1",
             video_url="https://bbb.example.org/b/rum")  # fmt: skip
    space = next(s for s in b.spaces.values() if s.name == "Nätet")
    assert space.virtual and space.capacity is None
    b = step(b, "topic.place", FAC, topic="T4", slot="S1", space=space.id)
    b = step(b, "attendance.in", PEOPLE[0], topic="T4")
    assert (b.topics["T4"].headcount, b.topics["T4"].online) == (0, 1)


def test_here_and_online_are_counted_apart_through_moves_switches_and_leaving() -> None:
    """12 here + 5 online in miniature: each counter moves on its own."""
    b = board()
    b = step(b, "attendance.in", PEOPLE[0], topic="T2")
    b = step(b, "attendance.in", PEOPLE[1], topic="T2", online="1")
    b = step(b, "attendance.in", PEOPLE[2], topic="T2", online="1")
    assert hybrid.split(b.topics["T2"]) == (1, 2) and b.topics["T2"].arrived == 3
    b = step(b, "attendance.in", PEOPLE[2], topic="T2")  # joined the room after all
    assert hybrid.split(b.topics["T2"]) == (2, 1) and b.topics["T2"].arrived == 3
    b = step(b, "attendance.in", PEOPLE[1], topic="T1", online="1")  # the law of two feet, online
    assert hybrid.split(b.topics["T2"]) == (2, 0) and hybrid.split(b.topics["T1"]) == (0, 1)
    b = step(b, "attendance.out", PEOPLE[1], topic="T1")
    assert hybrid.split(b.topics["T1"]) == (0, 0) and b.topics["T1"].left == 1
    b = step(b, "attendance.in", PEOPLE[3], topic="T1", online="1")
    b = step(b, "attendance.erase", PEOPLE[3])
    assert hybrid.split(b.topics["T1"]) == (0, 0)
    b = step(b, "attendance.in", PEOPLE[4], topic="T1", online="1")
    b = step(b, "topic.unplace", FAC, topic="T1")  # the session leaves the grid: its counts end
    assert hybrid.split(b.topics["T1"]) == (0, 0)


def test_online_followers_never_crowd_a_room() -> None:
    """Crowding is about places in the room: three online in a room for three is not full."""
    b = board()  # Sagorummet (A) has 3 places
    for person in PEOPLE[:3]:
        b = step(b, "attendance.in", person, topic="T1", online="1")
    b = step(b, "attendance.in", PEOPLE[3], topic="T1")
    assert hybrid.split(b.topics["T1"]) == (1, 3)
    assert b.topics["T1"].headcount <= b.spaces["A"].capacity  # type: ignore[operator]


def test_following_online_is_the_latest_check_in() -> None:
    b = step(board(), "attendance.in", PEOPLE[0], topic="T1", online="1")
    assert hybrid.following_online(b, "p0") and not hybrid.following_online(b, "p1")
    assert not hybrid.following_online(b, None)
    b = step(b, "attendance.in", PEOPLE[0], topic="T1")
    assert not hybrid.following_online(b, "p0")


def test_an_announcement_can_be_for_online_participants_only() -> None:
    b = step(board(), "announce", FAC, text="Ljudet är tillbaka", online_only="1")
    [row] = b.announcements.values()
    assert row.audience == "online"
    assert state_for(b, "public")["announcements"][0]["audience"] == "online"
    b = step(b, "announce", FAC, text="Lunch")  # (the test's ids start again, so it replaces the first)
    assert [a.audience for a in b.announcements.values()] == [""]
    [notice] = webhooks.notices(b, _made(b, "Lunch"))
    assert notice.data["announcement"]["audience"] == "everyone"


def test_counts_stay_as_history_after_the_slot() -> None:
    b = step(board(), "attendance.in", PEOPLE[0], topic="T1", online="1")
    b = step(b, "attendance.out", PEOPLE[0], now=AFTER, topic="T1")  # over: the count stays
    assert hybrid.split(b.topics["T1"]) == (0, 1)


def _made(b, text):  # type: ignore[no-untyped-def]
    from openspace.domain.model import Change

    row = next(a for a in b.announcements.values() if a.text == text)
    return Change("announcement.made", upserts=(row,))
