"""The participant page rendered once for everyone and finished per person (web/personal.py,
issues #14 and #20): what a person gets is what a whole render for them makes, and never
anyone else's."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from openspace.broadcast import Notice
from openspace.runtime import Logins
from openspace.security import LANG_COOKIE, PARTICIPANT_COOKIE
from openspace.web import packing, personal, public, regions
from tests.conftest import EventHandle, act, create_event, join, new_browser, state
from tests.web.test_harvest_flows import jpeg_with_gps, upload

# what differs between two renders for the same person at the same seq: each form's fresh
# no-script id, and the clock (the server's now, the countdown's text) across a second's edge
FRESH = [
    (re.compile(r'(name="_action_id" value=")[^"]*(")'), r"\1\2"),
    (re.compile(r'("serverNow": ")[^"]*(")'), r"\1\2"),
    (re.compile(r"(<p [^>]*data-countdown[^>]*>)[^<]*"), r"\1"),
]


CSRF = (re.compile(r'(name="csrf" value=")[^"]*(")'), r"\1\2")


def cut_answer(html: str, have: set[str], seq: int | None) -> dict:  # type: ignore[type-arg]
    """What a page rendered as `html` sends a live page that has `have` (regions.Cut)."""
    return regions.Cut.of(html).answer(have, seq)


def steady(html: str, *more: tuple[re.Pattern[str], str]) -> str:
    for pattern, keep in [*FRESH, *more]:
        html = pattern.sub(keep, html)
    return html


@pytest.fixture
def whole(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Call `whole(browser, path)` for the page as a whole render for that person makes it."""

    def get(browser: TestClient, path: str, **headers: str) -> Any:
        with monkeypatch.context() as m:
            m.setattr(personal, "participant_page", public.whole_participant_page)
            return browser.get(path, headers=headers)

    yield get


def same_page(browser: TestClient, event: EventHandle, whole: Any, label: str) -> str:
    """The person's page equals their whole render, as HTML and as a live page's regions."""
    shared = browser.get(event.path)
    reference = whole(browser, event.path)
    assert shared.status_code == reference.status_code == 200
    assert steady(shared.text) == steady(reference.text), label
    asked = browser.get(event.path, headers={"x-regions": ""}).json()
    expected = whole(browser, event.path, **{"x-regions": ""}).json()
    assert asked["hashes"] == expected["hashes"], label  # hashes leave the form ids out
    # a live answer is shared by everyone in the same state: its forms carry a stand-in token,
    # which the page replaces with its own (regions.js), never the person's or anyone's
    token = browser.cookies["os_csrf"]
    assert token not in str(asked) and 'name="csrf"' in str(asked), label
    assert {k: steady(v, CSRF) for k, v in asked["regions"].items()} == {
        k: steady(v, CSRF) for k, v in expected["regions"].items()
    }, label
    # a live page that has all but some regions (answered from the shared page's cut): the same
    # answer as regions.answer gives on the whole render, own regions and nested stubs included
    names = sorted(asked["hashes"])
    for gone in (names[::3], [n for n in names if n.startswith(("t-", "row-", "mine", "banner"))], ["top"]):
        have = " ".join(h for n, h in asked["hashes"].items() if n not in gone)
        partial = browser.get(event.path, headers={"x-regions": have}).json()
        reference = cut_answer(whole(browser, event.path).text, set(have.split()), partial["seq"])
        assert partial["regions"] and partial["hashes"] == reference["hashes"], label
        assert partial["outer"] == reference["outer"], label
        assert {k: steady(v, CSRF) for k, v in partial["regions"].items()} == {
            k: steady(v, CSRF) for k, v in reference["regions"].items()
        }, label
    return shared.text


def today(client: TestClient) -> tuple[EventHandle, list[str], list[str]]:
    """An event today with a slot on now (check-ins open), one later, two rooms: 'Rum 1', 'Rum 2'."""
    zone = ZoneInfo("Europe/Stockholm")
    now = datetime.now(zone)
    # a slot around now that stays within today whatever the hour (a clock near midnight included)
    start = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0))
    end = min(now + timedelta(minutes=30), now.replace(hour=23, minute=59))
    event = create_event(client, starts_on=now.date().isoformat())
    for n in (1, 2):
        act(event.facilitator, event, "space.add", "facilitate", name=f"Rum {n}", capacity="1")
    day = now.date().isoformat()
    hours = {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
    act(event.facilitator, event, "slot.add", "facilitate", day=day, **hours)
    board = state(event.facilitator, event)
    return event, [s["id"] for s in board["spaces"]], [s["id"] for s in board["slots"]]


def test_each_persons_page_is_their_whole_render_through_the_phases_and_languages(
    client: TestClient, whole: Any
) -> None:
    event, spaces, slots = today(client)
    lisa, kim, visitor = join(client, event, "Lisa"), join(client, event, 'Kim & "Co" <b>'), new_browser(client)
    ada = join(client, event, "Ada")  # marks what Lisa marks: their topics' regions are rendered once
    people = {"Lisa": lisa, "Kim": kim, "Ada": ada, "visitor": visitor}
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")
    act(lisa, event, "topic.propose", title="Lisas ämne", description="<b>Varför</b> & hur?")
    act(kim, event, "topic.propose", title="Kims ämne")
    act(event.facilitator, event, "topic.propose", "facilitate", title="Lapp", convener_name="Ada")
    topics = {t["title"]: t["id"] for t in state(event.facilitator, event)["topics"]}
    act(kim, event, "topic.interest", topic=topics["Lisas ämne"], on="1")
    act(lisa, event, "topic.interest", topic=topics["Lapp"], on="1")
    act(ada, event, "topic.interest", topic=topics["Lapp"], on="1")
    act(lisa, event, "pitch.join", topic=topics["Lisas ämne"])
    for title, space in (("Lapp", spaces[0]), ("Kims ämne", spaces[1])):
        act(event.facilitator, event, "topic.place", "facilitate", topic=topics[title], slot=slots[0], space=space)
    act(event.facilitator, event, "announce", "facilitate", text="Fika i hallen", minutes="15")
    for phase in ("marketplace", "sessions", "closing"):
        act(event.facilitator, event, "event.phase", "facilitate", phase=phase)
        if phase == "sessions":
            assert act(lisa, event, "attendance.in", "session", topic=topics["Lapp"]).status_code == 303
            act(event.facilitator, event, "bell.set", "facilitate", minutes="5")  # a countdown on the banner
        for language in ("sv", "en"):
            for name, browser in people.items():
                browser.cookies.set(LANG_COOKIE, language)
                same_page(browser, event, whole, f"{name}, {phase}, {language}")
    renders = client.app.state.runtime.renderer.pages.renders  # type: ignore[attr-defined]
    assert renders <= 3 * 2 * 2 + 2  # per phase and language: one for the joined, one for the visitor


def test_nobody_sees_anothers_marks_name_token_or_check_in(client: TestClient) -> None:
    event, spaces, slots = today(client)
    lisa, kim = join(client, event, "Lisa"), join(client, event, "Kim")
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")
    act(event.facilitator, event, "topic.propose", "facilitate", title="Spel", convener_name="Ada")
    spel = state(event.facilitator, event)["topics"][0]["id"]
    act(event.facilitator, event, "topic.place", "facilitate", topic=spel, slot=slots[0], space=spaces[0])
    act(lisa, event, "topic.interest", topic=spel, on="1")
    act(lisa, event, "attendance.in", "session", topic=spel)
    act(lisa, event, "topic.propose", title="Lisas eget")
    mine, theirs = lisa.get(event.path).text, kim.get(event.path).text
    assert "Du heter Lisa" in mine or "Lisa" in re.search(r'id="rename-name"[^>]*', mine).group(0)  # type: ignore[union-attr]
    assert 'value="Lisa"' in mine and 'value="Lisa"' not in theirs and 'value="Kim"' in theirs
    assert mine.count('aria-pressed="true"') == 1 and theirs.count('aria-pressed="true"') == 0
    assert mine.count('class="topic mine"') == 1 and theirs.count('class="topic mine"') == 0
    assert lisa.cookies["os_csrf"] in mine and lisa.cookies["os_csrf"] not in theirs
    assert kim.cookies["os_csrf"] in theirs and kim.cookies["os_csrf"] not in mine
    assert '<span class="tag">' in mine.split('data-region="agenda"')[1].split("<!--/agenda-->")[0]
    assert '<span class="tag">' not in theirs.split('data-region="agenda"')[1].split("<!--/agenda-->")[0]
    assert re.search(r'"me": "([^"]*)"', mine).group(1) != re.search(r'"me": "([^"]*)"', theirs).group(1)  # type: ignore[union-attr]


def test_the_shared_render_is_kept_per_seq_language_and_kind_of_visitor(client: TestClient) -> None:
    event = create_event(client)
    pages = client.app.state.runtime.renderer.pages  # type: ignore[attr-defined]
    visitor = new_browser(client)
    first = visitor.get(event.path).text
    assert 'id="join"' in first and pages.renders == 1
    assert 'id="join"' in new_browser(client).get(event.path).text and pages.renders == 1  # shared
    lisa = join(client, event, "Lisa")  # joining writes no change: the seq stays
    assert 'id="join"' not in lisa.get(event.path).text and pages.renders == 2  # a joined one's render
    join(client, event, "Kim").get(event.path)
    assert pages.renders == 2
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")  # a change: a new seq
    assert 'data-action="topic.propose"' in lisa.get(event.path).text and pages.renders == 3
    lisa.cookies.set(LANG_COOKIE, "en")
    english = lisa.get(event.path).text
    assert "Propose a topic" in english and pages.renders == 4
    lisa.cookies.set(LANG_COOKIE, "sv")
    assert "Föreslå ett ämne" in lisa.get(event.path).text and pages.renders == 4  # kept
    lisa.cookies.delete(PARTICIPANT_COOKIE, path=f"{event.path}")
    left = lisa.get(event.path).text
    assert 'id="join"' in left and "Lisa" not in left and pages.renders == 5
    other = client.get(f"{event.path}?x=1").text  # another address is another page (its language form)
    assert 'value="/e/' in other and pages.renders == 6


def test_open_pages_in_the_same_state_share_one_answer_and_only_that(client: TestClient) -> None:
    """After a change a hall of open pages asks at once: all that lack the same regions get the
    same bytes, made once; a page whose own region changed gets its own, and nobody another's."""
    event = create_event(client)
    fac = event.facilitator
    act(fac, event, "event.phase", "facilitate", phase="marketplace")
    act(fac, event, "topic.propose", "facilitate", title="Spel", convener_name="Ada")
    spel = state(fac, event)["topics"][0]["id"]
    people = [join(client, event, name) for name in ("Ada", "Kim", "Lo")]
    act(people[0], event, "topic.interest", topic=spel, on="1")
    has = [p.get(event.path, headers={"x-regions": ""}).json()["hashes"] for p in people]

    def ask() -> list[Any]:
        answers = [
            p.get(event.path, headers={"x-regions": " ".join(h.values())}) for p, h in zip(people, has, strict=True)
        ]
        for h, answer in zip(has, answers, strict=True):
            h.update(answer.json()["hashes"])
        return answers

    act(fac, event, "announce", "facilitate", text="Fika", minutes="15")  # nobody's own: one answer
    answers = ask()
    assert answers[0].content == answers[1].content == answers[2].content
    assert list(answers[0].json()["regions"]) == ["banner"]
    pages = client.app.state.runtime.renderer.pages  # type: ignore[attr-defined]
    shared = next(page for key, (page, _) in pages.entries.items() if str(answers[0].json()["seq"]) in key)
    assert len(shared.cut().kept) == 1
    act(fac, event, "topic.edit", "facilitate", topic=spel, title="Spel och lek", description="")
    mine, theirs, also = (answer.json() for answer in ask())
    assert theirs == also and mine != theirs
    assert 'aria-pressed="true"' in mine["regions"][f"t-{spel}"] and "Spel och lek" in mine["regions"][f"t-{spel}"]
    assert 'aria-pressed="true"' not in theirs["regions"][f"t-{spel}"]
    for p in people:
        assert p.cookies["os_csrf"] not in str(mine) + str(theirs)


def test_a_rename_reaches_the_page_and_lookups_stay_in_memory(client: TestClient) -> None:
    event = create_event(client)
    lisa = join(client, event, "Lisa")
    logins: Logins = client.app.state.runtime.logins  # type: ignore[attr-defined]
    lisa.get(event.path)
    reads = logins.reads
    for _ in range(3):
        assert 'value="Lisa"' in lisa.get(event.path).text
    assert logins.reads == reads  # the slug and the cookie were answered from memory
    assert act(lisa, event, "me.rename", name="Elisabet").status_code == 303
    assert 'value="Elisabet"' in lisa.get(event.path).text
    assert act(lisa, event, "me.forget").status_code == 303
    assert 'id="rename-name" name="name" type="text" value=""' in lisa.get(event.path).text


class FakeStore:
    def __init__(self) -> None:
        self.names = {("e1", "tok"): ("p1", "Lisa"), ("e1", "tok2"): ("p2", "Kim")}
        self.sessions = {("e1", "fac")}

    async def participant_by_token(self, event_id: str, token_hash: str) -> tuple[str, str] | None:
        return self.names.get((event_id, token_hash))

    async def facilitator_session(self, event_id: str, token_hash: str) -> bool:
        return (event_id, token_hash) in self.sessions


async def test_logins_forget_what_the_bus_says_changed() -> None:
    """A rename, a new facilitator link, a deleted event, a bus that may have lost messages."""
    store = FakeStore()
    logins = Logins(store)  # type: ignore[arg-type]
    assert await logins.participant("e1", "tok") == ("p1", "Lisa")
    assert await logins.participant("e1", "nobody") is None
    store.names[("e1", "tok")] = ("p1", "Elisabet")
    assert await logins.participant("e1", "tok") == ("p1", "Lisa")  # from memory
    logins.take(Notice("e1", "renamed", "p2"))  # someone else: Lisa stays
    assert await logins.participant("e1", "tok") == ("p1", "Lisa")
    logins.take(Notice("e1", "renamed", "p1"))
    assert await logins.participant("e1", "tok") == ("p1", "Elisabet")
    assert await logins.facilitator("e1", "fac")
    store.sessions.clear()  # the link was replaced: every session ended
    assert await logins.facilitator("e1", "fac")
    logins.take(Notice("e1", "reauth"))
    assert not await logins.facilitator("e1", "fac")
    assert await logins.participant("e1", "tok2") == ("p2", "Kim")
    store.names[("e1", "tok2")] = ("p2", "Kimmo")
    assert await logins.participant("e1", "tok2") == ("p2", "Kim")
    logins.take(Notice("e2", "deleted"))  # another event's
    assert await logins.participant("e1", "tok2") == ("p2", "Kim")
    logins.take(Notice("e1", "deleted"))
    assert await logins.participant("e1", "tok2") == ("p2", "Kimmo")
    store.names[("e1", "tok2")] = ("p2", "K")
    logins.clear()
    assert await logins.participant("e1", "tok2") == ("p2", "K")
    assert logins.reads == 8


async def test_a_lookup_under_way_while_something_is_forgotten_is_not_kept() -> None:
    store = FakeStore()
    logins = Logins(store)  # type: ignore[arg-type]
    slow = store.participant_by_token

    async def renamed_meanwhile(event_id: str, token_hash: str) -> tuple[str, str] | None:
        found = await slow(event_id, token_hash)
        logins.take(Notice("e1", "renamed", "p1"))  # the rename's notice arrives while this read was out
        return found

    store.participant_by_token = renamed_meanwhile  # type: ignore[method-assign]
    await logins.participant("e1", "tok")
    assert not logins.people


def test_a_page_in_parts_is_one_gzip_body_with_the_shared_stretches_deflated_once() -> None:
    """Stretches deflated once and parts deflated per answer make one valid gzip stream (#20)."""
    long = packing.Stretch("<li>" + "Samma för alla. " * 300 + "</li>")
    parts: list[packing.Part] = ["<ul>", long, "<li>min token: abc</li>", long, "</ul>", long]
    body = packing.gzip(parts)
    assert gzip.decompress(body).decode() == packing.text(parts)
    packed = long.packed
    assert packed is not None and packing.gzip(parts) == body and long.packed is packed  # not deflated again
    assert len(body) < len(packing.text(parts)) / 10
    for few in (["ö" * 5], [long, "x"], [long], []):
        assert gzip.decompress(packing.gzip(few)) == packing.text(few).encode()


def test_a_browser_that_takes_no_gzip_gets_the_same_page(client: TestClient) -> None:
    event = create_event(client)
    lisa = join(client, event, "Lisa")
    packed = lisa.get(event.path)
    plain = lisa.get(event.path, headers={"accept-encoding": "identity"})
    assert packed.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert "accept-encoding" in packed.headers["vary"] and "x-regions" in packed.headers["vary"]
    assert steady(packed.text) == steady(plain.text)


def test_a_refused_form_is_the_shared_page_with_the_message_and_what_was_typed(
    client: TestClient, whole: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refusal shows the page again with the message where the form was and the typed text
    kept, as a whole render did; but from the shared render, so that a script posting refused
    forms in a loop costs a region's render each, not a whole page's (#21)."""
    event = create_event(client)
    act(event.facilitator, event, "event.phase", "facilitate", phase="marketplace")
    lisa, visitor = join(client, event, "Lisa"), new_browser(client)
    for n in range(3):
        act(lisa, event, "topic.propose", title=f"Ämne {n}")
    renders = client.app.state.runtime.renderer.pages  # type: ignore[attr-defined]
    visitor_csrf = visitor.get(event.path).cookies.get("os_csrf") or visitor.cookies.get("os_csrf")
    cases = {
        "joined, an empty title": (lisa, lambda: act(lisa, event, "topic.propose", description="<i>Text</i> & mer")),
        "joined, a rename too long": (lisa, lambda: act(lisa, event, "me.rename", name="x" * 200)),
        "not joined, an empty name": (
            visitor,
            lambda: visitor.post(f"{event.path}/join", data={"csrf": visitor_csrf, "name": "  "}),
        ),
    }
    for label, (_browser, post) in cases.items():
        shared = post()
        with monkeypatch.context() as m:
            m.setattr(personal, "participant_page", public.whole_participant_page)
            reference = post()
        assert shared.status_code == reference.status_code == 400, label
        assert steady(shared.text) == steady(reference.text), label
        assert 'class="error' in shared.text or 'role="alert"' in shared.text, label
    assert "&lt;i&gt;Text&lt;/i&gt; &amp; mer" in cases["joined, an empty title"][1]().text  # what was typed, escaped
    before = renders.renders
    for _ in range(5):
        act(lisa, event, "topic.propose", title="")
    assert renders.renders - before <= 1  # the refusals share one render of the page


def test_session_news_and_report_asks_share_a_render_among_people_in_the_same_state(client: TestClient) -> None:
    """The session page (checked in here or not, online or not), the news room (dots given) and
    a report (photos one may remove) are rendered once for everyone in the same state; each
    person's live answer is still the regions of their own whole page, and never shows another's
    state or token."""
    event, spaces, slots = today(client)
    fac = event.facilitator
    act(fac, event, "topic.propose", "facilitate", title="Spel", convener_name="Ada")
    spel = state(fac, event)["topics"][0]["id"]
    act(fac, event, "topic.place", "facilitate", topic=spel, slot=slots[0], space=spaces[0])
    lisa, kim, lo, visitor = (
        join(client, event, "Lisa"),
        join(client, event, "Kim"),
        join(client, event, "Lo"),
        new_browser(client),
    )
    assert act(lisa, event, "attendance.in", "session", topic=spel).status_code == 303
    act(fac, event, "event.phase", "facilitate", phase="closing")
    act(fac, event, "voting.set", "facilitate", dots="3")
    act(lisa, event, "report.save", "report", topic=spel, base="0", discussion="Vi pratade")
    act(kim, event, "vote", "news", topic=spel, on="1")
    assert upload(lisa, event, spel, "tavla.jpg", jpeg_with_gps()).status_code == 303  # hers to remove
    shared = client.app.state.runtime.renderer.shared  # type: ignore[attr-defined]
    for path in (f"{event.path}/sessions/{spel}", f"{event.path}/news", f"{event.path}/sessions/{spel}/report"):
        shared.entries.clear()
        for person in (lisa, kim, lo, visitor):
            whole = regions.regions(person.get(path).text)
            asked = person.get(path, headers={"x-regions": ""}).json()
            assert person.cookies["os_csrf"] not in str(asked), path
            assert {n: steady(h, CSRF) for n, h in asked["regions"].items()} == {
                n: steady(whole[n], CSRF) for n in asked["regions"]
            }, path
        # Lisa (here / no dots / her photo), Kim (not here / a dot) and Lo (neither) differ on one page each
        assert len(shared.entries) == 3, (path, list(shared.entries))
    here = lisa.get(f"{event.path}/sessions/{spel}", headers={"x-regions": ""}).json()["regions"]["session"]
    there = lo.get(f"{event.path}/sessions/{spel}", headers={"x-regions": ""}).json()["regions"]["session"]
    assert here != there
