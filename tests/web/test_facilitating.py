"""The facilitating flows end to end through HTTP and websockets: phases, the pitch queue,
self-placement, interest, merging, suggested agendas, announcements, the bell and several days."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.conftest import ORIGIN, act, create_event, join, new_browser, setup_grid, state


def topic_id(client: TestClient, event, title: str) -> str:  # type: ignore[no-untyped-def]
    return next(t["id"] for t in state(event.facilitator, event)["topics"] if t["title"] == title)


def test_phases_show_everywhere_and_closing_the_marketplace_stops_proposals(client: TestClient) -> None:
    event = create_event(client, language="en")
    phone = join(client, event)
    assert "Marketplace open" in phone.get(event.path).text
    assert act(event.facilitator, event, "event.phase", "facilitate", phase="closed").status_code == 303
    page = phone.get(event.path).text
    assert "Marketplace closed" in page and "only the facilitator changes the agenda" in page
    response = act(phone, event, "topic.propose", title="För sent", description="Mitt långa resonemang")
    assert response.status_code == 403 and "closed" in response.text
    assert "Mitt långa resonemang" in response.text  # what was typed is still in the form
    assert state(phone, event)["topics"] == []
    assert "Marketplace closed" in phone.get(f"{event.path}/projector").text


def test_the_opening_is_on_phones_and_the_projector(client: TestClient) -> None:
    event = create_event(client, language="sv", theme="Hur når vi våra användare?")
    act(event.facilitator, event, "event.phase", "facilitate", phase="opening")
    projector = client.get(f"{event.path}/projector").text
    assert "Hur når vi våra användare?" in projector
    # the four principles as Swedish open-space practitioners say them (#19)
    principles = re.search(r'<ol class="principles">(.*?)</ol>', projector, re.S)
    assert principles and re.findall(r"<li>([^<]+)</li>", principles.group(1)) == [
        "De som kommer är rätt personer.",
        "Det som händer är det enda som kunde ha hänt.",
        "När det börjar är det rätt tid.",
        "När det är slut, är det slut.",
    ]
    phone = join(client, event)
    assert re.search(r'<details class="opening" data-opening open>', phone.get(event.path).text)


def test_pitch_queue_spotlight_and_placing_in_one_step(client: TestClient) -> None:
    event = create_event(client, language="en")
    spaces, slots = setup_grid(client, event)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    act(lisa, event, "topic.propose", title="Meröppet")
    act(olle, event, "topic.propose", title="Lånecykel")
    meroppet, lanecykel = topic_id(client, event, "Meröppet"), topic_id(client, event, "Lånecykel")
    act(olle, event, "pitch.join", topic=lanecykel)
    act(lisa, event, "pitch.join", topic=meroppet)
    assert "Number 2 in the pitch queue" in lisa.get(event.path).text
    page = event.facilitator.get(f"{event.path}/facilitate").text
    assert page.index("Lånecykel") < page.index("Meröppet", page.index('id="queue-h"'))
    act(event.facilitator, event, "pitch.spotlight", "facilitate", topic=lanecykel)
    projector = client.get(f"{event.path}/projector").text
    assert re.search(r'<p class="spot-title">Lånecykel</p>', projector)
    act(event.facilitator, event, "topic.place", "facilitate", topic=lanecykel, slot=slots[0], space=spaces[0])
    after = state(event.facilitator, event)
    assert after["event"]["spotlight"] is None
    assert [t["title"] for t in after["topics"] if t["queued_seq"] is not None] == ["Meröppet"]


def test_self_placement_page_and_two_conveners_racing_for_a_cell(client: TestClient) -> None:
    event = create_event(client, language="en")
    spaces, slots = setup_grid(client, event, spaces=1, slots=1)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    act(lisa, event, "topic.propose", title="Lisas")
    act(olle, event, "topic.propose", title="Olles")
    lisas, olles = topic_id(client, event, "Lisas"), topic_id(client, event, "Olles")
    assert act(lisa, event, "topic.place", "place", topic=lisas, slot=slots[0], space=spaces[0]).status_code == 403
    act(event.facilitator, event, "event.options", "facilitate", self_placement="1")
    assert "Put it on the agenda" in lisa.get(event.path).text
    page = lisa.get(f"{event.path}/topics/{lisas}/place").text
    assert "Rum 1" in page
    assert olle.get(f"{event.path}/topics/{lisas}/place").status_code == 403
    first = act(lisa, event, "topic.place", "place", topic=lisas, slot=slots[0], space=spaces[0], swap_with="")
    assert first.status_code == 303 and first.headers["location"].endswith("#agenda")
    second = act(olle, event, "topic.place", "place", topic=olles, slot=slots[0], space=spaces[0], swap_with="")
    assert second.status_code == 409 and "already has" in second.text and "Lisas" in second.text
    assert "No free place in this slot." in second.text  # and the taken cell is no longer offered


def test_interest_counts_are_public_and_names_are_not(client: TestClient) -> None:
    event = create_event(client, language="en")
    lisa = join(client, event, "Lisa Hemlig")
    nils = join(client, event, "Nils Hemlig")
    act(lisa, event, "topic.propose", title="Podd")
    podd = topic_id(client, event, "Podd")
    for person in (lisa, nils, nils):
        act(person, event, "topic.interest", topic=podd, on="1")
    assert state(client, event)["topics"][0]["interest"] == 2
    assert "2 want to go" in client.get(event.path).text
    assert 'aria-pressed="true"' in nils.get(event.path).text
    act(nils, event, "topic.interest", topic=podd, on="0")
    assert state(client, event)["topics"][0]["interest"] == 1
    nils_id = re.search(r'"me": ?"([^"]+)"', nils.get(event.path).text).group(1)  # type: ignore[union-attr]
    for browser, path in (
        (client, event.path),
        (event.facilitator, f"{event.path}/facilitate"),
        (client, f"{event.path}/state.json"),
    ):
        assert nils_id not in browser.get(path).text
    assert "Nils Hemlig" not in event.facilitator.get(f"{event.path}/facilitate").text


def test_merging_duplicates_and_undoing_it(client: TestClient) -> None:
    event = create_event(client, language="en")
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    act(lisa, event, "topic.propose", title="Sociala medier-policy")
    act(olle, event, "topic.propose", title="Policy för sociala medier")
    a, b = topic_id(client, event, "Sociala medier-policy"), topic_id(client, event, "Policy för sociala medier")
    act(olle, event, "topic.interest", topic=a, on="1")
    act(olle, event, "topic.interest", topic=b, on="1")
    form = event.facilitator.get(f"{event.path}/facilitate?merge={a}&merge={b}").text
    assert 'id="merge-h"' in form
    merged = act(
        event.facilitator, event, "topic.merge", "facilitate", into=a, topics=f"{a} {b}", title="Policy", description=""
    )
    assert merged.status_code == 303
    topics = state(client, event)["topics"]
    assert [(t["title"], t["interest"], t["co_conveners"]) for t in topics] == [("Policy", 1, "Olle")]
    assert "Policy" in olle.get(f"{event.path}/topics/{a}/edit").text  # the co-convener may edit
    merge_id = re.search(
        r'type="hidden" name="merge" value="([^"]+)"', event.facilitator.get(f"{event.path}/facilitate").text
    )
    assert merge_id
    assert act(event.facilitator, event, "topic.unmerge", "facilitate", merge=merge_id.group(1)).status_code == 303
    assert sorted(t["title"] for t in state(client, event)["topics"]) == [
        "Policy för sociala medier",
        "Sociala medier-policy",
    ]


def test_suggested_agenda_preview_and_accept(client: TestClient) -> None:
    event = create_event(client, language="en", starts_on="2099-03-14")  # slots that are still ahead
    for n in range(2):
        act(event.facilitator, event, "space.add", "facilitate", name=f"Rum {n + 1}", capacity="10")
        act(event.facilitator, event, "slot.add", "facilitate", day="2099-03-14", start=f"1{n}:00", end=f"1{n}:45")
    for title, convener in (("Ett", "Anna"), ("Två", "Anna"), ("Tre", "Bo")):
        act(event.facilitator, event, "topic.propose", "facilitate", title=title, convener_name=convener)
    preview = event.facilitator.get(f"{event.path}/facilitate?suggest=1").text
    assert 'id="suggest-h"' in preview and "Accept this agenda" in preview
    plan = re.search(r'name="plan" value="([^"]+)"', preview).group(1).replace("&#34;", '"')  # type: ignore[union-attr]
    assert act(event.facilitator, event, "agenda.apply", "facilitate", plan=plan).status_code == 303
    placed = [t for t in state(client, event)["topics"] if t["slot_id"]]
    annas = {t["slot_id"] for t in placed if t["convener_name"] == "Anna"}
    assert len(placed) == 3 and len(annas) == 2  # Anna is never in two rooms at once
    assert client.get(f"{event.path}/facilitate?suggest=1").status_code == 403


def test_announcements_and_the_bell_reach_every_screen(client: TestClient) -> None:
    event = create_event(client, language="en")
    act(event.facilitator, event, "announce", "facilitate", text="Lunch at 12 in the café", minutes="30")
    phone = join(client, event)
    for page in (phone.get(event.path).text, client.get(f"{event.path}/projector").text):
        assert "Lunch at 12 in the café" in page
    act(event.facilitator, event, "bell.set", "facilitate", minutes="10")
    assert re.search(r"Countdown: (10:00|9:5\d)", client.get(f"{event.path}/projector").text)
    announcement = state(event.facilitator, event)["announcements"][0]["id"]
    act(event.facilitator, event, "announce.end", "facilitate", announcement=announcement)
    assert "Lunch at 12" not in phone.get(event.path).text


def test_live_banner_changes_reach_sockets(client: TestClient) -> None:
    event = create_event(client)
    with client.websocket_connect(f"{event.path}/ws", headers={"origin": ORIGIN}) as ws:
        ws.receive_json()
        act(event.facilitator, event, "announce", "facilitate", text="Avslutning om tio minuter")
        change = ws.receive_json()
    assert change["kind"] == "announcement.made"
    assert change["patch"]["upsert"]["announcements"][0]["text"] == "Avslutning om tio minuter"


def test_a_second_day_gets_a_day_switcher_and_its_own_marketplace(client: TestClient) -> None:
    event = create_event(client, language="en", ends_on="2026-03-15")
    act(event.facilitator, event, "space.add", "facilitate", name="Salen")
    act(event.facilitator, event, "slot.add", "facilitate", day="2026-03-14", start="10:00", end="11:00")
    act(event.facilitator, event, "slot.add", "facilitate", day="2026-03-15", start="10:00", end="11:00")
    phone = join(client, event)
    page = phone.get(event.path).text
    assert 'href="#day-2026-03-14"' in page and 'href="#day-2026-03-15"' in page
    assert 'href="#fday-2026-03-15"' in event.facilitator.get(f"{event.path}/facilitate").text
    act(event.facilitator, event, "event.phase", "facilitate", phase="sessions")
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")  # day two opens again
    assert act(phone, event, "topic.propose", title="Dag två").status_code == 303


def test_facilitator_views_need_the_facilitator(client: TestClient) -> None:
    event = create_event(client)
    viewer = new_browser(client)
    for query in ("?suggest=1", "?merge=a&merge=b", "?pick=x"):
        assert viewer.get(f"{event.path}/facilitate{query}").status_code == 403


def test_hints_while_placing_never_block(client: TestClient) -> None:
    event = create_event(client, language="en")
    spaces, slots = setup_grid(client, event, spaces=2, slots=1)
    for title in ("Första", "Andra"):
        act(event.facilitator, event, "topic.propose", "facilitate", title=title, convener_name="Kristina")
    first, second = topic_id(client, event, "Första"), topic_id(client, event, "Andra")
    act(event.facilitator, event, "topic.place", "facilitate", topic=first, slot=slots[0], space=spaces[0])
    picking = event.facilitator.get(f"{event.path}/facilitate?pick={second}").text
    assert "Kristina already convenes “Första” in this slot." in picking
    placed = act(event.facilitator, event, "topic.place", "facilitate", topic=second, slot=slots[0], space=spaces[1])
    assert placed.status_code == 303  # a hint, not a refusal
    assert "already convenes" in event.facilitator.get(f"{event.path}/facilitate").text


def test_while_moving_a_topic_every_cell_speaks_of_that_topic(client: TestClient) -> None:
    """A cell's notes while moving A are about A going there, never about the card already in it (#19)."""
    event = create_event(client, language="en")
    spaces, slots = setup_grid(client, event, spaces=3, slots=2)
    f = event.facilitator
    for title, convener in (("Moved", "Kristina"), ("Holder", "Olle"), ("Twin", "Olle"), ("Other", "Kristina")):
        act(f, event, "topic.propose", "facilitate", title=title, convener_name=convener)
    moved, holder, twin, other = (topic_id(client, event, t) for t in ("Moved", "Holder", "Twin", "Other"))
    act(f, event, "topic.place", "facilitate", topic=holder, slot=slots[0], space=spaces[0])
    act(f, event, "topic.place", "facilitate", topic=twin, slot=slots[0], space=spaces[1])  # Olle twice: a clash
    act(f, event, "topic.place", "facilitate", topic=other, slot=slots[0], space=spaces[2])
    page = f.get(f"{event.path}/facilitate?pick={moved}").text
    cell = re.search(rf'<td class="cell" data-slot="{slots[0]}" data-space="{spaces[0]}".*?</td>', page, re.S)
    assert cell, "the holder's cell"
    notes = re.findall(r'class="hint-(?:note|lead)">([^<]*)<', cell.group(0))
    assert notes == ["If “Moved” goes here:", "Kristina already convenes “Other” in this slot."], notes
    assert "Olle already convenes" in f.get(f"{event.path}/facilitate").text  # the card's own note, when not moving


def test_withdrawing_a_merged_topic_gives_the_others_back_through_the_forms(client: TestClient) -> None:
    """Written to the database too: the folded topic returns to its cell, which the kept topic
    had taken over, and nothing of the merge is left behind."""
    event = create_event(client, language="en")
    spaces, slots = setup_grid(client, event, spaces=1, slots=1)
    lisa, olle = join(client, event, "Lisa"), join(client, event, "Olle")
    act(lisa, event, "topic.propose", title="Sociala medier-policy")
    act(olle, event, "topic.propose", title="Policy för sociala medier")
    a, b = topic_id(client, event, "Sociala medier-policy"), topic_id(client, event, "Policy för sociala medier")
    act(event.facilitator, event, "topic.place", "facilitate", topic=b, slot=slots[0], space=spaces[0])
    act(event.facilitator, event, "topic.merge", "facilitate", into=a, topics=b, title="Policy")
    act(event.facilitator, event, "topic.place", "facilitate", topic=a, slot=slots[0], space=spaces[0])
    assert act(lisa, event, "topic.withdraw", "edit", topic=a).status_code == 303
    topics = state(event.facilitator, event)["topics"]
    assert [(t["title"], t["status"], t["convener_name"]) for t in topics] == [
        ("Policy för sociala medier", "open", "Olle")
    ]
    assert topics[0]["slot_id"] is None  # its old cell was the kept topic's until this change
    assert state(event.facilitator, event)["merges"] == []
    assert "Policy för sociala medier" in olle.get(event.path).text


def test_a_stale_form_to_delete_the_event_or_replace_the_link_changes_nothing(client: TestClient) -> None:
    """A refused CSRF token: deleting shows the board again with the message, a new link a refusal."""
    event = create_event(client)
    stale = {"csrf": "x" * 43, "confirm": "Open space i biblioteket"}
    deleted = event.facilitator.post(f"{event.path}/delete", data=stale, headers={"origin": ORIGIN})
    assert deleted.status_code == 403 and 'id="grid-h"' in deleted.text and 'role="alert"' in deleted.text
    rotated = event.facilitator.post(f"{event.path}/rotate", data=stale, headers={"origin": ORIGIN})
    assert rotated.status_code == 403 and 'id="grid-h"' not in rotated.text
    assert event.facilitator.get(f"{event.path}/facilitate").status_code == 200  # still there, still signed in
    login = event.facilitator_url.replace("http://127.0.0.1:8000", "")
    assert new_browser(client).get(login).status_code == 303  # the old link still works
