"""Each report's shared document in SQLite: a compacted state plus a short tail of updates.

Every update a browser sends is one row of `report_updates`, numbered `rseq` gap-free per
report, written in the same transaction as the report's materialised text (the `reports` row the
proceedings, exports and news room read). Every `cowriting.COMPACT_EVERY` updates the document's
whole state is stored in `report_docs` and the tail it now includes is deleted, so loading a
report costs one state and at most that many updates, however long people typed (issue #16).
The report's text is not logged in the event's change log on every keystroke (that would reach
every phone of the event); cowriting.py logs it there at checkpoints.
"""

from __future__ import annotations

from typing import Any

from openspace.domain.model import Report
from openspace.domain.rows import as_row, column_names
from openspace.store.base import ReportDocRow

REPORT_COLUMNS = column_names(Report)


class ReportLogTransaction:
    """The writes of reports written together, mixed into SQLiteTransaction and
    PostgresTransaction (each has `db`). The SQL is the same for both but for the parameter
    mark, which `_q` swaps in."""

    db: Any  # sqlite3.Connection, or a psycopg connection
    mark = "?"

    def _q(self, sql: str) -> str:
        return sql if self.mark == "?" else sql.replace("?", self.mark)

    def report_doc(self, topic_id: str) -> ReportDocRow | None:
        row = self.db.execute(
            self._q("SELECT state, compacted, head FROM report_docs WHERE topic_id = ?"), (topic_id,)
        ).fetchone()
        if row is None:
            return None
        tail = self.db.execute(
            self._q("SELECT data FROM report_updates WHERE topic_id = ? AND rseq > ? ORDER BY rseq"), (topic_id, row[1])
        ).fetchall()
        return ReportDocRow(bytes(row[0]), [bytes(t[0]) for t in tail], int(row[2]))

    def report_head(self, topic_id: str) -> int:
        """The report's last `rseq` as stored (0 if never written together): whether a copy of its
        document kept in memory is still the latest, when another process may write it too."""
        row = self.db.execute(self._q("SELECT head FROM report_docs WHERE topic_id = ?"), (topic_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def report_heads(self, event_id: str) -> dict[str, int]:
        """Every report of the event written together, with its last `rseq` as stored."""
        rows = self.db.execute(self._q("SELECT topic_id, head FROM report_docs WHERE event_id = ?"), (event_id,))
        return {str(topic_id): int(head) for topic_id, head in rows.fetchall()}

    def report_rows(self, topic_ids: list[str]) -> list[Report]:
        """The reports' rows as stored: typing on another process changed them without a change
        in the event's log, so a board read from memory may hold older text (cowriting.py)."""
        if not topic_ids:
            return []
        names = ", ".join(f'"{c}"' for c in REPORT_COLUMNS)
        marks = ", ".join("?" * len(topic_ids))
        rows = self.db.execute(self._q(f"SELECT {names} FROM reports WHERE id IN ({marks})"), topic_ids).fetchall()
        values: list[dict[str, Any]] = [dict(zip(REPORT_COLUMNS, row, strict=True)) for row in rows]
        return [Report(**{**v, "locked": bool(v["locked"])}) for v in values]

    def append_report_update(self, event_id: str, topic_id: str, rseq: int, data: bytes, state: bytes | None) -> None:
        """Log update `rseq`; with `state` (the document including it), compact: store the state
        and drop the tail it holds. A first update also creates the document's row."""
        self.db.execute(
            self._q("INSERT INTO report_updates (topic_id, rseq, event_id, data) VALUES (?, ?, ?, ?)"),
            (topic_id, rseq, event_id, data),
        )
        if state is not None or rseq == 1:
            self.db.execute(
                self._q(
                    "INSERT INTO report_docs (topic_id, event_id, state, compacted, head) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(topic_id) DO UPDATE SET state = excluded.state, compacted = excluded.compacted, "
                    "head = excluded.head"
                ),
                (topic_id, event_id, state or b"", rseq if state else 0, rseq),
            )
            if state is not None:
                self.db.execute(
                    self._q("DELETE FROM report_updates WHERE topic_id = ? AND rseq <= ?"), (topic_id, rseq)
                )
        else:
            self.db.execute(self._q("UPDATE report_docs SET head = ? WHERE topic_id = ?"), (rseq, topic_id))

    def put_report(self, event_id: str, report: Report) -> None:
        """The report's row with its merged text, without a change-log entry (see the module)."""
        values: dict[str, Any] = as_row(report)
        columns = [*values, "event_id"]
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in values if c != "id")
        names = ", ".join(f'"{c}"' for c in columns)
        self.db.execute(
            self._q(
                f"INSERT INTO reports ({names}) "
                f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT(id) DO UPDATE SET {updates}"
            ),
            [*values.values(), event_id],
        )
