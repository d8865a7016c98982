"""Reliability under faults, proven: exact catch-up after 500 changes, floods, oversized frames,
durability across kill -9, Secure cookies over HTTPS. Loops are bounded; traffic stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from openspace.app import create_app
from tests.conftest import ORIGIN, act, create_event, join
from tests.live.test_ws import page_data
from tests.server import Server, running_server, stop


def apply_patch(state: dict[str, Any], patch: dict[str, Any]) -> None:
    """What live.js does with a change, in Python: the client's copy of the board."""
    if "event" in patch:
        state["event"] = patch["event"]
    for kind, rows in patch.get("upsert", {}).items():
        table = {row["id"]: row for row in state.get(kind, [])}
        table.update({row["id"]: row for row in rows})
        state[kind] = list(table.values())
    for kind, ids in patch.get("delete", {}).items():
        state[kind] = [row for row in state.get(kind, []) if row["id"] not in set(ids)]


def by_id(state: dict[str, Any]) -> dict[str, Any]:
    return {k: sorted(v, key=lambda r: r["id"]) if isinstance(v, list) else v for k, v in state.items() if k != "seq"}


def test_r1_an_offline_client_gets_exactly_the_500_changes_it_missed(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    data = page_data(phone, event.path)
    mine = data["state"]
    for n in range(500):
        if n % 5 == 4:
            act(
                event.facilitator,
                event,
                "topic.withdraw",
                "facilitate",
                topic=page_data(event.facilitator, f"{event.path}/facilitate")["state"]["topics"][0]["id"],
            )
        else:
            act(event.facilitator, event, "topic.propose", "facilitate", title=f"Ämne {n}", convener_name="A")
    with phone.websocket_connect(
        f"{event.path}/ws?since={data['seq']}&epoch={data['epoch']}", headers={"origin": ORIGIN}
    ) as ws:
        received: list[dict[str, Any]] = []
        while len(received) < 500:  # in batch frames of at most 64 (live/catchup.py)
            message = ws.receive_json()
            received += message["changes"] if message["type"] == "batch" else [message]
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # nothing more was queued: 0 duplicated
    seqs = [m["seq"] for m in received]
    assert seqs == list(range(data["seq"] + 1, data["seq"] + 501))  # 0 lost, in order
    for message in received:
        apply_patch(mine, message["patch"])
    server = client.get(f"{event.path}/state.json").json()
    assert by_id(mine) == by_id(server)  # the client's board equals the server's


def test_s5_the_action_rate_is_bounded_per_connection() -> None:
    from openspace.live.ws import TokenBucket

    bucket = TokenBucket(rate=10, burst=30)
    bucket.stamp = 0.0
    assert sum(bucket.take(now=0.0) for _ in range(40)) == 30  # a burst passes, the rest waits
    assert sum(bucket.take(now=1.0) for _ in range(40)) == 10  # then ten a second


def test_s5_a_flood_is_told_to_slow_down_then_closed(client: TestClient) -> None:
    event = create_event(client)
    phone = join(client, event)
    codes = []
    with phone.websocket_connect(f"{event.path}/ws", headers={"origin": ORIGIN}) as ws:
        ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            for n in range(1000):
                ws.send_json({"type": "action", "id": f"flood-{n:04d}", "name": "no.such.action", "args": {}})
                codes.append(ws.receive_json()["error"]["code"])
        assert closed.value.code == 1008
    assert "slow_down" in codes and codes.count("slow_down") > 100
    assert client.get(f"{event.path}/state.json").json()["topics"] == []


def test_s9_cookies_are_secure_over_https(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings), base_url="https://testserver", follow_redirects=False) as https:
        token = https.get("/new").headers["set-cookie"]
        assert "Secure" in token and "HttpOnly" in token and "SameSite=lax" in token


def test_s5_an_oversized_frame_is_closed_with_1009(tmp_path: Path) -> None:
    with running_server(tmp_path / "big.db", demo=True) as server:
        slug = server.link("Participant link").rsplit("/", 1)[1]

        async def send_big() -> int | None:
            url = server.url.replace("http", "ws") + f"/e/{slug}/ws"
            ws = await connect(url, origin=server.url, max_size=None)  # type: ignore[arg-type]
            await ws.recv()
            await ws.send("x" * 200_000)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None

        assert asyncio.run(send_big()) == 1009


async def write_until_killed(server: Server, link: str, rng: random.Random, tag: str) -> dict[int, str]:
    """Propose topics at a person's pace until a random moment, then kill -9 the server."""
    slug = link.split("/e/")[1].split("/")[0]
    with httpx2.Client(follow_redirects=False) as http:
        assert http.get(link.replace(link.split("/e/")[0], server.url)).status_code == 303
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    url = server.url.replace("http", "ws") + f"/e/{slug}/ws"
    ws = await connect(url, origin=server.url, additional_headers={"cookie": cookie})  # type: ignore[arg-type]
    acknowledged: dict[int, str] = {}
    deadline = time.monotonic() + rng.uniform(0.3, 1.5)
    n = 0
    try:
        while time.monotonic() < deadline:
            title = f"{tag}-{n}"
            action = {"type": "action", "id": f"d1-{tag}-{n:05d}", "name": "topic.propose"}
            await ws.send(orjson.dumps({**action, "args": {"title": title, "convener_name": "x"}}).decode())
            while (message := orjson.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "result":
                pass
            if message["ok"]:
                acknowledged[message["result"]["seq"]] = title
            n += 1
            await asyncio.sleep(0.05)
        server.process.send_signal(signal.SIGKILL)
    finally:
        await ws.close()
    return acknowledged


@pytest.mark.slow
def test_d1_every_acknowledged_change_survives_kill_9(tmp_path: Path) -> None:
    """20 times: steady writes, kill -9 at a random moment, then read the database itself."""
    db = tmp_path / "d1.db"
    rng = random.Random(20261121)
    acknowledged: dict[int, str] = {}
    link = ""
    for round_ in range(20):
        with running_server(db, demo=round_ == 0) as server:
            link = link or server.link("Facilitator link")
            acknowledged |= asyncio.run(write_until_killed(server, link, rng, f"r{round_}"))
            server.process.wait(timeout=10)
        stop(server)
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    titles = {row[0] for row in check.execute("SELECT title FROM topics")}
    assert set(acknowledged.values()) <= titles  # every acknowledged change is there
    (event_id, head) = check.execute("SELECT id, head_seq FROM events").fetchone()
    seqs = [row[0] for row in check.execute("SELECT seq FROM changes WHERE event_id = ? ORDER BY seq", (event_id,))]
    assert seqs == list(range(seqs[0], head + 1))  # no holes
    assert max(acknowledged) <= head and len(acknowledged) > 50
    check.close()


def test_d3_backup_under_load_and_restore_into_a_fresh_server(tmp_path: Path) -> None:
    db, copy, restored = tmp_path / "live.db", tmp_path / "backup.db", tmp_path / "restored.db"
    with running_server(db, demo=True) as server:
        link = server.link("Facilitator link")
        slug = link.split("/e/")[1].split("/")[0]
        with httpx2.Client(base_url=server.url, follow_redirects=False) as http:
            http.get(link.replace(link.split("/e/")[0], server.url))
            token = http.cookies.get("os_csrf")

            def propose(n: int) -> int:
                data = {"csrf": token, "_action": "topic.propose", "_return_to": "facilitate", "title": f"B{n}"}
                assert http.post(f"/e/{slug}/act", data=data).status_code == 303
                return n

            before = [propose(n) for n in range(30)]
            from click.testing import CliRunner

            from openspace.cli import main

            with ThreadPoolExecutor(1) as pool:  # writes keep coming while the backup runs
                during = pool.submit(lambda: [propose(n) for n in range(30, 60)])
                result = CliRunner().invoke(main, ["backup", "--db", str(db), "-o", str(copy)])
                during.result()
            assert result.exit_code == 0, result.output
            epoch = page_data_http(http, f"/e/{slug}")["epoch"]
    assert CliRunner().invoke(main, ["restore", str(copy), "--db", str(restored)]).exit_code == 0
    assert CliRunner().invoke(main, ["restore", str(copy), "--db", str(restored)]).exit_code != 0  # never overwrite
    with running_server(restored, demo=False) as again:
        with httpx2.Client(base_url=again.url) as http:
            titles = {t["title"] for t in http.get(f"/e/{slug}/state.json").json()["topics"]}
        assert {f"B{n}" for n in before} <= titles  # nothing acknowledged before the backup is missing

        async def resume() -> dict[str, Any]:
            url = again.url.replace("http", "ws") + f"/e/{slug}/ws?since=5&epoch={epoch}"
            ws = await connect(url, origin=again.url)  # type: ignore[arg-type]
            first = orjson.loads(await ws.recv())
            await ws.close()
            return first  # type: ignore[no-any-return]

        first = asyncio.run(resume())
        assert first["type"] == "snapshot" and first["reason"] == "invalid"  # resynchronised, not trusted


def page_data_http(http: httpx2.Client, path: str) -> dict[str, Any]:
    import re

    html = http.get(path).text
    return orjson.loads(re.search(r'id="os-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr, no-any-return]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def facilitator_socket(server: Server, link: str) -> Any:
    slug = link.split("/e/")[1].split("/")[0]
    with httpx2.Client(follow_redirects=False) as http:
        http.get(link.replace(link.split("/e/")[0], server.url))
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    url = server.url.replace("http", "ws") + f"/e/{slug}/ws"
    return await connect(url, origin=server.url, additional_headers={"cookie": cookie})  # type: ignore[arg-type]


async def drive(sockets: list[Any], count: int, tag: str) -> None:
    """`count` proposals, spread over the facilitator's sockets at a person's pace each."""
    for n in range(count):
        ws = sockets[n % len(sockets)]
        action = {"type": "action", "id": f"{tag}-{n:05d}", "name": "topic.propose"}
        await ws.send(orjson.dumps({**action, "args": {"title": f"{tag}{n}", "convener_name": "x"}}).decode())
        await asyncio.sleep(0.05)


class Reader:
    """A healthy screen: reads every frame, acknowledges every 16 changes like live.js."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.seqs, self.closed_with = ws, [], None  # type: ignore[var-annotated]
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        try:
            async for raw in self.ws:
                message = orjson.loads(raw)
                if message["type"] == "change":
                    self.seqs.append(message["seq"])
                    if len(self.seqs) % 16 == 0:
                        await self.ws.send(orjson.dumps({"type": "ack", "seq": message["seq"]}).decode())
        except ConnectionClosed as closed:
            self.closed_with = closed.rcvd.code if closed.rcvd else None


@pytest.mark.slow
def test_r4_a_frozen_client_is_cut_off_at_its_bound_and_the_others_get_everything(tmp_path: Path) -> None:
    env_lag = "40"
    import os

    os.environ["OPENSPACE_MAX_LAG"] = env_lag
    try:
        with running_server(tmp_path / "r4.db", demo=True) as server:
            link = server.link("Facilitator link")
            slug = link.split("/e/")[1].split("/")[0]

            async def scenario() -> None:
                url = server.url.replace("http", "ws") + f"/e/{slug}/ws"
                drivers = [await facilitator_socket(server, link) for _ in range(3)]
                listening = [Reader(ws) for ws in drivers]  # drivers are screens too: they read and ack
                readers = [Reader(await connect(url, origin=server.url)) for _ in range(50)]  # type: ignore[arg-type]
                frozen = await connect(url, origin=server.url, max_queue=1)  # type: ignore[arg-type]
                await asyncio.sleep(0.5)
                first = orjson.loads(await frozen.recv())  # its snapshot; then it never reads or acks again
                memory_before = rss_kib(server.process.pid)
                await drive(drivers, 120, "r4")
                await asyncio.sleep(1.0)
                memory_after = rss_kib(server.process.pid)
                head = first["seq"] + 120
                for reader in readers:
                    assert reader.seqs[-1] == head and reader.seqs == sorted(set(reader.seqs)), (
                        "a healthy screen missed"
                    )
                    assert reader.closed_with is None
                with pytest.raises(ConnectionClosed) as cut:
                    while True:
                        await asyncio.wait_for(frozen.recv(), 5)
                assert cut.value.rcvd is not None and cut.value.rcvd.code == 4008  # closed at its bound
                assert memory_after - memory_before < 50 * 1024  # bounded: well under 50 MiB for all this
                resumed = await connect(f"{url}?since={first['seq']}&epoch={first['epoch']}", origin=server.url)  # type: ignore[arg-type]
                caught_up: list[int] = []
                while len(caught_up) < 120:  # in batch frames of at most 64 (live/catchup.py)
                    message = orjson.loads(await resumed.recv())
                    batch = message["changes"] if message["type"] == "batch" else [message]
                    caught_up += [change["seq"] for change in batch]
                assert caught_up == list(range(first["seq"] + 1, head + 1))  # and it resumes exactly
                for ws in (*drivers, resumed, *(r.ws for r in readers)):
                    await ws.close()
                await asyncio.gather(*(r.task for r in (*readers, *listening)))

            asyncio.run(scenario())
    finally:
        os.environ.pop("OPENSPACE_MAX_LAG", None)


@pytest.mark.slow
def test_r5_300_screens_come_back_after_a_restart_and_resynchronise(tmp_path: Path) -> None:
    from .server import free_port

    port, db = free_port(), tmp_path / "r5.db"

    async def screen(url: str, origin: str, since: int, epoch: str, rng: random.Random, want: int) -> list[int]:
        """live.js's reconnect, in Python: jittered backoff until the server answers, then resume."""
        delay = 0.5
        for _ in range(30):
            await asyncio.sleep(delay * rng.uniform(0.5, 1.5))
            try:
                ws = await connect(f"{url}?since={since}&epoch={epoch}", origin=origin)  # type: ignore[arg-type]
            except OSError:
                delay = min(delay * 2, 4.0)
                continue
            got: list[int] = []
            try:
                while len(got) < want:
                    message = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
                    if message["type"] == "change":
                        got.append(message["seq"])
                    elif message["type"] == "batch":  # a catch-up comes in batches (live/catchup.py)
                        got += [change["seq"] for change in message["changes"]]
            finally:
                await ws.close()
            return got
        raise AssertionError("never came back")

    with running_server(db, port=port, demo=True) as first:
        link = first.link("Facilitator link")
        slug = link.split("/e/")[1].split("/")[0]
        with httpx2.Client(base_url=first.url) as http:
            html = http.get(f"/e/{slug}").text
        data = page_data_from(html)

        async def connect_all() -> list[Any]:
            url = first.url.replace("http", "ws") + f"/e/{slug}/ws?since={data['seq']}&epoch={data['epoch']}"
            return [await connect(url, origin=first.url) for _ in range(300)]  # type: ignore[arg-type]

        loop = asyncio.new_event_loop()
        sockets = loop.run_until_complete(connect_all())
        stop(first)  # every one of them is told 1012
        codes = loop.run_until_complete(gather_close_codes(sockets))
        assert set(codes) == {1012}
    with running_server(db, port=port, demo=False) as second:

        async def come_back() -> list[list[int]]:
            url = second.url.replace("http", "ws") + f"/e/{slug}/ws"
            rng = random.Random(5)
            tasks = [
                asyncio.create_task(screen(url, second.url, data["seq"], data["epoch"], rng, 5)) for _ in range(300)
            ]
            drivers = [await facilitator_socket(second, link)]
            listening = Reader(drivers[0])
            await asyncio.sleep(3)  # let them come back, jittered
            await drive(drivers, 5, "r5")
            results = await asyncio.gather(*tasks)
            await drivers[0].close()
            await listening.task
            return results

        results = loop.run_until_complete(come_back())
        loop.close()
    expected = list(range(data["seq"] + 1, data["seq"] + 6))
    assert all(got == expected for got in results)  # all 300 resynchronised, exactly
    assert not any("Traceback" in line or " 500 " in line for line in second.output)


async def gather_close_codes(sockets: list[Any]) -> list[int | None]:
    async def code(ws: Any) -> int | None:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    return await asyncio.gather(*(code(ws) for ws in sockets))


def page_data_from(html: str) -> dict[str, Any]:
    import re

    return orjson.loads(re.search(r'id="os-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr, no-any-return]


def test_d2_a_full_disk_gets_a_clear_message_and_reading_goes_on(client: TestClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from openspace.store import sqlite as storage

    event = create_event(client, language="en")
    phone = join(client, event)

    def full(self, event_id, seq, change, patch):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(storage.SQLiteTransaction, "apply", full)
    response = act(phone, event, "topic.propose", title="Skrivs inte", description="men finns kvar i formuläret")
    assert response.status_code == 503 and "Could not save just now" in response.text
    assert "men finns kvar i formuläret" in response.text  # what was typed is still there
    assert client.get(f"{event.path}/state.json").json()["topics"] == []  # nothing acknowledged
    assert client.get(event.path).status_code == 200  # reading keeps working
    monkeypatch.undo()
    assert act(phone, event, "topic.propose", title="Nu går det").status_code == 303


def test_s5_invalid_utf8_is_closed_with_1007_not_a_server_error(tmp_path: Path) -> None:
    import os as _os

    with running_server(tmp_path / "utf.db", demo=True) as server:
        slug = server.link("Participant link").rsplit("/", 1)[1]

        async def send_raw() -> int | None:
            ws = await connect(server.url.replace("http", "ws") + f"/e/{slug}/ws", origin=server.url)  # type: ignore[arg-type]
            await ws.recv()
            payload, mask = b"\xff\xfe\xfd", _os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            ws.transport.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)  # a text frame, not UTF-8
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None

        assert asyncio.run(send_raw()) == 1007
    # uvicorn logs the decode error itself (uvicorn.error); the app raised nothing and answered no 500
    assert not any(line.startswith("ERROR openspace") for line in server.output)


def test_d3_a_backup_holds_every_photo_its_rows_name_and_nothing_of_an_older_backup(tmp_path: Path) -> None:
    from openspace.store import sqlite as storage

    db, copy = tmp_path / "live.db", tmp_path / "backup.db"
    with sqlite3.connect(db) as live:
        live.execute("CREATE TABLE photos (name TEXT)")
        live.execute("INSERT INTO photos VALUES ('kept')")
    (tmp_path / "live.db.files").mkdir()
    (tmp_path / "live.db.files" / "kept.jpg").write_bytes(b"jpeg")
    (tmp_path / "backup.db.files").mkdir()
    (tmp_path / "backup.db.files" / "stale.jpg").write_bytes(b"from an older backup at this path")
    storage.backup(db, copy)
    assert sorted(p.name for p in (tmp_path / "backup.db.files").iterdir()) == ["kept.jpg"]
    with pytest.raises(FileExistsError):
        storage.backup(db, db)  # never over itself
