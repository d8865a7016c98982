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

from typing import Any

import orjson

from openspace.store.base import CATCH_UP
from openspace.store.common import CommonTransaction, logged

LOCK_SQL = "SELECT id, head_seq FROM events WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
APPLIED_SQL = (
    "SELECT a.event_id, a.actor, a.action_id, a.result FROM applied_actions a "
    "JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k(event_id, actor, action_id) "
    "ON a.event_id = k.event_id AND a.actor = k.actor AND a.action_id = k.action_id"
)
NAMES_SQL = "SELECT id, name FROM participants WHERE id = ANY(%s)"
DOC_HEADS_SQL = "SELECT event_id, topic_id, head FROM report_docs WHERE event_id = ANY(%s)"
# what another worker logged after a cached board, up to `CATCH_UP` changes on: sent after the
# lock in the same pipeline, so it sees everything committed before the lock was granted
BEHIND_SQL = (
    "SELECT c.event_id, c.seq, c.kind, c.patch FROM changes c "
    "JOIN unnest(%s::text[], %s::bigint[]) AS k(event_id, since) "
    "ON c.event_id = k.event_id AND c.seq > k.since AND c.seq <= k.since + %s ORDER BY c.event_id, c.seq"
)


class ReadAhead(CommonTransaction):
    """Mixed into PostgresTransaction, before CommonTransaction (which asks one at a time)."""

    db: Any  # a psycopg connection
    locked: dict[str, int]  # event -> its head when locked (PostgresTransaction.lock_event)
    prior: dict[tuple[str, str, str], str | None]  # an action's first answer (JSON), None if new
    names: dict[str, str | None]  # participant -> name now (None: no such participant)
    doc_heads: dict[str, dict[str, int]]  # event -> report -> its document's head
    behind: dict[str, tuple[int, list[Any]]]  # event -> (its cached board's seq, the log's rows after it)

    def prepare(
        self, events: list[str], actions: list[tuple[str, str, str]], participants: list[str], since: dict[str, int]
    ) -> None:
        """Every question is sent before the first answer is awaited (pipeline mode): one round
        trip for the batch, catch-ups from the log included."""
        db = self.db
        fresh = [e for e in events if e not in self.locked]
        behind = {e: seq for e, seq in since.items() if e in fresh}
        locks = db.execute(LOCK_SQL, (fresh,), binary=True) if fresh else None
        heads = db.execute(DOC_HEADS_SQL, (fresh,), binary=True) if fresh else None
        after = db.execute(BEHIND_SQL, (list(behind), list(behind.values()), CATCH_UP), binary=True) if behind else None
        applied = (
            db.execute(APPLIED_SQL, tuple(map(list, zip(*actions, strict=True))), binary=True) if actions else None
        )
        names = db.execute(NAMES_SQL, (participants,), binary=True) if participants else None
        if locks is not None and heads is not None:
            found = {str(e): int(head) for e, head in locks.fetchall()}
            self.locked.update({e: found.get(e, 0) for e in fresh})  # 0: no such event (deleted)
            for e in fresh:
                self.doc_heads[e] = {}
            for e, topic, head in heads.fetchall():
                self.doc_heads[str(e)][str(topic)] = int(head)
        if after is not None:
            rows: dict[str, list[Any]] = {e: [] for e in behind}
            for e, seq, kind, patch in after.fetchall():
                rows[str(e)].append((seq, kind, patch))
            self.behind.update({e: (behind[e], rows[e]) for e in behind})
        if applied is not None:
            self.prior.update({key: None for key in actions})
            self.prior.update({(str(e), str(a), str(i)): str(result) for e, a, i, result in applied.fetchall()})
        if names is not None:
            self.names.update({p: None for p in participants})
            self.names.update({str(p): str(name) for p, name in names.fetchall()})

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
