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
openspace does. No rules, no board, no rate limits, no cookies. One process by default.

With `--workers N --bus-url redis://…`, the same app as N uvicorn workers on one port, as
openspace runs them (#17): each worker's writer locks the batch's events in id order and so
waits for the other's commit where both write one event, and after its commit it sends each
change to its own sockets and publishes the batch's frames on Redis in one round trip, for the
other workers' sockets on the event. That is the least any server pays for the target's
configuration (two workers on two cores with PostgreSQL beside them): the second worker's
share of the writes, locks and fan-out, with nothing of openspace's own. Less than openspace
must, even: two batches' publishes may pass each other, and a message Redis drops is lost.

Run: `python -m bench.pgbare --port P --database-url URL [--workers N --bus-url URL]`
(bench/postgres.py starts it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import psycopg
from redis import asyncio as aioredis
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


CHANNEL = "pgbare"
ME = str(os.getpid()).encode()  # this worker: its own messages come back to it, and are dropped


class Relay:
    """The workers' bus: the frames committed in one turn of the loop (a batch's results all
    settle in one) go in one PUBLISH pipeline, heard by every other worker."""

    def __init__(self, url: str, sockets: dict[str, set[WebSocket]]) -> None:
        self.redis = aioredis.from_url(url)
        self.sockets = sockets
        self.outgoing: list[bytes] = []
        self.publishing: set[asyncio.Task[None]] = set()  # held, or the loop may drop them unfinished

    def send(self, event: str, frame: str) -> None:
        if not self.outgoing:
            task = asyncio.get_running_loop().create_task(self.publish())  # runs after this turn's results
            self.publishing.add(task)
            task.add_done_callback(self.publishing.discard)
        self.outgoing.append(b"%s %s %s" % (ME, event.encode(), frame.encode()))

    async def publish(self) -> None:
        messages, self.outgoing = self.outgoing, []
        async with self.redis.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(CHANNEL, message)
            await pipe.execute()

    async def listen(self) -> None:
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                sender, event, frame = message["data"].split(b" ", 2)
                if sender != ME:
                    await send_all(self.sockets.get(event.decode(), set()), frame.decode())


async def send_all(here: set[WebSocket], frame: str) -> None:
    for client in list(here):
        try:
            await client.send_text(frame)
        except Exception:  # gone meanwhile: its own receive loop removes it
            continue


def create_app(url: str, bus_url: str = "") -> Starlette:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(SCHEMA)
    writer = Writer(url)
    sockets: dict[str, set[WebSocket]] = {}
    relay = Relay(bus_url, sockets) if bus_url else None

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
        if relay is not None:
            relay.send(job[0], frame)
        await send_all(here, frame)

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"pgbare {os.getpid()}: {sum(map(len, sockets.values()))} connections")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        listening = asyncio.create_task(relay.listen()) if relay is not None else None
        yield
        if listening is not None:
            listening.cancel()

    return Starlette(routes=[Route("/", home), WebSocketRoute("/d/{event}", endpoint)], lifespan=lifespan)


def worker_app() -> Starlette:
    """One of `--workers N` (uvicorn's factory, in each worker process)."""
    settle_heap()
    return create_app(os.environ["PGBARE_DATABASE_URL"], os.environ["PGBARE_BUS_URL"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--bus-url", default="", help="Redis, between several workers")
    args = parser.parse_args()
    if args.workers > 1:
        with psycopg.connect(args.database_url, autocommit=True) as db:
            db.execute(SCHEMA)  # once, before the workers race to make it
        os.environ.update(PGBARE_DATABASE_URL=args.database_url, PGBARE_BUS_URL=args.bus_url)
        serve("bench.pgbare:worker_app", args.port, args.log_level, args.workers)
        return
    app = create_app(args.database_url)
    settle_heap()  # openspace's own collector and switch-interval settings (cli.py)
    serve(app, args.port, args.log_level)


if __name__ == "__main__":
    main()
