"""How PostgreSQL runs a batch's questions, checked on its own plans: every batch asks them, so a
plan that reads a whole table costs every change more as the site's logs grow (issue #17)."""

from __future__ import annotations

import asyncio
from contextlib import closing
from typing import Any

import orjson

from openspace.live.bus import MemoryBus
from openspace.service import Service
from openspace.store.pg_ahead import questions_sql
from openspace.store.postgres import PostgresStore
from openspace.store.postgres import connect as pg_connect

EVENTS, LOGGED = 200, 60  # a regional site's events, each with a log of this many changes


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in plan_nodes(child))]


def test_the_questions_read_each_events_rows_by_key_however_long_the_logs(postgres_url: str) -> None:
    """The catch-up read (what another worker logged after a cached board) and the actions
    applied before: each an index scan per event or action, never a whole table."""

    async def one_event() -> None:
        store = PostgresStore(postgres_url)
        await store.open()
        service = Service(store, MemoryBus())
        await service.start()
        try:
            args = {"name": "Plans", "starts_on": "2026-03-14", "timezone": "Europe/Stockholm", "language": "sv"}
            await service.create_event(args)
        finally:
            await service.stop()
            await store.close()

    asyncio.run(one_event())
    with closing(pg_connect(postgres_url)) as db:
        db.execute(
            "INSERT INTO events SELECT (jsonb_populate_record(NULL::events, to_jsonb(e) || "
            "jsonb_build_object('id', 'e' || g, 'slug', 's' || g))).* FROM events e, generate_series(1, %s) g",
            (EVENTS,),
        )
        db.execute(
            "INSERT INTO changes (event_id, seq, kind, patch) SELECT 'e' || g, s, 'topic.edited', '{}' "
            "FROM generate_series(1, %s) g, generate_series(1, %s) s",
            (EVENTS, LOGGED),
        )
        db.execute(
            "INSERT INTO applied_actions (event_id, actor, action_id, result) "
            "SELECT 'e' || g, 'f', 'a' || s, s::text FROM generate_series(1, %s) g, generate_series(1, %s) s",
            (EVENTS, LOGGED),
        )
        db.execute("ANALYZE")
        events = [f"e{g}" for g in range(1, 41, 2)]  # a batch of 20 events, each cached 3 changes behind
        actions = [(e, "f", f"a{n}") for e in events for n in (1, LOGGED + 1)]  # one applied, one new
        params = [events, [LOGGED - 3] * len(events), orjson.dumps(actions).decode()]
        asked = questions_sql(False, True, True, False)
        (explained,) = db.execute("EXPLAIN (FORMAT JSON) " + asked, params, binary=True).fetchone()
        nodes = plan_nodes(explained[0]["Plan"])
        read = [node for node in nodes if node.get("Relation Name") in ("changes", "applied_actions")]
        assert {node["Relation Name"] for node in read} == {"changes", "applied_actions"}
        assert all(node["Node Type"] == "Index Scan" for node in read), [n["Node Type"] for n in nodes]
        rows = db.execute(asked, params, binary=True).fetchall()
        assert sorted((row[1], int(row[5])) for row in rows if row[0] == "b") == sorted(
            (e, seq) for e in events for seq in range(LOGGED - 2, LOGGED + 1)
        )
        assert sorted(tuple(row[1:5]) for row in rows if row[0] == "a") == sorted((e, "f", "a1", "1") for e in events)
