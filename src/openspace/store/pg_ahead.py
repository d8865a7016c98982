"""A PostgreSQL transaction's questions for a whole batch, asked once (batching.py, issue #17).

Each job of a batch asks the same things before it writes: its event's head under a row lock,
whether its action id was applied before, the acting participant's current name, the heads of
the event's co-written reports (cowriting.py). Asked one job at a time, each is a round trip to
the server, four or five per change; `prepare` asks each once for the batch, and the overrides
below answer from what it read. A write in the same transaction keeps those answers true (a name
set, a report's new head), so a job later in the batch sees what an earlier one did.

The writes themselves go out in pipeline mode (PostgresStore._transact): they wait for nothing,
and the transaction meets the server only when a question's answer is needed and at commit.
"""

from __future__ import annotations

from typing import Any

import orjson

from openspace.store.common import CommonTransaction

LOCK_SQL = "SELECT id, head_seq FROM events WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
APPLIED_SQL = (
    "SELECT a.event_id, a.actor, a.action_id, a.result FROM applied_actions a "
    "JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k(event_id, actor, action_id) "
    "ON a.event_id = k.event_id AND a.actor = k.actor AND a.action_id = k.action_id"
)
NAMES_SQL = "SELECT id, name FROM participants WHERE id = ANY(%s)"
DOC_HEADS_SQL = "SELECT event_id, topic_id, head FROM report_docs WHERE event_id = ANY(%s)"


class ReadAhead(CommonTransaction):
    """Mixed into PostgresTransaction, before CommonTransaction (which asks one at a time)."""

    db: Any  # a psycopg connection
    locked: dict[str, int]  # event -> its head when locked (PostgresTransaction.lock_event)
    prior: dict[tuple[str, str, str], str | None]  # an action's first answer (JSON), None if new
    names: dict[str, str | None]  # participant -> name now (None: no such participant)
    doc_heads: dict[str, dict[str, int]]  # event -> report -> its document's head

    def prepare(self, events: list[str], actions: list[tuple[str, str, str]], participants: list[str]) -> None:
        db = self.db
        fresh = [e for e in events if e not in self.locked]
        if fresh:  # every query is sent before the first answer is awaited (pipeline mode)
            locks = db.execute(LOCK_SQL, (fresh,))
            heads = db.execute(DOC_HEADS_SQL, (fresh,))
            found = {str(e): int(head) for e, head in locks.fetchall()}
            self.locked.update({e: found.get(e, 0) for e in fresh})  # 0: no such event (deleted)
            for e in fresh:
                self.doc_heads[e] = {}
            for e, topic, head in heads.fetchall():
                self.doc_heads[str(e)][str(topic)] = int(head)
        if actions:
            rows = db.execute(APPLIED_SQL, tuple(list(column) for column in zip(*actions, strict=True))).fetchall()
            self.prior.update({key: None for key in actions})
            self.prior.update({(str(e), str(a), str(i)): str(result) for e, a, i, result in rows})
        if participants:
            rows = db.execute(NAMES_SQL, (participants,)).fetchall()
            self.names.update({p: None for p in participants})
            self.names.update({str(p): str(name) for p, name in rows})

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
