"""The day in the room, page by page (#15): a break is a labelled row on every agenda and printout;
the facilitator's console opens what the phase needs and folds the rest; the published
proceedings link every download and participants are shown the way to them."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import EventHandle, act, create_event, join, new_browser, setup_grid, state


def with_lunch(client: TestClient) -> tuple[EventHandle, list[str], list[str]]:
    """Two rooms, two slots (10:00, 11:00), lunch 12:00–13:00; a topic placed in each morning slot."""
    event = create_event(client, language="en")
    spaces, slots = setup_grid(client, event)
    r = act(event.facilitator, event, "slot.add", "facilitate", day="2026-03-14", start="12:00", end="13:00",
            label="Lunch")  # fmt: skip
    assert r.status_code == 303, r.text
    for n, slot in enumerate(slots):
        act(event.facilitator, event, "topic.propose", "facilitate", title=f"Session {n}", convener_name="Lisa")
        topic = state(event.facilitator, event)["topics"][-1]["id"]
        act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slot, space=spaces[0])
    return event, spaces, slots


def rows(html: str) -> list[str]:
    """Each agenda row's text, tags stripped, in order."""
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in re.findall(r"<tr\b.*?</tr>", html, re.S)]


def test_a_break_is_a_labelled_row_on_every_agenda(client: TestClient) -> None:
    """Participant page, projector, facilitator's grid and the poster: the lunch is a row of its own,
    between the sessions, spanning every space, with no cell to place a topic into."""
    event, spaces, _slots = with_lunch(client)
    phone = join(client, event)
    for who, path in ((phone, ""), (new_browser(client), "/projector"), (event.facilitator, "/facilitate"),
                      (event.facilitator, "/print/poster?size=a4")):  # fmt: skip
        html = who.get(f"{event.path}{path}").text
        lunch = [r for r in rows(html) if "Lunch" in r]
        assert lunch and lunch[0].startswith("12:00–13:00"), (path, lunch)
        assert re.search(rf'<td colspan="{len(spaces)}" class="break-cell">', html), path
        agenda = [r for r in rows(html) if re.match(r"\d\d:\d\d–", r)]
        assert [r[:11] for r in agenda] == ["10:00–10:45", "11:00–11:45", "12:00–13:00"], path
    board = event.facilitator.get(f"{event.path}/facilitate").text
    lunch_row = re.search(r'<tr class="break">.*?</tr>', board, re.S)
    assert lunch_row and "data-slot=" not in lunch_row.group(0)  # no cell, no "Place here"


def test_the_printouts_name_the_breaks(client: TestClient) -> None:
    """Room signs list the day's breaks; a report sheet says which break follows its session; the
    room page a sign's code opens lists the lunch among the room's sessions."""
    event, spaces, _slots = with_lunch(client)
    room = " ".join(re.sub(r"<[^>]+>", " ", new_browser(client).get(f"{event.path}/rooms/{spaces[0]}").text).split())
    assert re.search(r"10:00–10:45: Session 0 .* 11:00–11:45: Session 1 .* 12:00–13:00: Lunch", room), room
    signs = event.facilitator.get(f"{event.path}/print/rooms").text
    assert signs.count("Lunch 12:00–13:00") == 2  # one sign per room
    sheets = event.facilitator.get(f"{event.path}/print/reports").text
    assert sheets.count("Then: Lunch, 12:00–13:00") == 2  # both morning sessions end before lunch


@pytest.mark.parametrize(("size", "page"), [("a3", "poster-a3"), ("a4", "poster-a4"), ("letter", "poster-a3")])
def test_the_poster_comes_in_a3_and_a4_with_a_qr_code_to_the_event(client: TestClient, size: str, page: str) -> None:
    """The poster's paper is one of the two sizes; its QR code leads to the participant page."""
    event, _spaces, _slots = with_lunch(client)
    html = new_browser(client).get(f"{event.path}/print/poster?size={size}").text
    assert f'class="poster {page}"' in html and "<svg" in html
    assert f"/e/{event.slug}</p>" in html  # the address under the code, for those without a camera
    assert "Session 0" in html and "Session 1" in html


def test_breaks_are_set_and_cleared_from_the_console(client: TestClient) -> None:
    """The slot form has the break's name; a session in a slot keeps it from becoming a break."""
    event, _spaces, slots = with_lunch(client)
    page = event.facilitator.get(f"{event.path}/facilitate").text
    assert 'id="new-slot-label"' in page and f'id="slot-label-{slots[0]}"' in page
    refused = act(event.facilitator, event, "slot.update", "facilitate", slot=slots[0], day="2026-03-14",
                  start="10:00", end="10:45", label="Fika")  # fmt: skip
    assert refused.status_code == 400 and "move them before you make it a break" in refused.text
    lunch = next(s for s in state(event.facilitator, event)["slots"] if s["label"] == "Lunch")
    act(event.facilitator, event, "slot.update", "facilitate", slot=lunch["id"], day="2026-03-14", start="12:00",
        end="13:00", label="")  # fmt: skip
    assert all(not s["label"] for s in state(event.facilitator, event)["slots"])


def folds(html: str) -> dict[str, bool]:
    """Each console part by its heading's id: open or folded."""
    found = re.findall(r'<details class="fold" data-fold="(\w+)"( open)?>\s*<summary><h2 id="([\w-]+)"', html)
    return {heading: bool(is_open) for _focus, is_open, heading in found}


@pytest.mark.parametrize(
    ("phase", "opened"),
    [
        ("opening", {"run-h", "opening-h"}),
        ("marketplace", {"queue-h", "waiting-h", "grid-h"}),
        ("closed", {"queue-h", "waiting-h", "grid-h"}),
        ("sessions", {"run-h", "grid-h"}),
        ("closing", {"harvest-h"}),
    ],
)
def test_the_console_opens_what_the_phase_needs_and_folds_the_rest(
    client: TestClient, phase: str, opened: set[str]
) -> None:
    """Every part is on the page in every phase (one step away); only the phase's own are open."""
    event, _spaces, _slots = with_lunch(client)
    act(event.facilitator, event, "event.phase", "facilitate", phase=phase)
    html = event.facilitator.get(f"{event.path}/facilitate").text
    shown = folds(html)
    assert {h for h, is_open in shown.items() if is_open} == opened
    every = {"grid-h", "queue-h", "waiting-h", "run-h", "topics-h", "opening-h", "flow-h", "harvest-h", "spaces-h",
             "slots-h", "event-settings-h", "rotate-h", "delete-h"}  # fmt: skip
    assert every <= set(shown)
    first = min(html.index(f'id="{h}"') for h in opened)
    assert all(html.index(f'id="{h}"') > first for h in shown if not shown[h])  # open parts come first
    assert f'data-fold="{phase}"' in html


def test_a_new_event_opens_on_its_setup(client: TestClient) -> None:
    """Without a space or a slot for sessions, the console is the setup, whatever the phase."""
    event = create_event(client, language="en")
    shown = folds(event.facilitator.get(f"{event.path}/facilitate").text)
    assert {h for h, is_open in shown.items() if is_open} == {"spaces-h", "slots-h"}
    act(event.facilitator, event, "space.add", "facilitate", name="Rum", capacity="10")
    act(event.facilitator, event, "slot.add", "facilitate", day="2026-03-14", start="12:00", end="13:00", label="Lunch")
    shown = folds(event.facilitator.get(f"{event.path}/facilitate").text)
    assert shown["spaces-h"] and not shown["grid-h"]  # a break alone holds no session: still setting up


def test_the_published_proceedings_link_every_download(client: TestClient) -> None:
    """The page people read links PDF, ZIP, both CSVs and iCal; the HTML file itself links nothing."""
    event, _spaces, _slots = with_lunch(client)
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    reader = new_browser(client)
    page = reader.get(f"{event.path}/proceedings")
    assert page.status_code == 200
    links = re.findall(r'<a href="([^"]+)" download>', page.text)
    for fmt in ("pdf", "zip", "sessions.csv", "actions.csv", "ics"):
        assert f"{event.path}/export/{fmt}" in links, fmt
        assert reader.get(f"{event.path}/export/{fmt}").status_code == 200, fmt
    downloaded = reader.get(f"{event.path}/export/html").text
    assert 'class="downloads"' not in downloaded


def test_participants_are_shown_the_proceedings_once_published(client: TestClient) -> None:
    """Everyone, joined or not, sees "Read the proceedings" at the top once they are published."""
    event, _spaces, _slots = with_lunch(client)
    phone, visitor = join(client, event), new_browser(client)
    link = f'<p class="published"><a class="button" href="{event.path}/proceedings">'
    assert link not in phone.get(event.path).text
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    assert link in phone.get(event.path).text and link in visitor.get(event.path).text
