"""Limits per participant, per client address and per event, shared by forms and sockets (issue #21)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from openspace import limits as limits_module
from openspace.app import create_app
from openspace.domain.checks import Actor
from openspace.domain.errors import SlowDown, Unavailable
from openspace.holding import UPLOADS_BUSY, Slots
from openspace.limits import Buckets, Limits
from openspace.settings import Settings
from openspace.web import routes
from tests.backends import RedisServer
from tests.conftest import ORIGIN, EventHandle, act, create_event, csrf_of, join, new_browser
from tests.server import free_port
from tests.web.test_harvest_flows import placed_topic, upload
from tests.web.test_upload_limits import small_jpeg


@pytest.fixture
def limited(settings: Settings, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """An app whose limits are the ones the test names (the others as in the suite)."""
    overrides: dict[str, Any] = request.param
    with TestClient(create_app(replace(settings, **overrides)), base_url=ORIGIN, follow_redirects=False) as client:
        yield client


def socket(browser: TestClient, event: EventHandle):  # type: ignore[no-untyped-def]
    return browser.websocket_connect(f"{event.path}/ws", headers={"origin": ORIGIN})


def propose(ws: Any, n: int) -> dict[str, Any]:
    ws.send_json({"type": "action", "id": f"a-{n:08d}", "name": "topic.propose", "args": {"title": f"T{n}"}})
    while True:
        message = ws.receive_json()
        if message["type"] == "result":
            return message  # type: ignore[no-any-return]


def counted(shared: Any) -> list[int]:
    """Count `shared`'s calls of its TAKE_MANY script (Redis round trips): [n], read as it goes."""
    calls = [0]
    script = shared.script

    async def count(**kwargs: Any) -> Any:
        calls[0] += 1
        return await script(**kwargs)

    shared.script = count
    return calls


def test_buckets_refill_and_forget_the_oldest_key() -> None:
    """count at once, refilled over the window; memory bounded by max_keys."""
    bucket = Buckets("2/10", max_keys=2)
    assert [bucket.take("a", now=0.0) for _ in range(3)] == [True, True, False]
    assert bucket.take("a", now=5.0)  # one token back after half the window
    bucket.take("b", now=5.0)
    bucket.take("c", now=5.0)
    assert "a" not in bucket._buckets


def test_a_debt_keeps_the_bucket_empty_until_it_is_paid() -> None:
    """Refusals counted after the door let them in: owed below zero, at most one bucket deep."""
    bucket = Buckets("2/10")
    assert [bucket.take("a", now=0.0, owe=True) for _ in range(5)] == [True, True, False, False, False]
    assert bucket.empty("a", now=0.0) and bucket.empty("a", now=10.0)  # 2 owed, 2 back after 10 s: still none
    assert not bucket.empty("a", now=20.0)
    assert [bucket.take("b", now=0.0, owe=True) for _ in range(9)][-1] is False
    assert not bucket.empty("b", now=15.0)  # owed at most 2: back to one token after 15 s


def test_a_cost_known_before_it_is_paid_is_taken_only_if_the_budget_has_it() -> None:
    """`afford`: a download's size is paid before it is sent, or it is not sent; a thing larger
    than the whole budget can still be had, once, from a full bucket."""
    bucket = Buckets("10/10")
    assert bucket.take("a", now=0.0) and bucket.afford("a", 6, now=0.0)  # 10 - 1 - 6: 3 left
    assert bucket.take("a", now=0.0) and not bucket.afford("a", 6, now=0.0)  # 2 left: nothing spent
    assert bucket.level("a", now=0.0) == 2
    assert bucket.take("b", now=0.0) and bucket.afford("b", 25, now=0.0)  # full before: owed, down to -10
    assert bucket.level("b", now=0.0) == -10 and not bucket.take("b", now=5.0)


@pytest.mark.parametrize("limited", [{"limit_actions_person": "6/600"}], indirect=True)
def test_sockets_and_forms_of_one_participant_share_one_budget(limited: TestClient) -> None:
    """Case 3: sixteen sockets or a form loop spend from the same bucket as one socket."""
    event = create_event(limited)
    lisa = join(limited, event)
    accepted = 0
    with socket(lisa, event) as one, socket(lisa, event) as two, socket(lisa, event) as three:
        for n in range(9):
            ws = (one, two, three)[n % 3]
            answer = propose(ws, n)
            accepted += answer["ok"]
            if not answer["ok"]:
                assert answer["error"]["code"] == "slow_down"
    assert accepted == 6
    refused = act(lisa, event, "topic.propose", title="Via formuläret")
    assert refused.status_code == 429
    assert "för" in refused.text.lower()  # the Swedish event says it in Swedish


@pytest.mark.parametrize(
    "limited", [{"limit_actions_person": "3/600", "limit_actions_address": "1000/10"}], indirect=True
)
def test_a_hall_behind_one_address_is_counted_per_participant(limited: TestClient) -> None:
    """A NAT'd hall: one person's spent budget does not stop the next person on the same address."""
    event = create_event(limited)
    lisa, bo = join(limited, event, "Lisa"), join(limited, event, "Bo")
    assert [act(lisa, event, "topic.propose", title=f"L{n}").status_code for n in range(4)] == [303, 303, 303, 429]
    assert act(bo, event, "topic.propose", title="Bo").status_code == 303


@pytest.mark.parametrize("limited", [{"limit_actions_event": "4/600"}], indirect=True)
def test_an_event_has_a_budget_of_its_own(limited: TestClient) -> None:
    """However many people and addresses, one event takes only so many actions at once."""
    event = create_event(limited)
    people = [join(limited, event, f"P{n}") for n in range(5)]
    codes = [act(p, event, "topic.propose", title=f"T{n}").status_code for n, p in enumerate(people)]
    assert codes == [303, 303, 303, 303, 429]


@pytest.mark.parametrize("limited", [{"limit_actions_address": "2/600"}], indirect=True)
def test_the_facilitator_is_not_slowed_by_the_hall_behind_the_same_address(limited: TestClient) -> None:
    """The address's budget is the hall's: spent by its participants, it does not stop the person running the day."""
    event = create_event(limited)
    lisa, bo = join(limited, event, "Lisa"), join(limited, event, "Bo")
    assert [act(p, event, "topic.propose", title=p is lisa and "L" or "B").status_code for p in (lisa, bo)] == [303] * 2
    assert act(lisa, event, "topic.propose", title="L2").status_code == 429
    placed = act(event.facilitator, event, "space.add", "facilitate", name="Rum", capacity="10")
    assert placed.status_code == 303


@pytest.mark.parametrize("limited", [{"limit_heavy_person": "2/600"}], indirect=True)
def test_renames_and_report_saves_spend_a_heavy_budget_of_their_own(limited: TestClient) -> None:
    """Cases 4 and 6: a rename or a saved report reaches every screen at the board's size, so a person has few."""
    event = create_event(limited)
    lisa = join(limited, event)
    act(lisa, event, "topic.propose", title="Bibliotek")
    codes = [act(lisa, event, "me.rename", name=f"Lisa {n}").status_code for n in range(3)]
    assert codes == [303, 303, 429]
    assert act(lisa, event, "topic.propose", title="Sagor").status_code == 303  # light actions still go


@pytest.mark.parametrize("limited", [{"limit_actions_person": "1/600"}], indirect=True)
def test_a_refused_action_costs_a_small_page_not_the_board(limited: TestClient) -> None:
    """A flood of refused forms must not render the whole board each time: 429 answers a short page."""
    event = create_event(limited)
    lisa = join(limited, event)
    assert act(lisa, event, "topic.propose", title="Bibliotekets framtid").status_code == 303
    refused = act(lisa, event, "topic.propose", title="En till")
    assert refused.status_code == 429
    assert "Bibliotekets framtid" not in refused.text and 'role="alert"' in refused.text
    assert len(refused.text) < 0.6 * len(lisa.get(event.path).text)


@pytest.mark.parametrize(
    "limited", [{"limit_new_events_address": "1/3600", "limit_refusals_address": "3/600"}], indirect=True
)
def test_an_address_refused_again_and_again_is_refused_at_the_door(limited: TestClient) -> None:
    """A flood of refused requests: after a few refusals every request from the address gets a bare 429."""
    event = create_event(limited)
    browser = new_browser(limited)
    data = {"csrf": csrf_of(browser, "/new"), "name": "X", "starts_on": "2026-03-14", "language": "en"}
    data["timezone"] = "Europe/Stockholm"
    refused = [browser.post("/new", data=data) for _ in range(3)]
    assert [r.status_code for r in refused] == [429] * 3 and "<html" in refused[0].text.lower()
    door = browser.get(event.path, headers={"accept-language": "sv"})
    assert door.status_code == 429 and door.headers["retry-after"] == "10"
    assert door.text.startswith("För många förfrågningar")  # short, in the person's language, no page
    with pytest.raises(WebSocketDisconnect), socket(browser, event) as ws:
        ws.receive_json()


@pytest.mark.parametrize("limited", [{"limit_joins_address": "2/600"}], indirect=True)
def test_joins_are_limited_per_address(limited: TestClient) -> None:
    """Case 11: a script cannot join without end (and so cannot mint fresh participant budgets)."""
    event = create_event(limited)
    join(limited, event, "A")
    join(limited, event, "B")
    browser = new_browser(limited)
    token = csrf_of(browser, event.path)
    assert browser.post(f"{event.path}/join", data={"csrf": token, "name": "C"}).status_code == 429


@pytest.mark.parametrize("limited", [{"limit_new_events_address": "2/3600"}], indirect=True)
def test_new_events_are_limited_per_address(limited: TestClient) -> None:
    """Case 11: /new took 170 events a second."""
    create_event(limited)
    create_event(limited)
    browser = new_browser(limited)
    data = {"csrf": csrf_of(browser, "/new"), "name": "X", "starts_on": "2026-03-14", "language": "en"}
    data["timezone"] = "Europe/Stockholm"
    response = browser.post("/new", data=data)
    assert response.status_code == 429 and "Too many events" in response.text


@pytest.mark.parametrize("limited", [{"limit_previews": "2/600"}], indirect=True)
def test_report_previews_are_limited(limited: TestClient) -> None:
    """Case 1: previews need no join and cost CPU, so each person (or address) has a few a minute."""
    event = create_event(limited)
    lisa = join(limited, event)
    act(lisa, event, "topic.propose", title="Bibliotek")
    topic = limited.get(f"{event.path}/state.json").json()["topics"][0]["id"]
    codes = [act(lisa, event, "", "report", topic=topic, _preview="1", discussion="x").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize("limited", [{"limit_previews": "10/600"}], indirect=True)
def test_a_costly_preview_spends_the_budget_of_many(limited: TestClient) -> None:
    """Case 1: a preview is charged for its rendering time. Ten kilobytes of "![" in three fields
    take about 0.45 s of a job worker, twenty-odd times what a person's preview takes: counted as
    one, the budget let one address keep a worker busy (the abuse bench's previews, x1.58)."""
    event = create_event(limited)
    lisa = join(limited, event)
    act(lisa, event, "topic.propose", title="Bibliotek")
    topic = limited.get(f"{event.path}/state.json").json()["topics"][0]["id"]

    def preview(text: str) -> int:
        return act(lisa, event, "", "report", topic=topic, _preview="1", discussion=text, insights=text).status_code

    assert [preview("*Sagor* och mer") for _ in range(5)] == [200] * 5  # a person's: one token each
    assert preview("![" * 4999) == 200  # let in with a token left, then charged what it cost
    assert preview("x") == 429


@pytest.mark.parametrize("limited", [{"sockets_per_person": 2, "sockets_per_address": 3}], indirect=True)
def test_sockets_are_limited_per_participant_and_per_address(limited: TestClient) -> None:
    """Case 3: one client opened 500 sockets."""
    event = create_event(limited)
    lisa = join(limited, event)
    with socket(lisa, event), socket(lisa, event):
        with pytest.raises(WebSocketDenialResponse) as denied, socket(lisa, event):
            pass
        assert denied.value.status_code == 429
        with socket(new_browser(limited), event):  # someone else behind the same address
            with pytest.raises(WebSocketDenialResponse), socket(new_browser(limited), event):
                pass
    with socket(lisa, event):  # closed sockets give their place back
        pass


# --- across workers: the buckets in Redis (issue #21) ---------------------------------------------------------


async def test_buckets_in_redis_are_shared_by_workers_and_local_when_redis_is_gone(
    settings: Settings, redis: RedisServer
) -> None:
    """Two workers' limits on one Redis spend one budget; with Redis unreachable each counts alone, never unlimited."""
    one, two = (Limits(replace(settings, bus_url=redis.url, limit_actions_person="4/600")) for _ in range(2))
    gone = Limits(replace(settings, bus_url=f"redis://127.0.0.1:{free_port()}/0", limit_actions_person="2/600"))
    try:
        taken = [await (one, two)[n % 2].take(("person", (one, two)[n % 2].person, "p:lisa")) for n in range(6)]
        assert taken == [True, True, True, True, False, False]
        assert [await gone.take(("person", gone.person, "p:lisa")) for _ in range(3)] == [True, True, False]
    finally:
        for limits in (one, two, gone):
            await limits.close()


async def test_a_wrong_facilitator_link_is_counted_once_across_workers(settings: Settings, redis: RedisServer) -> None:
    """The same wrong link tried on two workers in turn: 429 after ten in all, not twenty (#17)."""
    one, two = (Limits(replace(settings, bus_url=redis.url)) for _ in range(2))
    try:
        refused = [await (one, two)[n % 2].wrong_link("e1", "typo") for n in range(12)]
        assert refused == [False] * 10 + [True] * 2
    finally:
        for limits in (one, two):
            await limits.close()


async def test_a_cost_known_afterwards_is_owed_in_redis_as_locally(settings: Settings, redis: RedisServer) -> None:
    """What a preview cost is spent after the fact, in the bucket every worker shares, down to a debt."""
    one, two = (Limits(replace(settings, bus_url=redis.url, limit_previews="4/600")) for _ in range(2))
    gone = Limits(replace(settings, bus_url=f"redis://127.0.0.1:{free_port()}/0", limit_previews="4/600"))
    try:
        for limits in (one, gone):
            assert await limits.take(("preview", limits.previews, "p:lisa"))
            conn = Request({"type": "http", "client": ("127.0.0.9", 1)})
            await limits.previewed(conn, Actor(participant_id="lisa"), 0.8)
        # 0.8 s is 40 tokens: 39 more than the one taken, owed down to -4, on the other worker too
        assert not await two.take(("preview", two.previews, "p:lisa"))
        assert not await gone.take(("preview", gone.previews, "p:lisa"))
    finally:
        for limits in (one, two, gone):
            await limits.close()


async def test_a_download_is_paid_in_redis_before_it_is_sent(settings: Settings, redis: RedisServer) -> None:
    """Two workers, one budget: a 40 MB book is five tokens, paid from the bucket both share
    before it is sent; the second on the other worker finds too few left and is refused."""
    one, two = (Limits(replace(settings, bus_url=redis.url, limit_downloads="10/600")) for _ in range(2))
    conn, lisa = Request({"type": "http", "client": ("127.0.0.9", 1)}), Actor(participant_id="lisa")
    try:
        await one.download(conn, lisa)
        await one.downloaded(conn, lisa, 6 * limits_module.DOWNLOAD_BYTES)  # 1 + 5 of 10
        await two.download(conn, lisa)
        with pytest.raises(SlowDown):
            await two.downloaded(conn, lisa, 6 * limits_module.DOWNLOAD_BYTES)  # 3 left: not sent
        await two.downloaded(conn, lisa, limits_module.DOWNLOAD_BYTES)  # a small one still is
    finally:
        for limits in (one, two):
            await limits.close()


def test_a_client_spreading_its_actions_over_two_workers_is_limited_at_the_same_total(
    settings: Settings, redis: RedisServer
) -> None:
    """Two workers on one Redis and one database: the same participant, alternating, gets 6 actions in all, not 12."""
    shared = replace(settings, bus_url=redis.url, limit_actions_person="6/600")
    with (
        TestClient(create_app(shared), base_url=ORIGIN, follow_redirects=False) as first,
        TestClient(create_app(shared), base_url=ORIGIN, follow_redirects=False) as second,
    ):
        event = create_event(first)
        lisa = join(first, event)
        lisa_elsewhere = new_browser(second)
        lisa_elsewhere.cookies = lisa.cookies  # the same browser, its requests spread by the proxy
        codes = [
            act((lisa, lisa_elsewhere)[n % 2], event, "topic.propose", title=f"T{n}").status_code for n in range(9)
        ]
        assert codes == [303] * 6 + [429] * 3
        with socket(lisa_elsewhere, event) as ws:  # the socket spends from the same budget
            assert propose(ws, 99)["error"]["code"] == "slow_down"


def test_a_participants_sockets_are_counted_across_two_workers(settings: Settings, redis: RedisServer) -> None:
    """Two sockets allowed per person: one on each worker, and a third on either is refused; closing gives one back."""
    shared = replace(settings, bus_url=redis.url, sockets_per_person=2)
    with (
        TestClient(create_app(shared), base_url=ORIGIN, follow_redirects=False) as first,
        TestClient(create_app(shared), base_url=ORIGIN, follow_redirects=False) as second,
    ):
        event = create_event(first)
        lisa = join(first, event)
        lisa_elsewhere = new_browser(second)
        lisa_elsewhere.cookies = lisa.cookies
        with socket(lisa, event), socket(lisa_elsewhere, event):
            for browser in (lisa, lisa_elsewhere):
                with pytest.raises(WebSocketDenialResponse) as denied, socket(browser, event):
                    pass
                assert denied.value.status_code == 429
        with socket(lisa_elsewhere, event), socket(lisa_elsewhere, event):  # both places given back
            pass


@pytest.mark.parametrize("limited", [{"limit_refusals_address": "3/600"}], indirect=True)
def test_forms_the_rules_refuse_again_and_again_end_at_the_door(limited: TestClient) -> None:
    """Case 3: each refused form is answered with its whole page; a loop of them ends in bare 429s.
    The facilitator's own refusals are not counted: the person running the day is not shut out."""
    event = create_event(limited)
    by_facilitator = [act(event.facilitator, event, "topic.propose", "facilitate", title="") for _ in range(4)]
    assert [r.status_code for r in by_facilitator] == [400] * 4
    mallory = join(limited, event, "Mallory")
    refused = [act(mallory, event, "topic.propose", title="") for _ in range(3)]
    assert [r.status_code for r in refused] == [400] * 3 and 'role="alert"' in refused[0].text
    door = act(mallory, event, "topic.propose", title="")
    assert door.status_code == 429 and "<html" not in door.text.lower()


@pytest.mark.parametrize("limited", [{"limit_proposals_person": "2/600"}], indirect=True)
def test_a_participant_proposes_a_few_topics_at_a_time_and_the_facilitator_any(limited: TestClient) -> None:
    """Case 3: eight joined browsers of one flood put 160 topics on every screen in 3 s, within every
    other budget. A person's third proposal in a row is refused, kindly, with what they typed kept."""
    event = create_event(limited)
    lisa = join(limited, event, "Lisa")
    assert [act(lisa, event, "topic.propose", title=f"Ämne {n}").status_code for n in range(2)] == [303, 303]
    third = act(lisa, event, "topic.propose", title="Ett tredje ämne")
    assert third.status_code == 429 and "Vänta en minut" in third.text
    assert 'value="Ett tredje ämne"' in third.text  # the form again, with what was typed
    with socket(lisa, event) as ws:  # the same budget over a socket
        assert propose(ws, 9)["ok"] is False
    other = join(limited, event, "Olle")  # another person has their own
    assert act(other, event, "topic.propose", title="Olles ämne").status_code == 303
    sheets = [act(event.facilitator, event, "topic.propose", "facilitate", title=f"Lapp {n}", convener_name="Åsa")
              for n in range(4)]  # fmt: skip
    assert [r.status_code for r in sheets] == [303] * 4


@pytest.mark.parametrize("limited", [{"limit_proposals_address": "3/600"}], indirect=True)
def test_topics_from_one_address_are_paced_together_and_the_facilitators_are_not(limited: TestClient) -> None:
    """Case 3: each joined browser is a person with a few proposals of their own, so eight of them put
    40 cards on every screen in their first second. The address's proposals are paced together;
    what was typed stays in the form, and the facilitator typing in paper sheets is not slowed."""
    event = create_event(limited)
    lisa, olle = join(limited, event, "Lisa"), join(limited, event, "Olle")
    assert [act(lisa, event, "topic.propose", title=f"Ämne {n}").status_code for n in range(2)] == [303, 303]
    assert act(olle, event, "topic.propose", title="Olles ämne").status_code == 303
    fourth = act(olle, event, "topic.propose", title="Olles andra")
    assert fourth.status_code == 429 and "från ert nätverk" in fourth.text and 'value="Olles andra"' in fourth.text
    sheet = act(event.facilitator, event, "topic.propose", "facilitate", title="Lapp", convener_name="Åsa")
    assert sheet.status_code == 303


@pytest.mark.parametrize("limited", [{"limit_downloads": "2/600"}], indirect=True)
def test_downloads_of_the_published_book_are_limited_per_person(limited: TestClient) -> None:
    """Case 2: a published PDF is built once per change, but a loop of downloads of it was still
    236 a second, most of a core. Past the budget: a small translated page with Retry-After."""
    event = create_event(limited)
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    stranger = new_browser(limited)
    assert [stranger.get(f"{event.path}/export/md").status_code for _ in range(2)] == [200, 200]
    refused = stranger.get(f"{event.path}/proceedings")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "10"
    assert "nedladdningar" in refused.text and "<table" not in refused.text
    lisa = join(limited, event, "Lisa")  # a participant is counted as themself, not by address
    assert lisa.get(f"{event.path}/export/pdf").status_code == 200


@pytest.mark.parametrize("limited", [{"limit_downloads": "10/600"}], indirect=True)
def test_a_large_download_spends_the_budget_by_its_size(limited: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 2 with photos in the book: the abuse bench's uploads made the published PDF 68 MB, and
    its 26 downloads in 20 s cost the server more than the build. A download is charged one
    token per DOWNLOAD_BYTES beyond its first, before it is sent, so a large book is fetched
    less often; one the budget cannot pay is refused, not sent into a debt."""
    event = create_event(limited)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    act(event.facilitator, event, "proceedings.publish", "facilitate", published="1")
    stranger = new_browser(limited)
    first = stranger.get(f"{event.path}/export/md")
    assert first.status_code == 200
    monkeypatch.setattr(limits_module, "DOWNLOAD_BYTES", max(1, len(first.content) // 5))  # this book: 5 tokens
    codes = [stranger.get(f"{event.path}/export/md").status_code for _ in range(4)]
    assert codes == [200, 429, 429, 429], codes  # 1 + 5 + 5 > 10: the second book is not sent


async def test_upload_turns_are_one_per_person_and_handed_on_in_order() -> None:
    """Uploads are read into memory, so only a few at once: one per person, `total` in all;
    the others wait their turn and get it in the order they came, never racing for it."""
    slots = Slots(total=2, per_key=1, name="test", wait=5.0)
    order: list[str] = []
    release = {k: asyncio.Event() for k in ("a1", "b", "a2", "c")}

    async def upload(name: str) -> None:
        async with slots.hold(name[0]):
            order.append(name)
            await release[name].wait()

    tasks = [asyncio.create_task(upload(n)) for n in ("a1", "b", "a2", "c")]
    await asyncio.sleep(0.01)
    assert order == ["a1", "b"]  # a2: the same person; c: no room left
    release["b"].set()
    await asyncio.sleep(0.01)
    assert order == ["a1", "b", "c"]  # c came after a2, but a2's person is still sending
    release["a1"].set()
    await asyncio.sleep(0.01)
    assert order == ["a1", "b", "c", "a2"]
    release["a2"].set(), release["c"].set()
    await asyncio.gather(*tasks)
    assert slots.held.open == {}


async def test_waiting_for_an_upload_turn_is_bounded_and_gives_nothing_away() -> None:
    """Past the wait, or with the queue full, the upload is refused before anything is read;
    a waiter that leaves (its phone gave up) keeps no turn."""
    slots = Slots(total=1, per_key=1, name="test", wait=0.05, queue=1)
    async with slots.hold("a"):
        with pytest.raises(Unavailable) as waited:
            async with slots.hold("b"):
                pass
        assert waited.value.message == UPLOADS_BUSY
        gone = asyncio.create_task(slots.hold("c").__aenter__())
        await asyncio.sleep(0)
        with pytest.raises(Unavailable):  # the queue of one is taken by c
            async with slots.hold("d"):
                pass
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
    assert slots.held.open == {} and not slots._waiting
    async with slots.hold("e"):
        assert slots.held.open == {"e": 1}


@pytest.mark.parametrize("limited", [{"limit_refusals_address": "3/600"}], indirect=True)
def test_a_loop_of_refused_uploads_ends_at_the_door(limited: TestClient) -> None:
    """Each refused upload was answered with the whole report page and counted nowhere: 240
    refused pictures in 20 s in the abuse bench. They spend the address's refusal budget now."""
    event, topic = placed_topic(limited)
    lisa = join(limited, event, "Lisa")
    codes = [upload(lisa, event, topic, "x.jpg", b"not a picture").status_code for _ in range(5)]
    assert codes == [400, 400, 400, 429, 429]


@pytest.mark.parametrize("limited", [{"limit_uploads_person": "1/600"}], indirect=True)
def test_an_upload_past_the_persons_pace_gets_the_short_page(limited: TestClient) -> None:
    event, topic = placed_topic(limited)
    lisa = join(limited, event, "Lisa")
    assert upload(lisa, event, topic, "a.jpg", small_jpeg()).status_code == 303
    refused = upload(lisa, event, topic, "b.jpg", small_jpeg())
    assert refused.status_code == 429 and refused.headers["retry-after"]
    assert "Too many photos in a short time" in refused.text and 'name="discussion"' not in refused.text


@pytest.mark.parametrize("limited", [{"limit_refusals_address": "4/600"}], indirect=True)
def test_a_flood_of_refused_forms_gets_the_short_page_before_the_door(limited: TestClient) -> None:
    """A refused form comes back with what was typed, which costs a whole page; from an address
    that has spent half its refusal budget, the short page instead (the form flood rendered ten
    participant pages a second within the budget)."""
    event = create_event(limited, language="en")
    lisa = join(limited, event, "Lisa")
    answers = [act(lisa, event, "topic.propose", "participant", title="") for _ in range(4)]
    assert [a.status_code for a in answers] == [400] * 4
    full, short = 'name="title"', "Please fill in this field"
    assert [full in a.text for a in answers] == [True, True, False, False]
    assert all(short in a.text for a in answers)
    assert act(lisa, event, "topic.propose", "participant", title="").status_code == 429  # the door


@pytest.mark.parametrize("limited", [{"limit_refusals_address": "6/600", "limit_previews": "1/600"}], indirect=True)
def test_a_floods_refused_previews_are_refused_before_their_fields_are_decoded(
    limited: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 1: decoding three fields of "![" costs 7.5 ms, a loop of refused ones a fifth of a core.
    Once the address floods, a preview whose budget is spent is refused from the raw body's action
    and preview fields, its texts never decoded, and counted towards the door as before."""
    event = create_event(limited, language="en")
    lisa = join(limited, event, "Lisa")
    act(lisa, event, "topic.propose", title="Bibliotek")
    topic = limited.get(f"{event.path}/state.json").json()["topics"][0]["id"]
    decoded: list[int] = []
    original = routes.form_fields

    async def counting(request: Any) -> dict[str, str]:
        decoded.append(1)
        return await original(request)

    monkeypatch.setattr(routes, "form_fields", counting)
    bomb = "![" * 4999
    answers = [act(lisa, event, "", "report", topic=topic, _preview="1", discussion=bomb) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] + [429] * 6
    assert all("Too many previews" in a.text for a in answers[1:])
    # the accepted one and four refused were decoded; with half the budget spent, two were not
    assert len(decoded) == 5
    door = act(lisa, event, "topic.propose", title="Sagor")  # six refusals: the door, for everything
    assert door.status_code == 429 and "Too many requests from your address" in door.text and len(decoded) == 5


async def test_the_takes_of_one_turn_go_to_redis_together_and_each_is_answered_as_alone(redis: RedisServer) -> None:
    """Everything asked in one turn of the event loop is one call to Redis (issue #17): of 8
    actions against a bucket of 5, 5 pass; a request whose second bucket is empty spends its
    first, as a bucket at a time did; a bucket of 100 lends this worker 12 tokens ahead, so the
    next take of it needs no call; and Redis gone answers None (local buckets count)."""
    from openspace.sharedlimits import Shared

    shared = Shared(redis.url)
    five, plenty, none = Buckets("5/36000"), Buckets("100/100"), Buckets("1/36000")
    try:
        calls = counted(shared)
        answers = await asyncio.gather(*(shared.take([("a", plenty), ("b", five)]) for _ in range(8)))
        assert answers == [True] * 5 + [False] * 3 and calls[0] == 1, answers
        assert shared.leases["openspace:limit:a"].tokens == 11  # lent once a call: 12, one spent
        assert await shared.take([("c", none)]) is True
        assert await shared.take([("d", plenty), ("c", none)]) is False  # d spent, c refused
        assert await shared.take([("a", plenty)]) is True and calls[0] == 3  # from this worker's lease on "a"
    finally:
        await shared.close()
    odd = Shared(redis.url)  # an answer that does not match the requests: each gets None, none waits on
    try:

        async def short(**kwargs: Any) -> list[int]:
            return [1]

        odd.script = short  # type: ignore[assignment]
        assert await asyncio.gather(odd.take([("x", plenty)]), odd.take([("y", plenty)])) == [None, None]
    finally:
        await odd.close()
    gone = Shared(f"redis://127.0.0.1:{free_port()}/0")  # nobody there
    try:
        assert await asyncio.gather(gone.take([("a", plenty)]), gone.take([("b", five)])) == [None, None]
    finally:
        await gone.close()


async def test_tokens_lent_to_a_worker_are_never_more_than_the_bucket_and_go_back_unspent(
    redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket of 16 lends each worker 2 tokens at a time (1/8): two workers taking in turn get
    16 in all, each call to Redis serving two takes; a token one worker holds is refused to the
    other until its lease lapses and it is given back."""
    from openspace import sharedlimits
    from openspace.sharedlimits import Shared

    monkeypatch.setattr(sharedlimits, "LEASE_SECONDS", 0.2)
    sixteen = Buckets("16/36000")
    one, two = Shared(redis.url), Shared(redis.url)
    try:
        taken = [await (one, two)[n % 2].take([("k", sixteen)]) for n in range(20)]
        assert taken == [True] * 16 + [False] * 4
        assert await one.take([("l", sixteen)]) is True  # one spent, one lent to `one`
        assert [await two.take([("l", sixteen)]) for _ in range(15)] == [True] * 14 + [False]
        await asyncio.sleep(0.5)  # the lease lapsed and went back
        assert await two.take([("l", sixteen)]) is True
        assert await two.take([("l", sixteen)]) is False
    finally:
        await one.close()
        await two.close()
    order = Shared(redis.url)  # a leased token is spent only if no bucket before it refuses
    try:
        one_only = Buckets("1/36000")
        assert await order.take([("y", sixteen)]) is True and await order.take([("x", one_only)]) is True
        assert order.leases["openspace:limit:y"].tokens == 1
        assert await order.take([("x", one_only), ("y", sixteen)]) is False
        assert order.leases["openspace:limit:y"].tokens == 1  # x refused first: y's token went back
        assert await order.take([("y", sixteen), ("x", one_only)]) is False
        assert order.leases["openspace:limit:y"].tokens == 0  # y came before the refusal: spent
    finally:
        await order.close()
    again = Shared(redis.url)  # what a worker holds when it stops goes back at once
    try:
        assert await again.take([("m", sixteen)]) is True
    finally:
        await again.close()
    last = Shared(redis.url)
    try:
        assert [await last.take([("m", sixteen)]) for _ in range(16)] == [True] * 15 + [False]
    finally:
        await last.close()


async def test_a_lease_in_use_stays_up_to_its_most_and_an_idle_one_goes_back(
    redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spent from every 0.1 s, a lease outlives LEASE_SECONDS without asking Redis again, but not
    LEASE_MOST; left alone, it lapses after LEASE_SECONDS and its tokens go back to the bucket."""
    from openspace import sharedlimits
    from openspace.sharedlimits import Shared

    monkeypatch.setattr(sharedlimits, "LEASE_SECONDS", 0.5)
    monkeypatch.setattr(sharedlimits, "LEASE_MOST", 1.5)
    many = Buckets("800/36000")  # lends 100 at a time
    shared, other = Shared(redis.url), Shared(redis.url)
    try:
        calls = counted(shared)
        assert await shared.take([("busy", many)]) is True and calls[0] == 1
        for _ in range(8):  # 0.8 s in all: past LEASE_SECONDS, under LEASE_MOST
            await asyncio.sleep(0.1)
            assert await shared.take([("busy", many)]) is True
        assert calls[0] == 1 and shared.leases["openspace:limit:busy"].tokens == 99 - 8
        await asyncio.sleep(0.8)  # past LEASE_MOST since it was lent: lapsed however busy
        assert await shared.take([("busy", many)]) is True and calls[0] == 2
        assert await shared.take([("idle", many)]) is True and calls[0] == 3
        await asyncio.sleep(1.2)  # unused for LEASE_SECONDS: its 99 went back to Redis
        took = [await other.take([("idle", many)]) for _ in range(799)]
        assert took == [True] * 799  # 800 less the one spent, as if nothing had been held
        assert await other.take([("idle", many)]) is False
    finally:
        await shared.close()
        await other.close()


async def test_a_worker_stops_even_when_giving_back_swallowed_the_cancel(
    redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Python 3.11 a Redis call can swallow the cancel that arrives as it finishes (CPython
    gh-86296, tasks.py). The lease loop then slept and gave back for ever, `close` waited on
    it, and a worker on SIGTERM never exited: CI hung for it once in the metrics test's teardown."""
    from openspace import sharedlimits
    from openspace.sharedlimits import Shared

    monkeypatch.setattr(sharedlimits, "LEASE_SECONDS", 0.05)
    shared = Shared(redis.url)
    entered = asyncio.Event()

    async def swallowing(**_: Any) -> None:
        entered.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # as wait_for does when the call it wraps finishes with the cancel

    assert await shared.take([("k", Buckets("16/36000"))]) is True  # one spent, one lent
    shared.give_back_script = swallowing  # type: ignore[assignment]
    await asyncio.wait_for(entered.wait(), 10)  # the lease lapsed: the loop is giving it back
    closing = asyncio.create_task(shared.close())
    done, _ = await asyncio.wait({closing}, timeout=10)  # not wait_for: it can swallow its own cancel
    assert closing in done, "close() waited for the lease loop for ever"
    assert shared._returner is not None and shared._returner.done()


async def test_a_hall_of_sockets_opening_and_closing_at_once_is_a_few_calls_to_redis(redis: RedisServer) -> None:
    """When a hall's wifi drops, hundreds of sockets close in the same moment and open again. Each
    was a call to Redis of its own, and redis-py opened a connection for every call that found none
    free, up to its cap of 100, past which calls failed: of 300 opened at once, 100 were counted in
    Redis and the worker's limits fell back to local counting. The opens and closes of a turn now go
    as one call each, on a bounded pool, and each is still counted as if it came alone."""
    import redis.asyncio as aioredis

    from openspace.sharedlimits import POOL_SIZE, Shared

    probe = aioredis.from_url(redis.url)
    shared = Shared(redis.url)
    try:
        before = int((await probe.info("stats"))["total_connections_received"])
        calls = [0, 0]
        opening, shutting = shared.sockets.open_script, shared.sockets._shut_many

        async def open_counted(**kwargs: Any) -> Any:
            calls[0] += 1
            return await opening(**kwargs)

        async def shut_counted(asked: Any) -> Any:
            calls[1] += 1
            return await shutting(asked)

        shared.sockets.open_script = open_counted
        shared.sockets.shutting.send = shut_counted
        members = await asyncio.gather(*(shared.sockets.open([(f"p{n % 30}", 100)]) for n in range(300)))
        assert all(members) and calls[0] == 1  # every one counted, none refused or left to local counting
        assert sum([await probe.zcard(f"openspace:limit:sockets:p{n}") for n in range(30)]) == 300
        await asyncio.gather(*(shared.sockets.shut(str(member)) for member in members))
        assert sum([await probe.zcard(f"openspace:limit:sockets:p{n}") for n in range(30)]) == 0 and calls[1] == 1
        opened = int((await probe.info("stats"))["total_connections_received"]) - before
        assert opened <= POOL_SIZE, f"{opened} connections to Redis for 300 sockets"
        # in one call, each open is still judged alone and in order: 3 of 5 fit under a limit of 3;
        # one whose second key is full is counted on neither
        crowd = await asyncio.gather(*(shared.sockets.open([("hall", 3)]) for _ in range(5)))
        assert [bool(m) for m in crowd] == [True] * 3 + [False] * 2 and calls[0] == 2
        assert await shared.sockets.open([("lisa", 2), ("hall", 3)]) == ""
        assert await probe.zcard("openspace:limit:sockets:lisa") == 0
        await shared.sockets.shut(str(crowd[0]))
        assert await shared.sockets.open([("lisa", 2), ("hall", 3)])
    finally:
        await shared.close()
    assert await probe.zcard("openspace:limit:sockets:hall") == 0  # a stopping worker gives its sockets back
    await probe.aclose()
