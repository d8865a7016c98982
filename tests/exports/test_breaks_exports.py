"""Breaks in every export (#15): the calendar download, both calendar feeds, the proceedings'
contents in HTML and Markdown (the PDF is the HTML's rendering), the JSON document both ways."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import icalendar
import orjson
import pytest
from pypdf import PdfReader

from openspace import i18n
from openspace.domain.model import Board, Event, Slot, Space, Topic
from openspace.exports import agenda, document, feeds, proceedings
from openspace.exports import html as proceedings_html
from openspace.exports import markdown as proceedings_markdown
from openspace.media import PhotoStore


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    before = i18n.current_language()
    i18n.set_language("en")
    yield
    i18n.set_language(before)


def board() -> Board:
    """Morning session, lunch (a labelled slot), afternoon session, then a gap and coffee."""
    event = Event(id="e1", slug="abc", name="Demo", starts_on="2026-03-14", ends_on="2026-03-14", language="en",
                  venue="Stenhamra")  # fmt: skip
    return Board(
        event=event,
        seq=9,
        spaces={"A": Space("A", "Sagorummet", 20, 0)},
        slots={
            "S1": Slot("S1", "2026-03-14", "10:00", "11:00"),
            "L": Slot("L", "2026-03-14", "11:00", "12:00", label="Lunch"),
            "S2": Slot("S2", "2026-03-14", "12:00", "13:00"),
            "C": Slot("C", "2026-03-14", "13:30", "13:45", label="Coffee"),
        },
        topics={
            "T1": Topic("T1", "Policy", convener_name="Lisa", slot_id="S1", space_id="A"),
            "T2": Topic("T2", "Facebook", convener_name="Olle", slot_id="S2", space_id="A"),
        },
    )


def summaries(ical: bytes) -> list[str]:
    calendar = icalendar.Calendar.from_ical(ical)
    return [str(c["summary"]) for c in calendar.walk("VEVENT")]


def test_the_calendar_download_has_the_breaks_in_the_whole_agenda_and_in_my_sessions() -> None:
    """Lunch and coffee are entries of their own, at their times, transparent, at the venue."""
    whole = icalendar.Calendar.from_ical(agenda.agenda_ics(board()))
    lunch = next(c for c in whole.walk("VEVENT") if str(c["summary"]) == "Lunch")
    assert (lunch.decoded("dtstart").strftime("%H:%M"), lunch.decoded("dtend").strftime("%H:%M")) == ("11:00", "12:00")
    assert (str(lunch["transp"]), str(lunch["location"])) == ("TRANSPARENT", "Stenhamra")
    assert str(lunch["uid"]) == "slot-L@openspace"
    assert sorted(summaries(agenda.agenda_ics(board()))) == ["Coffee", "Facebook", "Lunch", "Policy"]
    assert sorted(summaries(agenda.agenda_ics(board(), only_topics={"T1"}))) == ["Coffee", "Lunch", "Policy"]


def test_both_calendar_feeds_have_the_labelled_breaks() -> None:
    """The personal feed too: a break is part of everyone's day, labelled or an unnamed gap (#18),
    and each entry keeps one UID so a calendar updates it in place."""

    def link(topic: str) -> str:
        return f"https://x/{topic}"

    whole = {e.uid: str(e.component["summary"]) for e in feeds.entries(board(), link)}
    mine = {e.uid: str(e.component["summary"]) for e in feeds.entries(board(), link, only_topics={"T2"})}
    assert whole["slot-L@openspace"] == "Lunch" and whole["slot-C@openspace"] == "Coffee"
    assert "Break" in whole.values()  # the unnamed gap 13:00–13:30
    gaps = {uid: summary for uid, summary in whole.items() if summary == "Break"}
    assert mine == {"T2@openspace": "Facebook", "slot-L@openspace": "Lunch", "slot-C@openspace": "Coffee", **gaps}


def test_the_proceedings_contents_show_the_breaks_in_time_order(tmp_path: Path) -> None:
    """HTML (and so the PDF) and Markdown list the lunch between the sessions, not a silent gap."""
    book = proceedings.build(board())
    assert [(c.title if c else None, s.label if s else None) for c, s in book.agenda] == [
        ("Policy", None), (None, "Lunch"), ("Facebook", None), (None, "Coffee")]  # fmt: skip
    text = proceedings_markdown.markdown(book, lambda photo: "")
    contents = text.split("## Contents")[1].split("\n\n")[1]
    assert [line.split(" · ")[0] for line in contents.splitlines()][:4] == [
        "- [1. Policy](#session-1)", "- *Lunch*", "- [2. Facebook](#session-2)", "- *Coffee*"]  # fmt: skip
    out = io.BytesIO()
    proceedings_html.write_html(book, out, PhotoStore(tmp_path))
    html = out.getvalue().decode()
    toc = html.split('class="toc"')[1].split("</nav>")[0]
    assert toc.index("Policy") < toc.index('class="break"') < toc.index("Facebook")
    assert "Lunch" in toc and "Coffee" in toc and 'class="downloads"' not in html  # a file links nowhere
    pdf = io.BytesIO()
    proceedings_html.write_pdf(book, pdf, PhotoStore(tmp_path))
    contents_page = PdfReader(io.BytesIO(pdf.getvalue())).pages[1].extract_text()
    assert contents_page.index("Policy") < contents_page.index("Lunch") < contents_page.index("Facebook")


def test_the_json_document_carries_a_break_and_reads_it_back() -> None:
    """The label travels in the document (absent for a slot for sessions, as older files have it)."""
    doc = orjson.loads(document.document_json(board()))
    assert [s.get("label") for s in doc["slots"]] == [None, "Lunch", None, "Coffee"]
    ids = (f"n{n}" for n in itertools.count())
    again = document.from_document(doc, lambda: next(ids))
    assert [s.label for s in again.slots] == ["", "Lunch", "", "Coffee"]


def test_a_document_with_a_session_in_a_break_is_refused() -> None:
    """A file is anyone's: a topic placed in a break would be a session nobody sees."""
    doc = orjson.loads(document.document_json(board()))
    doc["topics"][0]["slot"] = doc["slots"][1]["id"]
    ids = (f"n{n}" for n in itertools.count())
    with pytest.raises(ValueError, match=r"topics\[0\]\.slot: is a break"):
        document.from_document(doc, lambda: next(ids))
