"""A PostgreSQL transaction's questions for a whole batch, asked once (batching.py, issue #17).

Each job of a batch asks the same things before it writes: its event's head under a row lock,
whether its action id was applied before, the acting participant's current name, the heads of
the event's co-written reports (cowriting.py). Asked one job at a time, each is a round trip to
the server, four or five per change; `prepare` asks each once for the batch, and the overrides
below answer from what it read. A write in the same transaction keeps those answers true (a name
set, a report's new head), so a job later in the batch sees what an earlier one did.

With several workers, the event a batch writes was often written by another worker a moment
before, and its change has not come over the bus yet: the cached board is behind, and each such
event cost one more round trip, under the lock, to read what the log holds after the cached
board (batching.caught_up). The batch knows its cached boards' seqs, so that read goes with the
others (`since`): every question is sent before the first answer is awaited, one round trip.

The writes themselves go out in pipeline mode (PostgresStore._transact): they wait for nothing,
and the transaction meets the server only when a question's answer is needed and at commit.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from openspace.store.base import CATCH_UP, Asked
from openspace.store.common import CommonTransaction, logged

LOCK_SQL = "SELECT id, head_seq FROM events WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
# With several workers, two batches often write some of the same events: waiting for one locked
# event held back all of a batch's others until the other worker committed, and the workers'
# batches queued behind each other (issue #17). A batch takes the free ones now; the others' jobs
# go in its next batch, which waits for them (`wait`): a job is put off at most once. A batch
# waits only in its first statement, holding nothing else yet, in the order of the ids, so two
# workers still never wait for each other in a circle.
TRY_LOCK_SQL = "SELECT id, head_seq FROM events WHERE id = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED"
# The batch's other questions, asked after the lock in one statement (`questions_sql`), each
# part's rows tagged and in one shape: a statement each cost the writer's thread its own Python
# for every batch (issue #17). After the lock, in the same pipeline: the statement's snapshot is
# taken once the lock is granted, so it sees everything committed before (report heads, the log).
DOC_HEADS_PART = (
    "SELECT 'd', event_id, topic_id, NULL::text, NULL::text, head::bigint FROM report_docs WHERE event_id = ANY(%s)"
)
# What another worker logged after a cached board, up to `CATCH_UP` changes on: a range of the
# log's key for each event. As a plain join, while the log was small enough (10,000 rows in the
# bench), the planner hashed the batch's events and read the whole log every batch: 1.1 ms of the
# server's CPU per batch (issue #17). The LIMIT keeps the subquery from being merged into such a
# join, so each event is one index scan whatever the planner estimates.
BEHIND_PART = (
    "SELECT 'b', k.event_id, c.kind, c.patch, NULL::text, c.seq "
    "FROM unnest(%s::text[], %s::bigint[]) AS k(event_id, since) "
    "CROSS JOIN LATERAL (SELECT kind, patch, seq FROM changes WHERE changes.event_id = k.event_id "
    f"AND seq > k.since AND seq <= k.since + {CATCH_UP} ORDER BY seq LIMIT {CATCH_UP}) AS c"
)
# A batch's action ids as one JSON array (orjson's C; an array of text is psycopg's Python per
# element), each looked up by the table's key: the LIMIT keeps it a probe per action, never a join
# over the whole table.
APPLIED_PART = (
    "SELECT 'a', k->>0, k->>1, k->>2, a.result, NULL::bigint FROM jsonb_array_elements(%s::jsonb) AS k "
    "CROSS JOIN LATERAL (SELECT result FROM applied_actions "
    "WHERE event_id = k->>0 AND actor = k->>1 AND action_id = k->>2 LIMIT 1) AS a"
)
NAMES_PART = "SELECT 'n', id, name, NULL::text, NULL::text, NULL::bigint FROM participants WHERE id = ANY(%s)"


@functools.cache
def questions_sql(doc_heads: bool, behind: bool, applied: bool, names: bool) -> str:
    """The parts a batch needs, in this order of parameters."""
    parts = (DOC_HEADS_PART, doc_heads), (BEHIND_PART, behind), (APPLIED_PART, applied), (NAMES_PART, names)
    return " UNION ALL ".join(part for part, present in parts if present)


class ReadAhead(CommonTransaction):
    """Mixed into PostgresTransaction, before CommonTransaction (which asks one at a time)."""

    db: Any  # a psycopg connection
    locked: dict[str, int]  # event -> its head when locked (PostgresTransaction.lock_event)
    prior: dict[tuple[str, str, str], str | None]  # an action's first answer (JSON), None if new
    names: dict[str, str | None]  # participant -> name now (None: no such participant)
    doc_heads: dict[str, dict[str, int]]  # event -> report -> its document's head
    behind: dict[str, tuple[int, list[Any]]]  # event -> (its cached board's seq, the log's rows after it)

    def prepare(self, asked: Asked) -> set[str]:
        """Every question is sent before the first answer is awaited (pipeline mode): one round
        trip for the batch, catch-ups from the log included. The events another worker holds
        are skipped unless in `wait` (`TRY_LOCK_SQL`); they are returned."""
        db, actions, participants = self.db, asked.actions, asked.participants
        fresh = [e for e in asked.events if e not in self.locked]
        waited, tried = fresh, []  # one event alone: nothing else to get on with meanwhile
        if asked.only_try:
            waited, tried = [], fresh
        elif len(fresh) > 1:
            waited, tried = [e for e in fresh if e in asked.wait], [e for e in fresh if e not in asked.wait]
        behind = {e: seq for e, seq in asked.since.items() if e in fresh}
        locks = db.execute(LOCK_SQL, (waited,), binary=True) if waited else None
        tries = db.execute(TRY_LOCK_SQL, (tried,), binary=True) if tried else None
        params: list[Any] = []
        if fresh:
            params.append(fresh)
        if behind:
            params += [list(behind), list(behind.values())]
        if actions:
            params.append(orjson.dumps(actions).decode())
        if participants:
            params.append(participants)
        parts = bool(fresh), bool(behind), bool(actions), bool(participants)
        answers = db.execute(questions_sql(*parts), params, binary=True) if params else None
        found = {str(e): int(head) for e, head in locks.fetchall()} if locks is not None else {}
        self.locked.update({e: found.get(e, 0) for e in waited})  # 0: no such event (deleted)
        got = {str(e): int(head) for e, head in tries.fetchall()} if tries is not None else {}
        self.locked.update(got)
        busy = {e for e in tried if e not in got}  # held by another worker (or deleted: known next time)
        self.doc_heads.update({e: {} for e in fresh if e not in busy})
        self.prior.update({key: None for key in actions})
        self.names.update({p: None for p in participants})
        after: dict[str, list[Any]] = {e: [] for e in behind}
        for tag, a, b, c, d, n in answers.fetchall() if answers is not None else ():
            if tag == "d":
                if str(a) not in busy:
                    self.doc_heads[str(a)][str(b)] = int(n)
            elif tag == "b":
                after[str(a)].append((int(n), b, c))
            elif tag == "a":
                self.prior[(str(a), str(b), str(c))] = str(d)
            else:
                self.names[str(a)] = str(b)
        # the busy events' rows were read without their lock: not to be trusted by a later lock_event
        kept = {e: rows for e, rows in after.items() if e not in busy}
        self.behind.update({e: (behind[e], sorted(rows, key=lambda row: row[0])) for e, rows in kept.items()})
        return busy

    def patches_since(self, event_id: str, since: int, until: int) -> list[tuple[int, str, Any]] | None:
        read = self.behind.get(event_id)
        if read is None or read[0] != since or until > since + CATCH_UP:
            return super().patches_since(event_id, since, until)
        return logged([row for row in read[1] if row[0] <= until], since, until)

    def applied_result(self, event_id: str, actor: str, action_id: str) -> dict[str, Any] | None:
        key = (event_id, actor, action_id)
        if key in self.answers or key not in self.prior:
            return super().applied_result(event_id, actor, action_id)
        kept = self.prior[key]
        return None if kept is None else orjson.loads(kept)

    def participant_name(self, participant_id: str) -> str | None:
        if participant_id in self.names:
            return self.names[participant_id]
        return super().participant_name(participant_id)

    def rename_participant(self, participant_id: str, name: str) -> None:
        super().rename_participant(participant_id, name)
        if participant_id in self.names:
            self.names[participant_id] = name

    def report_heads(self, event_id: str) -> dict[str, int]:
        if event_id in self.doc_heads:
            return dict(self.doc_heads[event_id])
        return super().report_heads(event_id)

    def append_report_update(self, event_id: str, topic_id: str, rseq: int, data: bytes, state: bytes | None) -> None:
        super().append_report_update(event_id, topic_id, rseq, data, state)
        if event_id in self.doc_heads:
            self.doc_heads[event_id][topic_id] = rseq
