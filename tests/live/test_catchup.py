"""Resume from the frames just published (issue #20): exactly the missed changes, in order, once,
shared between sockets of one audience and never across audiences; the log and snapshots beyond."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.testclient import TestClient

from openspace.domain.model import Change, Topic
from openspace.domain.projection import change_frames
from openspace.live.catchup import CHUNK, EVENTS, Recent
from tests.conftest import ORIGIN, act, create_event, join, new_browser


def frames(n: int, start: int = 1) -> list[tuple[int, dict[str, str]]]:
    return [
        (
            seq,
            {
                "public": f'{{"type":"change","seq":{seq},"p":1}}',
                "facilitator": f'{{"type":"change","seq":{seq},"f":1}}',
            },
        )
        for seq in range(start, start + n)
    ]


def seqs_of(texts: list[str]) -> list[int]:
    out: list[int] = []
    for text in texts:
        message = json.loads(text)
        out += [c["seq"] for c in message["changes"]] if message["type"] == "batch" else [message["seq"]]
    return out


def test_a_range_comes_as_a_few_batches_cut_at_fixed_numbers_and_each_is_built_once() -> None:
    recent = Recent(keep=1000)
    for seq, by_audience in frames(300):
        recent.add("e", seq, by_audience)
    first = recent.catch_up("e", "public", 10, 210)
    assert first is not None
    assert [end for end, _, _ in first] == [CHUNK, 2 * CHUNK, 3 * CHUNK, 210]
    assert seqs_of([text for _, text, _ in first]) == list(range(11, 211))
    other = recent.catch_up("e", "public", 30, 210)  # dropped later: shares all but its first chunk
    assert other is not None and [raw for _, _, raw in other][1:] == [raw for _, _, raw in first][1:]
    assert all(a is b for (_, _, a), (_, _, b) in zip(other[1:], first[1:], strict=True))
    assert recent.shared == 3


def test_audiences_never_share_a_frame() -> None:
    """The facilitator's range built first must not be what a phone catching up the same range gets."""
    recent = Recent(keep=1000)
    secret = Topic(id="t1", title="Dold", status="hidden")
    for seq in range(1, 4):
        change = Change("topic.hidden", upserts=(secret,))
        recent.add("e", seq, change_frames(seq, change, change.to_patch()))
    facilitator = recent.catch_up("e", "facilitator", 0, 3)
    public = recent.catch_up("e", "public", 0, 3)
    assert facilitator is not None and public is not None
    assert "Dold" in facilitator[0][1] and "Dold" not in public[0][1]
    assert seqs_of([public[0][1]]) == [1, 2, 3]


def test_only_a_contiguous_run_is_kept_and_a_compacting_change_starts_it_again() -> None:
    recent = Recent(keep=5)
    for seq, by_audience in frames(8):
        recent.add("e", seq, by_audience)
    assert recent.catch_up("e", "public", 2, 8) is None  # older than what is kept: the log's turn
    assert recent.catch_up("e", "public", 3, 8) is not None
    recent.add("e", 10, frames(1, 10)[0][1])  # a jump (9 never came here)
    assert recent.catch_up("e", "public", 8, 10) is None and recent.catch_up("e", "public", 9, 10) is not None
    recent.add("e", 11, frames(1, 11)[0][1], kind="participant.forgotten")  # the log was compacted
    assert recent.catch_up("e", "public", 9, 11) is None and recent.catch_up("e", "public", 10, 11) is not None


def test_only_the_most_recently_changed_events_are_kept() -> None:
    recent = Recent(keep=10)
    for n in range(EVENTS + 1):
        recent.add(f"e{n}", 1, frames(1)[0][1])
    assert recent.catch_up("e0", "public", 0, 1) is None
    assert recent.catch_up(f"e{EVENTS}", "public", 0, 1) is not None


# --- through the endpoint ---------------------------------------------------------------------


def resume_query(browser: TestClient, path: str) -> tuple[str, int]:
    html = browser.get(path).text
    match = re.search(r'<script type="application/json" id="os-data">(.*?)</script>', html, re.S)
    assert match
    data = json.loads(match.group(1))
    return f"?since={data['seq']}&epoch={data['epoch']}", int(data["seq"])


def caught_up(browser: TestClient, path: str, query: str) -> list[dict[str, Any]]:
    """Every change a socket resuming with `query` is sent before it answers a ping, flattened."""
    got: list[dict[str, Any]] = []
    with browser.websocket_connect(f"{path}/ws{query}", headers={"origin": ORIGIN}) as ws:
        ws.send_json({"type": "ping"})
        while (message := ws.receive_json())["type"] != "pong":
            got += message["changes"] if message["type"] == "batch" else [message]
    return got


def test_a_hall_coming_back_gets_every_change_once_in_order_from_memory_as_the_log_has_it(
    client: TestClient,
) -> None:
    event = create_event(client)
    phones = [join(client, event, f"Telefon {n}") for n in range(3)]
    query, seq = resume_query(phones[0], event.path)
    for n in range(150):
        act(event.facilitator, event, "topic.propose", "facilitate", title=f"Ämne {n}")
    recent = client.app.state.runtime.hub.recent  # type: ignore[attr-defined]
    hits = recent.hits
    back = [caught_up(phone, event.path, query) for phone in phones]
    assert recent.hits == hits + 3 and recent.shared >= 3  # from memory, built once for all three
    for got in back:
        assert [m["seq"] for m in got] == list(range(seq + 1, seq + 151))
        assert [m["patch"]["upsert"]["topics"][0]["title"] for m in got] == [f"Ämne {n}" for n in range(150)]
    recent.events.clear()  # the same resume read from the log instead
    assert caught_up(phones[0], event.path, query) == back[0]
    assert recent.hits == hits + 3


def test_a_phone_catching_up_after_the_facilitators_socket_gets_no_facilitator_content(client: TestClient) -> None:
    """The facilitator's frames for a range are built first; a phone resuming over the same range
    still gets the public ones: no merge records (kept for undo, facilitators only), and a hidden
    topic as a deletion, not as the row the facilitator sees."""
    event = create_event(client)
    phone = join(client, event, "Lisa")
    query, _ = resume_query(phone, event.path)
    for title in ("Bibliotek", "Biblioteket", "Skräp"):
        act(event.facilitator, event, "topic.propose", "facilitate", title=title, convener_name="Ada")
    ids = {t["title"]: t["id"] for t in client.get(f"{event.path}/state.json").json()["topics"]}
    merged = act(
        event.facilitator,
        event,
        "topic.merge",
        "facilitate",
        into=ids["Bibliotek"],
        topics=ids["Biblioteket"],
        title="Bibliotek",
    )
    assert merged.status_code == 303, merged.text
    act(event.facilitator, event, "topic.hide", "facilitate", topic=ids["Skräp"])
    laptop = caught_up(event.facilitator, event.path, query)
    seen = caught_up(new_browser(client), event.path, query)
    assert [m["seq"] for m in seen] == [m["seq"] for m in laptop] and len(seen) == 5
    assert any("merges" in m["patch"].get("upsert", {}) for m in laptop)
    assert not any("merges" in m["patch"].get("upsert", {}) for m in seen)
    assert laptop[-1]["patch"]["upsert"]["topics"][0]["status"] == "hidden"
    assert seen[-1]["patch"] == {"delete": {"topics": [ids["Skräp"]]}}
