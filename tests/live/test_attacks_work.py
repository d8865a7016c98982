"""Issue #21's attacks on the server's work and data, as bounded scripts against `openspace serve`:
catch-up (case 5), report versions (6), Markdown in the writer (7), import (10), photo tags (14)
and placement hints for a whole grid (16). Their rules are tested in-process too
(live/test_bounded_changes.py, test_jobs.py, exports/test_import_limits.py,
web/test_upload_limits.py); these check them through the sockets, forms, files and processes an
attacker really has. The server runs with metrics on, so where the defence is "in the job pool,
not the server's process", the server's own count of its jobs says so. Every loop is bounded in
count; nothing asserted is a time.
"""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from openspace.domain import harvest
from openspace.live.catchup import CHUNK
from tests.live.attackers import (
    BOMB,
    act,
    attacked_server,
    browser,
    close_browsers,
    join,
    new_event,
    page_data,
    socket_to,
    topic_ids,
)
from tests.server import Server

LOG_KEEP = 160  # changes the log keeps for resuming (default 1,000): case 5 goes beyond it quickly
CATCHUP_TIMEOUT = 5  # seconds (default 30) a resuming socket has to take what it missed: the reader takes 5.7 MB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from attacked_server(
        tmp_path_factory, metrics="1", log_keep=str(LOG_KEEP), catchup_timeout=str(CATCHUP_TIMEOUT)
    )


@pytest.fixture(autouse=True)
def closed() -> Iterator[None]:
    yield
    close_browsers()


def sample(server: Server, name: str, **labels: str) -> float:
    """One value of the server's own /metrics (from 127.0.0.1), 0 if it has none yet."""
    for family in text_string_to_metric_families(httpx.get(server.url + "/metrics").text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def jobs_done(server: Server, job: str) -> float:
    return sample(server, "openspace_jobs_total", job=job, outcome="done")


def save(client: httpx.Client, slug: str, topic: str, base: int, text: str) -> httpx.Response:
    fields = {"discussion": text, "insights": text, "recommendations": text}
    return act(client, slug, "report.save", "report", topic=topic, base=str(base), **fields)


def paced(client: httpx.Client, slug: str, action: str, **args: str) -> httpx.Response:
    """A facilitator's action that, told to slow down (429), waits as asked and sends it again,
    as live.js does: a facilitator setting up a whole grid goes past 100 actions in 10 s."""
    for _ in range(10):
        response = act(client, slug, action, "facilitate", **args)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("retry-after", "1")))
    return response


def seqs_of(frame: dict[str, Any]) -> list[int]:
    changes = frame["changes"] if frame["type"] == "batch" else [frame]
    return [int(c["seq"]) for c in changes]


def test_case_5_a_catch_up_is_streamed_bounded_and_cut_off_when_nobody_reads(server: Server) -> None:
    """Case 5: a socket resuming from 0 had the whole log loaded in memory, and one that never read
    held it there. Beyond the log: a snapshot. Within it: exactly the missed changes, in batches.
    A socket that takes nothing is cut off at `catchup_timeout`, having been sent only what the
    network buffers hold, not the catch-up."""
    # more than the kernel's largest socket buffer, so a phone that reads nothing cannot take it all
    most_buffered = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    saves = (most_buffered + 1_500_000) // 60_000 + 1
    facilitator = browser(server, "127.0.5.1")
    slug = new_event(facilitator)
    writers = [join(server, f"127.0.5.{10 + n}", slug, f"Skribent {n}") for n in range(-(-saves // 20))]
    act(facilitator, slug, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    (topic,) = topic_ids(facilitator, slug)
    for n in range(40):  # an early stretch, which a resume from 0 reaches back beyond the log for
        act(facilitator, slug, "topic.edit", "facilitate", topic=topic, title=f"Bibliotek {n}")
    data = page_data(server, "127.0.5.2", slug)
    resume_at, epoch = int(data["seq"]), data["epoch"]
    long = "Det här är en lång rapport om biblioteket. " * 230  # ~10,000 characters a field
    for n in range(saves):  # versions of ~60 KB each reach every screen (20 a person: their pace)
        assert save(writers[n // 20], slug, topic, n, f"{long} {n}").status_code == 303
    head = resume_at + saves
    while (head - 1) // CHUNK == (resume_at + saves - 1) // CHUNK:  # on into a frame of its own
        act(facilitator, slug, "topic.edit", "facilitate", topic=topic, title=f"Bibliotek {head}")
        head += 1
    assert int(page_data(server, "127.0.5.2", slug)["seq"]) == head and head - resume_at <= LOG_KEEP < head

    with socket_to(server, slug, f"?since=0&epoch={epoch}") as ws:  # further back than the log keeps
        first = json.loads(ws.recv(timeout=10))
    assert first["type"] == "snapshot" and first["reason"] == "gap" and first["seq"] == head

    stalled = []
    port = int(server.url.rsplit(":", 1)[1])
    for _ in range(4):  # four phones resume, then read nothing
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # a phone's; far less than the catch-up
        sock.bind(("127.0.5.3", 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(
            (
                f"GET /e/{slug}/ws?since={resume_at}&epoch={epoch} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Origin: {server.url}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        stalled.append(sock)

    with socket_to(server, slug, f"?since={resume_at}&epoch={epoch}", max_size=None) as ws:  # one that reads
        received: list[int] = []
        caught_up_bytes = 0
        while not received or received[-1] < head:
            text = str(ws.recv(timeout=20))
            caught_up_bytes += len(text.encode())
            received += seqs_of(json.loads(text))
    assert received == list(range(resume_at + 1, head + 1)) and caught_up_bytes > most_buffered

    time.sleep(CATCHUP_TIMEOUT + 1)  # their time to take the catch-up, which they spend reading nothing
    for sock in stalled:  # each was let go with what the buffers held
        sock.settimeout(CATCHUP_TIMEOUT * 10)
        got = 0
        try:
            while chunk := sock.recv(65536):
                got += len(chunk)
        except ConnectionResetError:
            pass
        finally:
            sock.close()
        assert got < caught_up_bytes, (got, caught_up_bytes)  # the frame it never took was never written


def test_case_6_report_versions_are_bounded_and_saves_are_paced(server: Server) -> None:
    """Case 6: 600 saves in 4.8 s added 75 MiB. One person's saves are paced (20 in two minutes),
    and a report keeps its last 25 versions however many people save it."""
    facilitator = browser(server, "127.0.6.1")
    slug = new_event(facilitator)
    act(facilitator, slug, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    (topic,) = topic_ids(facilitator, slug)
    lisa, bo = join(server, "127.0.6.2", slug, "Lisa"), join(server, "127.0.6.3", slug, "Bo")
    revision, codes = 0, []
    for n in range(25):
        codes.append(save(lisa, slug, topic, revision, f"Lisa, version {n}").status_code)
        if codes[-1] == 429:
            break
        revision += 1
    assert codes[-1] == 429 and 20 <= revision <= 21, codes
    for n in range(8):
        assert save(bo, slug, topic, revision, f"Bo, version {n}").status_code == 303
        revision += 1
    page = facilitator.get(f"/e/{slug}/sessions/{topic}/report").text  # versions: the facilitator's to restore
    versions = re.findall(r"Version (\d+)", page.split('id="revisions"', 1)[1].split("<!--/revisions-->")[0])
    kept = sorted({int(v) for v in versions})
    assert kept == list(range(revision - 24, revision + 1)), kept


def test_case_7_reports_are_rendered_outside_the_writer_so_other_events_do_not_wait(server: Server) -> None:
    """Case 7: three people saving large reports held other events' writes for a 1.2 s median.
    The reports' Markdown is rendered in the job pool before the writer's transaction, so a
    proposal at another event is written while they are still rendering."""
    host = browser(server, "127.0.7.1")
    slug = new_event(host)
    for n in range(3):
        act(host, slug, "topic.propose", "facilitate", title=f"Ämne {n}", convener_name="Ada")
    topics = topic_ids(host, slug)
    elsewhere = browser(server, "127.0.7.9")
    other = new_event(elsewhere)
    writers = [join(server, f"127.0.7.{2 + n}", slug, f"Skribent {n}") for n in range(3)]
    rendered = jobs_done(server, "rendered_texts")
    finished: list[str] = []

    def saving(n: int) -> None:
        response = save(writers[n], slug, topics[n], 0, f"{BOMB} {n}")  # distinct: none from the cache
        finished.append(f"save {response.status_code}")

    threads = [threading.Thread(target=saving, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(500):  # until the pool has the renders (bounded: 500 scrapes)
        if sample(server, "openspace_jobs_pending") >= 1:
            break
    proposed = act(elsewhere, other, "topic.propose", "facilitate", title="Sagor", convener_name="Bo")
    finished.append(f"other event {proposed.status_code}")
    for thread in threads:
        thread.join(timeout=120)
    assert finished[0] == "other event 303" and sorted(finished[1:]) == ["save 303"] * 3, finished
    assert jobs_done(server, "rendered_texts") == rendered + 3


def test_case_10_an_import_of_a_tampered_file_is_refused_in_words(server: Server, tmp_path: Path) -> None:
    """Case 10: a headcount of 2^62 made the attendance chart loop for ever, reachable by anyone
    through /proceedings; non-JSON ended in a traceback. The event's own export, tampered, is
    refused by `openspace import` with the field named, and nothing is added; the untampered
    export imports and the running server serves it."""
    facilitator = browser(server, "127.0.10.1")
    slug = new_event(facilitator)
    act(facilitator, slug, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    exported = facilitator.get(f"/e/{slug}/export/json")
    assert exported.status_code == 200
    document = exported.json()

    def imported(name: str, content: bytes) -> subprocess.CompletedProcess[str]:
        path = tmp_path / name
        path.write_bytes(content)
        command = [sys.executable, "-m", "openspace", "import", str(path), "--db", str(server.db)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    tampered = json.loads(json.dumps(document))
    tampered["topics"][0]["headcount"] = 2**62
    for name, content, message in [
        ("headcount.json", json.dumps(tampered).encode(), "headcount: expected a number from 0 to 100000"),
        ("nested.json", b"[" * 5000 + b"]" * 5000, "not a JSON document"),
        ("garbage.json", b"\x00\xffnot json", "not a JSON document"),
    ]:
        refused = imported(name, content)
        assert refused.returncode == 1 and message in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr + refused.stdout
    restored = imported("event.json", exported.content)
    assert restored.returncode == 0, restored.stderr
    new_slug = re.search(r"/e/([\w-]+)", restored.stdout)
    assert new_slug and new_slug.group(1) != slug
    assert "Bibliotek" in browser(server, "127.0.10.2").get(f"/e/{new_slug.group(1)}").text


def small_jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), (shade, shade, shade)).save(out, "JPEG")
    return out.getvalue()


def test_case_14_a_photo_cannot_be_linked_to_its_uploader_from_what_anyone_can_read(server: Server) -> None:
    """Case 14: a photo's tag was sha256(random | participant id) and convener ids are public: 30 of
    30 photos were attributed without a cookie. What a stranger reads names no uploader, and no
    tag can be computed from a public id."""
    facilitator = browser(server, "127.0.14.1")
    slug = new_event(facilitator)
    act(facilitator, slug, "topic.propose", "facilitate", title="Bibliotek", convener_name="Ada")
    (topic,) = topic_ids(facilitator, slug)
    uploaders = [join(server, f"127.0.14.{2 + n}", slug, name) for n, name in enumerate(("Lisa", "Bo"))]
    for n, person in enumerate(uploaders):
        act(person, slug, "topic.propose", title=f"Mitt ämne {n}")  # makes their ids public as conveners
        for k in range(2):
            files = {"photos": (f"{n}{k}.jpg", small_jpeg(40 * n + 20 * k), "image/jpeg")}
            sent = person.post(
                f"/e/{slug}/sessions/{topic}/photos", data={"csrf": person.cookies["os_csrf"]}, files=files
            )
            assert sent.status_code == 303, sent.text
    stranger = browser(server, "127.0.14.9").get(f"/e/{slug}/state.json").json()
    public_ids = {t["convener_id"] for t in stranger["topics"] if t.get("convener_id")}
    assert len(public_ids) >= 2
    photos = stranger["photos"]
    assert len(photos) == 4
    tags = set()
    for photo in photos:
        random_part, _, tag = photo["id"].partition(".")
        assert tag and all(tag != harvest.legacy_tag(random_part, pid) for pid in public_ids)
        assert not any(pid in json.dumps(photo) for pid in public_ids)
        tags.add(tag)
    assert len(tags) == 4  # no tag shared by one uploader's photos either


def test_case_16_hints_for_a_whole_grid_are_planned_in_the_pool(server: Server) -> None:
    """Case 16: the facilitator's placement hints for 5,000 cells blocked the event loop for 11.9 s.
    On a full grid (50 spaces, 100 slots) the hints are planned by the job pool, and the page
    shows them."""
    facilitator = browser(server, "127.0.16.1")
    slug = new_event(facilitator, ends_on="2026-03-20")
    for n in range(50):
        assert paced(facilitator, slug, "space.add", name=f"Rum {n + 1}", capacity="10").status_code == 303
    for n in range(100):
        day, hour = divmod(n, 15)
        start = f"{7 + hour:02d}:00"
        end = f"{7 + hour:02d}:45"
        added = paced(facilitator, slug, "slot.add", day=f"2026-03-{14 + day}", start=start, end=end)
        assert added.status_code == 303, added.text
    state = facilitator.get(f"/e/{slug}/state.json").json()
    assert (len(state["spaces"]), len(state["slots"])) == (50, 100)
    for title in ("Bibliotek", "Sagor"):  # one convener's two topics: a clash wherever they meet
        assert paced(facilitator, slug, "topic.propose", title=title, convener_name="Ada").status_code == 303
    placed, picked = topic_ids(facilitator, slug)
    first = {"slot": state["slots"][0]["id"], "space": state["spaces"][0]["id"]}
    assert paced(facilitator, slug, "topic.place", topic=placed, **first).status_code == 303
    planned = jobs_done(server, "plan")
    page = facilitator.get(f"/e/{slug}/facilitate?pick={picked}")
    assert page.status_code == 200
    assert jobs_done(server, "plan") == planned + 1
    assert page.text.count('class="hint-note"') == 49  # the clash, in each other space of that slot
