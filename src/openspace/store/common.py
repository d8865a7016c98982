"""The statements of a transaction that SQLite and PostgreSQL share word for word.

Apart from sqlite.py and postgres.py so that the two do not each carry a copy, and so that
neither passes 400 lines (#13): actions' answers (kept so a resent action gets its first answer
again) and participants' names. As in reportlog.py, the SQL is written with `?` marks and `_q`
swaps in the backend's mark.
"""

from __future__ import annotations

from typing import Any

import orjson

from openspace.store.base import Asked
from openspace.store.reportlog import ReportLogTransaction

PATCHES_SQL = "SELECT seq, kind, patch FROM changes WHERE event_id = ? AND seq > ? AND seq <= ? ORDER BY seq"


def logged(rows: list[Any], since: int, until: int) -> list[tuple[int, str, Any]] | None:
    """The change log's rows after `since` up to `until` as (seq, kind, patch), or None unless
    every one of them is there: a hole means the log no longer reaches back that far."""
    if len(rows) != until - since or (rows and rows[0][0] != since + 1):
        return None
    return [(int(seq), str(kind), orjson.loads(patch)) for seq, kind, patch in rows]


class CommonTransaction(ReportLogTransaction):
    """Mixed into SQLiteTransaction and PostgresTransaction (each has `db` and `answers`)."""

    answers: dict[tuple[str, str, str], str]  # (event, actor, action id) -> result JSON, written at batch end

    def prepare(self, asked: Asked) -> set[str]:
        """SQLite answers each question within the process, and its one writer holds the whole
        database: nothing to read ahead, nobody else's lock to skip (PostgresTransaction does)."""
        return set()

    def patches_since(self, event_id: str, since: int, until: int) -> list[tuple[int, str, Any]] | None:
        """`Store.patches_since` within this transaction: what another process wrote since this
        one's cached board, read under the event's lock (`batching.board_in`)."""
        return logged(self.db.execute(self._q(PATCHES_SQL), (event_id, since, until)).fetchall(), since, until)

    def applied_result(self, event_id: str, actor: str, action_id: str) -> dict[str, Any] | None:
        kept = self.answers.get((event_id, actor, action_id))  # the same action twice in one batch
        if kept is not None:
            return orjson.loads(kept)  # type: ignore[no-any-return]
        row = self.db.execute(
            self._q("SELECT result FROM applied_actions WHERE event_id = ? AND actor = ? AND action_id = ?"),
            (event_id, actor, action_id),
        ).fetchone()
        return orjson.loads(row[0]) if row else None

    def record_action(self, event_id: str, actor: str, action_id: str, result: dict[str, Any]) -> None:
        self.answers[(event_id, actor, action_id)] = orjson.dumps(result).decode()

    def insert_participant(self, participant_id: str, event_id: str, name: str, token_hash: str) -> None:
        self.db.execute(
            self._q("INSERT INTO participants (id, event_id, name, token_hash) VALUES (?, ?, ?, ?)"),
            (participant_id, event_id, name, token_hash),
        )

    def rename_participant(self, participant_id: str, name: str) -> None:
        self.db.execute(self._q("UPDATE participants SET name = ? WHERE id = ?"), (name, participant_id))

    def participant_name(self, participant_id: str) -> str | None:
        row = self.db.execute(self._q("SELECT name FROM participants WHERE id = ?"), (participant_id,)).fetchone()
        return str(row[0]) if row else None
