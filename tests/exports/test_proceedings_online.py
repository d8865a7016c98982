"""The proceedings count those who followed online apart from those in the room (#18)."""

from __future__ import annotations

from dataclasses import replace

from openspace import i18n
from openspace.exports import markdown, proceedings
from openspace.exports.proceedings import build
from tests.domain.test_attendance import board


def test_attendance_shows_the_room_and_online_apart() -> None:
    """'3 + 2 online' in the attendance table and the chapter's facts; no '+' without online."""
    i18n.set_language("en")
    b = board()
    b = replace(b, topics={**b.topics, "T1": replace(b.topics["T1"], headcount=3, online=2, arrived=5)})
    book = build(b)
    chapter = next(c for c in book.sessions if c.topic.id == "T1")
    assert proceedings.here_text(chapter) == "3 + 2 online"
    assert any("+ 2 online" in line for line in proceedings.facts(chapter))
    other = next(c for c in book.sessions if c.topic.id == "T2")
    assert proceedings.here_text(other) == "0"
    assert "| 3 + 2 online | 5 | 0 |" in markdown.markdown(book, lambda photo: photo.name)
