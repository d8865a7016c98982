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


def test_the_json_document_keeps_calls_virtual_spaces_online_counts_and_audiences() -> None:
    """Exported and imported again, a hybrid event keeps what #18 added; a bad call link is refused."""
    import itertools

    import orjson
    import pytest

    from openspace.domain.model import Announcement
    from openspace.exports import document

    b = board()
    b = replace(
        b,
        spaces={**b.spaces, "A": replace(b.spaces["A"], video_url="https://meet.jit.si/x", virtual=True)},
        topics={**b.topics, "T1": replace(b.topics["T1"], online=4)},
        announcements={
            "n": Announcement(
                "n", "Ljudet", "2026-03-14T09:00:00+00:00", "2026-03-14T10:00:00+00:00", audience="online"
            )
        },  # fmt: skip
    )
    doc = document.to_document(b)
    ids = (f"new{n}" for n in itertools.count())
    imported = document.from_document(orjson.loads(orjson.dumps(doc)), lambda: next(ids))
    space = next(s for s in imported.spaces if s.name == "Sagorummet")
    assert (space.video_url, space.virtual) == ("https://meet.jit.si/x", True)
    assert next(t for t in imported.topics if t.title == "Policy").online == 4
    assert [a.audience for a in imported.announcements] == ["online"]
    doc["spaces"][0]["video_url"] = "javascript:alert(1)"
    with pytest.raises(ValueError, match="video_url"):
        document.from_document(orjson.loads(orjson.dumps(doc)), lambda: next(ids))
    for row in doc["spaces"]:  # a document from before #18 still reads
        del row["video_url"], row["virtual"]
    assert document.from_document(orjson.loads(orjson.dumps(doc)), lambda: next(ids)).spaces[0].video_url == ""
