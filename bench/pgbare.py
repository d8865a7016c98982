"""The bare app's durable writes on PostgreSQL (issue #17): the floor with a web server in it.

bench/pgfloor.py is a lower bound with no HTTP, no websockets and no load generator: two
processes writing on a schedule. This is the same writes behind the same uvicorn and websockets
as openspace's, driven by the same load generator (bench/loadgen.py's durable mode) over the same
connections and events: what any Python server keeping #17's guarantee pays on this machine
before it does anything of its own. A websocket action `{"type":"action","id":…,"args":{…}}` on
`/d/e<n>` (the event and its topic `t<n>` made when its first socket comes) goes to one writer
thread, which takes every action that arrived while its last transaction ran and, in one
transaction (pipeline mode, `synchronous_commit = on`):

1. locks the batch's events' rows in id order and reads their heads (one round trip: openspace
   must read ahead, too, before its rules can run);
2. writes each change's log row, the topic it edits and the action's answer, and moves the heads;
3. commits (the second round trip).

Only then is each action answered, and its change frame sent to every socket on its event, as
openspace does. No rules, no board, no bus, no rate limits, no cookies. One process.

Run: `python -m bench.pgbare --port P --database-url URL` (bench/postgres.py starts it).
"""

from __future__ import annotations

import argparse
import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from openspace.cli import settle_heap

from .baseline import serve

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, head_seq BIGINT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS changes (event_id TEXT NOT NULL REFERENCES events(id), seq BIGINT NOT NULL,
    kind TEXT NOT NULL, patch TEXT NOT NULL, PRIMARY KEY (event_id, seq));
CREATE TABLE IF NOT EXISTS topics (id TEXT PRIMARY KEY, event_id TEXT NOT NULL REFERENCES events(id),
    title TEXT NOT NULL, description TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS answers (event_id TEXT NOT NULL, action_id TEXT NOT NULL, result TEXT NOT NULL,
    PRIMARY KEY (event_id, action_id));
"""
LOCK = "SELECT id, head_seq FROM events WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
WRITE = (
    "WITH v AS (SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[]) "
    "AS v(event_id, seq, topic, title, description, action_id)), "
    "l AS (INSERT INTO changes (event_id, seq, kind, patch) "
    "SELECT event_id, seq, 'topic.edited', json_build_object('title', title, 'description', description)::text "
    "FROM v), "
    "t AS (UPDATE topics SET title = v.title, description = v.description FROM v WHERE topics.id = v.topic), "
    "a AS (INSERT INTO answers SELECT event_id, action_id, seq::text FROM v ON CONFLICT DO NOTHING) "
    "UPDATE events SET head_seq = h.head FROM unnest(%s::text[], %s::bigint[]) AS h(id, head) WHERE events.id = h.id"
)

Job = tuple[str, str, str, str, str]  # event, action id, topic, title, description


class Writer:
    """One connection on one thread; a batch is whatever queued while the last one ran."""

    def __init__(self, url: str) -> None:
        self.db = psycopg.connect(url, autocommit=True)
        self.db.execute("SET synchronous_commit = on")
        self.thread = ThreadPoolExecutor(1, "pgbare-writer")
        self.queue: list[tuple[Job, asyncio.Future[int]]] = []
        self.busy = False

    def submit(self, job: Job) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.queue.append((job, future))
        if not self.busy:
            self.busy = True
            asyncio.get_running_loop().create_task(self.drain())
        return future

    async def drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.queue:
            batch, self.queue = self.queue, []
            try:
                seqs = await loop.run_in_executor(self.thread, self.write, [job for job, _ in batch])
            except Exception as problem:
                for _, future in batch:
                    future.set_exception(problem)
                continue
            for (_, future), seq in zip(batch, seqs, strict=True):
                future.set_result(seq)
        self.busy = False

    def ensure(self, event: str) -> None:
        """An event and its one topic, made when its first socket comes (on the writer's thread)."""
        self.db.execute("INSERT INTO events (id) VALUES (%s) ON CONFLICT DO NOTHING", (event,))
        topic = "t" + event[1:]
        self.db.execute(
            "INSERT INTO topics (id, event_id, title) VALUES (%s, %s, '') ON CONFLICT DO NOTHING", (topic, event)
        )

    def write(self, jobs: list[Job]) -> list[int]:
        """The batch's transaction; each job's seq."""
        db = self.db
        with db.pipeline(), db.transaction():
            events = sorted({job[0] for job in jobs})
            heads = {str(e): int(h) for e, h in db.execute(LOCK, (events,)).fetchall()}
            seqs = []
            for job in jobs:
                heads[job[0]] += 1
                seqs.append(heads[job[0]])
            columns = [list(c) for c in zip(*jobs, strict=True)]
            event_ids, actions, topics, titles, descriptions = columns
            params = [event_ids, seqs, topics, titles, descriptions, actions, list(heads), list(heads.values())]
            db.execute(WRITE, params, binary=True)
        return seqs


def create_app(url: str) -> Starlette:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(SCHEMA)
    writer = Writer(url)
    sockets: dict[str, set[WebSocket]] = {}

    async def endpoint(ws: WebSocket) -> None:
        event = ws.path_params["event"]
        if event not in sockets:
            await asyncio.get_running_loop().run_in_executor(writer.thread, writer.ensure, event)
        await ws.accept()
        here = sockets.setdefault(event, set())
        here.add(ws)
        try:
            while True:
                message = orjson.loads(await ws.receive_text())
                if message.get("type") != "action":
                    continue
                args: dict[str, Any] = message["args"]
                job = (event, message["id"], args["topic"], args["title"], args["description"])
                asyncio.get_running_loop().create_task(answer(ws, here, job))
        except WebSocketDisconnect:
            pass
        finally:
            here.discard(ws)

    async def answer(ws: WebSocket, here: set[WebSocket], job: Job) -> None:
        """After the commit: the result to its sender, the change to everyone on the event."""
        seq = await writer.submit(job)
        await ws.send_text(orjson.dumps({"type": "result", "id": job[1], "ok": True, "result": {"seq": seq}}).decode())
        patch = {"upserts": [{"type": "topic", "id": job[2], "title": job[3], "description": job[4]}]}
        frame = orjson.dumps({"type": "change", "seq": seq, "kind": "topic.edited", "patch": patch}).decode()
        for client in list(here):
            try:
                await client.send_text(frame)
            except Exception:  # gone meanwhile: its own receive loop removes it
                continue

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"pgbare: {sum(map(len, sockets.values()))} connections")

    return Starlette(routes=[Route("/", home), WebSocketRoute("/d/{event}", endpoint)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    app = create_app(args.database_url)
    settle_heap()  # openspace's own collector and switch-interval settings (cli.py)
    serve(app, args.port, args.log_level)


if __name__ == "__main__":
    main()
