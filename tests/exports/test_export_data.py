"""The machine-readable exports, tested on boards built directly: CSV (BOM, Swedish text, formula
injection), the iCalendar agenda (time zones, "my sessions"), and the JSON document (private rows
left out, no ids, a strict reader, and a round trip that gives the same document again)."""

from __future__ import annotations

import copy
import csv
import io
import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import orjson
import pytest

from openspace.domain.model import (
    ActionItem,
    Announcement,
    Attendance,
    Board,
    Event,
    Interest,
    Photo,
    Report,
    Revision,
    Slot,
    Space,
    Topic,
    Vote,
)
from openspace.exports import agenda as export_agenda
from openspace.exports import document as export_data
from openspace.exports import reader as export_reader
from openspace.exports.document import Imported

HOSTILE = ['=HYPERLINK("http://x")', "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1"]

# every id of the board below: none of them may appear in the exported document
IDS = [
    "evt-4f9c2a",
    "slug-vasteras-xq7",
    "spc-sago-11aa",
    "spc-verk-22bb",
    "spc-tom-33cc",
    "slt-morn-44dd",
    "slt-after-55ee",
    "slt-tue-66ff",
    "tpc-bibl-77gg",
    "tpc-kod-88hh",
    "tpc-hidden-99ii",
    "tpc-merged-aajj",
    "tpc-loose-bbkk",
    "pid-lisa-c3c3",
    "pid-olle-d4d4",
    "pid-nils-e5e5",
    "pht-one-f6f6",
    "pht-two-g7g7",
    "pht-three-h8h8",
    "pht-merged-i9i9",
    "act-one-j0j0",
    "act-two-k1k1",
    "act-three-l2l2",
    "ann-one-m3m3",
    "ann-two-n4n4",
]


def stockholm_board() -> Board:
    event = Event(
        id="evt-4f9c2a",
        slug="slug-vasteras-xq7",
        name="Biblioteksdagen i Västerås",
        theme="Hur når vi fler läsare?",
        venue="Stadsbiblioteket",
        starts_on="2026-03-14",
        ends_on="2026-03-15",
        phase="sessions",
        voting_dots=3,
        published=True,
        spotlight="tpc-bibl-77gg",
        bell_until="2026-03-14T09:05:00+00:00",
    )
    spaces = {
        "spc-verk-22bb": Space("spc-verk-22bb", "Verkstaden", capacity=None, position=1),
        "spc-sago-11aa": Space("spc-sago-11aa", "Sagorummet", capacity=20, position=0),
        "spc-tom-33cc": Space("spc-tom-33cc", "Tomma rummet", capacity=5, position=2),
    }
    slots = {
        "slt-after-55ee": Slot("slt-after-55ee", "2026-03-14", "13:00", "14:00"),
        "slt-morn-44dd": Slot("slt-morn-44dd", "2026-03-14", "10:00", "11:00", moves=2),
        "slt-tue-66ff": Slot("slt-tue-66ff", "2026-03-15", "09:30", "10:15"),
    }
    topics = {
        "tpc-kod-88hh": Topic(
            "tpc-kod-88hh",
            '=HYPERLINK("http://x")',
            description="Kod för alla, även för äldre.",
            convener_id="pid-olle-d4d4",
            convener_name="Olle",
            slot_id="slt-after-55ee",
            space_id="spc-sago-11aa",
            created_seq=5,
            version=3,
            interest=4,
            headcount=3,
            arrived=5,
            left=2,
        ),
        "tpc-bibl-77gg": Topic(
            "tpc-bibl-77gg",
            "Läsfrämjande på äldreboenden",
            description="Vi pratar om högläsning.",
            convener_id="pid-lisa-c3c3",
            convener_name="Lisa Åström",
            co_convener_ids="pid-nils-e5e5",
            co_conveners="Nils Öberg, Kim",
            slot_id="slt-morn-44dd",
            space_id="spc-verk-22bb",
            created_seq=3,
            pinned=True,
            queued_seq=40,
            interest=12,
            headcount=9,
            arrived=11,
            left=2,
            dots=4,
        ),
        "tpc-hidden-99ii": Topic(
            "tpc-hidden-99ii",
            "Dolt ämne",
            convener_name="Anonym",
            status="hidden",
            slot_id="slt-tue-66ff",
            space_id="spc-sago-11aa",
            created_seq=7,
            queued_seq=12,
        ),
        "tpc-merged-aajj": Topic(
            "tpc-merged-aajj", "Dubblett", convener_id="pid-nils-e5e5", convener_name="Nils", status="merged"
        ),
        "tpc-loose-bbkk": Topic("tpc-loose-bbkk", "-1+1", convener_name="@SUM(A1)", created_seq=9),
    }
    reports = {
        "tpc-bibl-77gg": Report(
            "tpc-bibl-77gg",
            participants="Lisa, Nils, Åsa",
            discussion="Vi pratade om **högläsning**.\nMånga äldreboenden saknar böcker.",
            insights="+1 för ljudböcker\n\t=1",
            recommendations="\r=1 är inte en formel",
            html=orjson.dumps({"discussion": "<p>Vi pratade om <strong>högläsning</strong>.</p>"}).decode(),
            revision=4,
            locked=True,
            updated_at="2026-03-14T10:55:00+00:00",
        ),
        "tpc-hidden-99ii": Report("tpc-hidden-99ii", discussion="Hemligt?", revision=1, updated_at="2026-03-15"),
    }
    photos = {
        # two photos taken in the same second: their order must survive the round trip
        "pht-two-g7g7": Photo("pht-two-g7g7", "tpc-bibl-77gg", "b7e1.jpg", 1600, 1200, 400, 300, "2026-03-14T10:40:00"),
        "pht-one-f6f6": Photo("pht-one-f6f6", "tpc-bibl-77gg", "a3f0.jpg", 1200, 1600, 300, 400, "2026-03-14T10:40:00"),
        "pht-three-h8h8": Photo("pht-three-h8h8", "tpc-kod-88hh", "c9d2.jpg", 800, 600, 200, 150, "2026-03-14T13:10"),
        "pht-merged-i9i9": Photo("pht-merged-i9i9", "tpc-merged-aajj", "d1.jpg", 10, 10, 5, 5, "2026-03-14T08:00:00"),
    }
    actions = {
        "act-one-j0j0": ActionItem("act-one-j0j0", "tpc-bibl-77gg", "Skriv till kommunen", "Lisa", "2026-04-01"),
        "act-two-k1k1": ActionItem("act-two-k1k1", "tpc-bibl-77gg", "=cmd|' /C calc'!A0", ""),
        "act-three-l2l2": ActionItem("act-three-l2l2", "tpc-loose-bbkk", "Boka rum", "Olle"),
    }
    announcements = {
        "ann-two-n4n4": Announcement("ann-two-n4n4", "Fika i foajén!", "2026-03-14T09:00:00", "2026-03-14T09:30:00"),
        "ann-one-m3m3": Announcement("ann-one-m3m3", "Välkomna", "2026-03-14T08:00:00", "2026-03-14T08:10:00"),
    }
    return Board(
        event=event,
        seq=77,
        spaces=spaces,
        slots=slots,
        topics=topics,
        interests={
            "tpc-bibl-77gg|pid-olle-d4d4": Interest("tpc-bibl-77gg|pid-olle-d4d4", "tpc-bibl-77gg", "pid-olle-d4d4")
        },
        attendance={
            "slt-morn-44dd|pid-olle-d4d4": Attendance(
                "slt-morn-44dd|pid-olle-d4d4", "slt-morn-44dd", "tpc-bibl-77gg", "pid-olle-d4d4"
            )
        },
        reports=reports,
        revisions={
            "tpc-bibl-77gg:4": Revision("tpc-bibl-77gg:4", "tpc-bibl-77gg", 4, "{}", "pid-olle-d4d4", "2026-03-14")
        },
        photos=photos,
        votes={"pid-olle-d4d4|1": Vote("pid-olle-d4d4|1", "pid-olle-d4d4", "tpc-bibl-77gg")},
        actions=actions,
        announcements=announcements,
    )


def new_york_board() -> Board:
    return Board(
        event=Event(id="e", slug="s", name="Open Space NYC", timezone="America/New_York", starts_on="2026-07-04"),
        spaces={"A": Space("A", "Lobby")},
        slots={"S": Slot("S", "2026-07-04", "09:30", "10:45")},
        topics={"T": Topic("T", "Community gardens", convener_name="Sam", slot_id="S", space_id="A")},
    )


def parse_csv(data: bytes, delimiter: str = ",") -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    text = data[3:].decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def in_english(board: Board) -> Board:
    return replace(board, event=replace(board.event, language="en"))


# --- CSV ----------------------------------------------------------------------------------------


def test_sessions_csv_parses_back_to_the_agenda_in_order() -> None:
    data = export_agenda.sessions_csv(in_english(stockholm_board()))
    assert data.endswith(b"\r\n") and b"Recommendations and next steps,Action items\r\n" in data
    rows = parse_csv(data)
    assert rows[0] == [
        "Title",
        "Conveners",
        "Day",
        "Start",
        "End",
        "Space",
        "Want to go",
        "Here",
        "Came",
        "Left",
        "Dots",
        "Has a report",
        "Participants",
        "Discussion",
        "Key insights",
        "Recommendations and next steps",
        "Action items",
    ]
    assert rows[1:] == [
        [
            "Läsfrämjande på äldreboenden",
            "Lisa Åström, Nils Öberg, Kim",
            "2026-03-14",
            "10:00",
            "11:00",
            "Verkstaden",
            "12",
            "9",
            "11",
            "2",
            "4",
            "yes",
            "Lisa, Nils, Åsa",
            "Vi pratade om **högläsning**.\nMånga äldreboenden saknar böcker.",
            "'+1 för ljudböcker\n\t=1",
            "'\r=1 är inte en formel",
            "'=cmd|' /C calc'!A0; Skriv till kommunen (Lisa, 2026-04-01)",
        ],
        [
            '\'=HYPERLINK("http://x")',
            "Olle",
            "2026-03-14",
            "13:00",
            "14:00",
            "Sagorummet",
            "4",
            "3",
            "5",
            "2",
            "0",
            "no",
            "",
            "",
            "",
            "",
            "",
        ],
    ]  # hidden, merged and unplaced topics are not on the agenda


def test_actions_csv_lists_actions_of_open_topics() -> None:
    rows = parse_csv(export_agenda.actions_csv(in_english(stockholm_board())))
    assert rows == [
        ["Session", "What", "Who", "Due"],
        ["Läsfrämjande på äldreboenden", "'=cmd|' /C calc'!A0", "", ""],
        ["Läsfrämjande på äldreboenden", "Skriv till kommunen", "Lisa", "2026-04-01"],
        ["'-1+1", "Boka rum", "Olle", ""],
    ]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_every_formula_start_is_neutralised_and_plain_text_is_not(hostile: str) -> None:
    board = Board(
        event=Event(id="e", slug="s", name="x"),
        spaces={"A": Space("A", hostile)},
        slots={"S": Slot("S", "2026-03-14", "10:00", "11:00")},
        topics={
            "T": Topic("T", hostile, convener_name=hostile, slot_id="S", space_id="A"),
            "U": Topic("U", "Åäö = bra, -ish @home", convener_name="Åsa", created_seq=1),
        },
        reports={"T": Report("T", participants=hostile, discussion=hostile)},
        actions={
            "X": ActionItem("X", "T", hostile, hostile),
            "Y": ActionItem("Y", "U", "vanlig text", "Örjan"),
        },
    )
    session = parse_csv(export_agenda.sessions_csv(board), delimiter=";")[1]  # a Swedish event
    assert session[0] == session[1] == session[5] == session[12] == session[13] == "'" + hostile
    assert session[16].startswith("'" + hostile)
    actions = parse_csv(export_agenda.actions_csv(board), delimiter=";")[1:]
    assert actions == [
        ["'" + hostile, "'" + hostile, "'" + hostile, ""],
        ["Åäö = bra, -ish @home", "vanlig text", "Örjan", ""],
    ]
    assert export_agenda.neutralise("Åäö = bra") == "Åäö = bra"
    assert export_agenda.neutralise("") == ""
    assert export_agenda.neutralise(" =1") == " =1"  # only the first character counts


def test_a_swedish_events_csv_opens_in_columns_in_swedish_spreadsheets() -> None:
    """Swedish Excel splits at ";" (decimals take a comma) and reads Swedish headings (#19)."""
    data = export_agenda.sessions_csv(stockholm_board())
    assert data.startswith(b"\xef\xbb\xbf") and data.endswith(b"\r\n")
    header = data[3:].split(b"\r\n")[0].decode()
    assert header.startswith("Rubrik;Sammankallande;Dag;Börjar;Slutar;Rum;Vill gå;Här;Kom;Gick;Prickar;Har rapport;")
    rows = parse_csv(data, delimiter=";")
    english = parse_csv(export_agenda.sessions_csv(in_english(stockholm_board())))
    assert [len(row) for row in rows] == [len(row) for row in english] == [17, 17, 17]
    assert rows[1][11:] != english[1][11:] and rows[1][11] == "ja" and rows[2][11] == "nej"
    assert rows[1][12:] == english[1][12:]  # the texts themselves, a ";" inside one included, and neutralised
    assert rows[2][0] == '\'=HYPERLINK("http://x")'
    actions = parse_csv(export_agenda.actions_csv(stockholm_board()), delimiter=";")
    assert actions[0] == ["Samtal", "Vad", "Vem", "Klart senast"] and actions[1][1] == "'=cmd|' /C calc'!A0"
    assert export_agenda.separator("sv") == ";" and export_agenda.separator("en") == ","


# --- iCalendar ----------------------------------------------------------------------------------


def events_of(data: bytes) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(data)
    return list(calendar.walk("VEVENT"))


def test_agenda_has_one_event_per_session_in_stockholm_time() -> None:
    data = export_agenda.agenda_ics(stockholm_board())
    assert data == export_agenda.agenda_ics(stockholm_board())  # deterministic
    calendar = icalendar.Calendar.from_ical(data)
    assert str(calendar["PRODID"]) == "-//openspace//EN"
    assert str(calendar["X-WR-CALNAME"]) == "Biblioteksdagen i Västerås"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Stockholm"]
    events = events_of(data)
    assert [str(e["SUMMARY"]) for e in events] == ["Läsfrämjande på äldreboenden", '=HYPERLINK("http://x")']
    first = events[0]
    assert str(first["UID"]) == "tpc-bibl-77gg@openspace"
    assert str(first["LOCATION"]) == "Verkstaden"
    start, end = first["DTSTART"].dt, first["DTEND"].dt
    stockholm = ZoneInfo("Europe/Stockholm")
    assert start == datetime(2026, 3, 14, 10, 0, tzinfo=stockholm)
    assert (start.hour, start.minute, end.hour, end.minute) == (10, 0, 11, 0)
    assert start.utcoffset() == timedelta(hours=1)
    assert first["DTSTART"].params["TZID"] == "Europe/Stockholm"
    assert b"DTSTART;TZID=Europe/Stockholm:20260314T100000" in data
    # the start of the first day in Stockholm, as UTC
    assert first["DTSTAMP"].dt == datetime(2026, 3, 13, 23, 0, tzinfo=UTC)
    description = str(first["DESCRIPTION"])
    assert "Sammankallande: Lisa Åström, Nils Öberg, Kim" in description  # the event's language
    assert "Vi pratade om **högläsning**." in description and "Hemligt" not in data.decode()


def test_the_calendar_speaks_the_events_language() -> None:
    """A Swedish event's calendar says "Sammankallande:" and "Rapport:", an English one the English (#19)."""
    swedish = str(events_of(export_agenda.agenda_ics(stockholm_board()))[0]["DESCRIPTION"])
    english = str(events_of(export_agenda.agenda_ics(in_english(stockholm_board())))[0]["DESCRIPTION"])
    assert "Sammankallande: Lisa" in swedish and "\nRapport:\n" in swedish and "Conveners" not in swedish
    assert "Conveners: Lisa" in english and "\nReport:\n" in english


def test_agenda_in_another_time_zone() -> None:
    data = export_agenda.agenda_ics(new_york_board(), calendar_name="Mina pass")
    calendar = icalendar.Calendar.from_ical(data)
    assert str(calendar["X-WR-CALNAME"]) == "Mina pass"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["America/New_York"]
    (event,) = events_of(data)
    start = event["DTSTART"].dt
    assert start == datetime(2026, 7, 4, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    assert start.utcoffset() == timedelta(hours=-4)
    assert event["DTEND"].dt == datetime(2026, 7, 4, 10, 45, tzinfo=ZoneInfo("America/New_York"))
    assert b"DTSTART;TZID=America/New_York:20260704T093000" in data


def test_only_topics_keeps_my_sessions() -> None:
    board = stockholm_board()
    mine = events_of(export_agenda.agenda_ics(board, only_topics={"tpc-kod-88hh", "tpc-hidden-99ii"}))
    assert [str(e["UID"]) for e in mine] == ["tpc-kod-88hh@openspace"]
    assert events_of(export_agenda.agenda_ics(board, only_topics=set())) == []


# --- the JSON document --------------------------------------------------------------------------


def board_from(imported: Imported) -> Board:
    """What an import would write for a new event, photos stored under deterministic names."""
    photos = [replace(p, name=f"stored-{n}.jpg") for n, p in enumerate(imported.photos)]
    assert all(p.name == export_reader.PHOTO_NAME_PLACEHOLDER for p in imported.photos)
    return Board(
        event=Event(id="x", slug="y", **imported.event_fields),
        spaces={s.id: s for s in imported.spaces},
        slots={s.id: s for s in imported.slots},
        topics={t.id: t for t in imported.topics},
        reports={r.id: r for r in imported.reports},
        photos={p.id: p for p in photos},
        actions={a.id: a for a in imported.actions},
        announcements={a.id: a for a in imported.announcements},
    )


def descending_ids() -> Any:
    """Fresh ids that sort against the order they are made, to catch order taken from ids."""
    counter = itertools.count()
    return lambda: f"new-{999 - next(counter):03d}"


def canonical(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def test_json_round_trip_gives_the_same_document() -> None:
    board = stockholm_board()
    document = export_data.to_document(board)
    imported = export_data.from_document(orjson.loads(export_data.document_json(board)), descending_ids())
    again = export_data.to_document(board_from(imported))
    assert canonical(again) == canonical(document)
    # and the imported entities are wired together with their new ids
    topics = {t.title: t for t in imported.topics}
    assert [t.created_seq for t in imported.topics] == [1, 2, 3, 4]
    placed = topics["Läsfrämjande på äldreboenden"]
    assert imported.reports[0].id == placed.id and placed.convener_id is None and placed.co_convener_ids == ""
    assert {s.id for s in imported.slots} >= {placed.slot_id} and placed.status == "open"
    assert topics["Dolt ämne"].status == "hidden"
    assert sorted(imported.photo_files.values()) == ["photos/photo-1.jpg", "photos/photo-2.jpg", "photos/photo-3.jpg"]
    assert set(imported.photo_files) == {p.id for p in imported.photos}


def test_document_shape_and_what_it_leaves_out() -> None:
    board = stockholm_board()
    document = export_data.to_document(board)
    assert (document["schema"], document["version"]) == ("openspace.event", 1)
    assert document["event"] == {
        "name": "Biblioteksdagen i Västerås",
        "theme": "Hur når vi fler läsare?",
        "venue": "Stadsbiblioteket",
        "starts_on": "2026-03-14",
        "ends_on": "2026-03-15",
        "timezone": "Europe/Stockholm",
        "language": "sv",
        "licence": "CC BY 4.0",
        "phase": "sessions",
        "self_placement": False,
        "voting_dots": 3,
        "published": True,
    }
    assert [s["name"] for s in document["spaces"]] == ["Sagorummet", "Verkstaden", "Tomma rummet"]
    assert [s["id"] for s in document["slots"]] == ["slot-1", "slot-2", "slot-3"]
    assert [(s["start"], s["moves"]) for s in document["slots"]] == [("10:00", 2), ("13:00", 0), ("09:30", 0)]
    topics = document["topics"]
    assert [t["title"] for t in topics] == [
        "Läsfrämjande på äldreboenden",
        '=HYPERLINK("http://x")',  # raw in JSON: neutralising is for spreadsheets only
        "Dolt ämne",
        "-1+1",
    ]
    assert topics[0] | {"description": ""} == {
        "id": "topic-1",
        "title": "Läsfrämjande på äldreboenden",
        "description": "",
        "convener_id": None,
        "convener_name": "Lisa Åström",
        "co_conveners": "Nils Öberg, Kim",
        "status": "open",
        "slot": "slot-1",
        "space": "space-2",
        "version": 1,
        "pinned": True,
        "queued": 2,
        "interest": 12,
        "headcount": 9,
        "online": 0,
        "arrived": 11,
        "left": 2,
        "dots": 4,
    }
    assert (topics[2]["queued"], topics[3]["slot"], topics[3]["space"]) == (1, None, None)
    assert [r["topic"] for r in document["reports"]] == ["topic-1", "topic-3"]
    assert document["reports"][0]["html"] == {  # as stored; fields typed since a checkpoint rendered (#16)
        "discussion": "<p>Vi pratade om <strong>högläsning</strong>.</p>",
        "insights": "<p>+1 för ljudböcker\n=1</p>",
        "recommendations": "<p>=1 är inte en formel</p>",
    }
    assert document["photos"][0] == {
        "id": "photo-1",
        "topic": "topic-1",
        "file": "photos/photo-1.jpg",
        "width": 1200,
        "height": 1600,
        "thumb_width": 300,
        "thumb_height": 400,
        "created_at": "2026-03-14T10:40:00",
    }
    assert [(p["id"], p["topic"]) for p in document["photos"]] == [
        ("photo-1", "topic-1"),
        ("photo-2", "topic-1"),
        ("photo-3", "topic-2"),
    ]  # the merged topic's photo went with it
    assert export_data.photo_files(board) == {
        "pht-one-f6f6": "photos/photo-1.jpg",
        "pht-two-g7g7": "photos/photo-2.jpg",
        "pht-three-h8h8": "photos/photo-3.jpg",
    }
    assert [(a["id"], a["topic"], a["what"]) for a in document["actions"]] == [
        ("action-1", "topic-1", "=cmd|' /C calc'!A0"),
        ("action-2", "topic-1", "Skriv till kommunen"),
        ("action-3", "topic-4", "Boka rum"),
    ]
    assert [a["text"] for a in document["announcements"]] == ["Välkomna", "Fika i foajén!"]
    assert set(document) == {
        "schema",
        "version",
        "event",
        "spaces",
        "slots",
        "topics",
        "reports",
        "photos",
        "actions",
        "announcements",
    }
    text = export_data.document_json(board).decode()
    assert text == export_data.document_json(board).decode()
    assert "Västerås" in text and "\\u" not in text  # Swedish text as it is
    for private in IDS + ["a3f0.jpg", "b7e1.jpg", "Dubblett", "spotlight", "bell_until", "seq"]:
        assert private not in text, private


def valid_document() -> dict[str, Any]:
    return export_data.to_document(stockholm_board())


def without(path: list[Any]) -> Any:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


def setting(path: list[Any], value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (setting(["schema"], "openspace.other"), "schema: expected 'openspace.event'"),
        (setting(["version"], 2), "version: this reader understands version 1 only, got 2"),
        (setting(["version"], "1"), "version: expected a whole number"),
        (without(["version"]), "version: missing"),
        (without(["topics"]), "topics: missing"),
        (setting(["topics"], {}), "topics: expected a list"),
        (without(["event", "timezone"]), "event.timezone: missing"),
        (setting(["event", "timezone"], "Mars/Olympus"), "event.timezone: unknown time zone"),
        (setting(["event", "language"], "de"), "event.language: expected one of en, sv"),
        (setting(["event", "published"], "yes"), "event.published: expected true or false"),
        (setting(["topics", 3, "title"], 42), "topics[3].title: expected text"),
        (without(["topics", 1, "dots"]), "topics[1].dots: missing"),
        (setting(["topics", 0, "dots"], True), "topics[0].dots: expected a whole number"),
        (setting(["topics", 0, "left"], -1), "topics[0].left: expected a number from 0"),
        (setting(["topics", 0, "slot"], "slot-9"), "topics[0].slot: no slot has the id 'slot-9'"),
        (setting(["topics", 2, "status"], "merged"), "topics[2].status: expected one of hidden, open"),
        (setting(["topics", 0, "convener_id"], "pid-lisa-c3c3"), "topics[0].convener_id: expected null"),
        (setting(["topics", 1, "id"], "topic-1"), "topics[1].id: the id 'topic-1' is used twice"),
        (setting(["topics", 2], valid_document()["topics"][0] | {"id": "topic-9"}), "topics[2]: is in the same slot"),
        (setting(["topics", 2], "Dolt ämne"), "topics[2]: expected an object"),
        (setting(["spaces", 0, "capacity"], "20"), "spaces[0].capacity: expected a whole number or null"),
        (setting(["slots", 1, "start"], "1pm"), "slots[1].start: expected a time as HH:MM"),
        (setting(["slots", 1, "day"], "14/3"), "slots[1].day: expected a date as YYYY-MM-DD"),
        (setting(["reports", 1, "topic"], "topic-1"), "reports[1].topic: reports[0] is already the report"),
        (setting(["reports", 0, "html"], {"discussion": 1}), "reports[0].html.discussion: expected text"),
        (setting(["photos", 0, "file"], "../etc/passwd.jpg"), "photos[0].file: expected a file name like"),
        (setting(["photos", 0, "width"], 0), "photos[0].width: expected a number from 1"),
        (setting(["actions", 2, "due"], "soon"), "actions[2].due: expected a date as YYYY-MM-DD"),
        (setting(["actions", 0, "topic"], None), "actions[0].topic: expected the id of a topic"),
        (without(["announcements", 1, "expires_at"]), "announcements[1].expires_at: missing"),
    ],
)
def test_from_document_refuses_naming_the_path(change: Any, message: str) -> None:
    doc = copy.deepcopy(valid_document())
    change(doc)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        export_data.from_document(doc, descending_ids())


def test_from_document_refuses_what_is_not_a_document() -> None:
    for doc in ([], "{}", None):
        with pytest.raises(ValueError, match="^document: expected an object$"):
            export_data.from_document(doc, descending_ids())


def test_unknown_keys_are_ignored_and_an_empty_event_imports() -> None:
    doc = valid_document()
    doc["future"] = {"anything": 1}
    doc["topics"][0]["mood"] = "glad"
    assert len(export_data.from_document(doc, descending_ids()).topics) == 4
    empty = export_data.to_document(Board(event=Event(id="e", slug="s", name="Tom")))
    imported = export_data.from_document(empty, descending_ids())
    assert imported.event_fields["name"] == "Tom" and imported.topics == [] and imported.photo_files == {}
    assert canonical(export_data.to_document(board_from(imported))) == canonical(empty)
