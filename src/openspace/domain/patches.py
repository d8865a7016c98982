"""Patches proportional to what changed (issue #21, case 4).

A change carries whole entities, which the board needs. Sent as they are, one `me.rename` by the
convener of 500 topics of 2 KB each broadcast a 1.2 MB frame to every screen and logged 1.2 MB:
every description went out again to say that a name changed. `slim_patch` writes a topic the
screens already have as an *update*: its id, its status and version (so visibility is still
decided per audience), and only the fields that differ. A topic whose status changes, or that is
new, still goes whole as an upsert: a screen that did not have it needs all of it.

    {"upsert": {kind: [row, ...]}, "update": {"topics": [{"id", "status", "version", ...changed}]},
     "delete": {kind: [id, ...]}, "event": row}
"""

from __future__ import annotations

from typing import Any

from openspace.domain.model import Board, Change, apply
from openspace.domain.rows import as_row, replaced

ALWAYS = ("id", "status", "version")  # what an update carries even when unchanged


def slim_patch(board: Board, change: Change) -> dict[str, Any]:
    """`change.to_patch()`, with topics already on `board` (same status) sent as their changed fields."""
    patch = change.to_patch()
    rows = patch.get("upsert", {}).get("topics")
    if not rows:
        return patch
    whole: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row in rows:
        before = board.topics.get(row["id"])
        if before is None or before.status != row["status"]:
            whole.append(row)
            continue
        old = as_row(before)
        updates.append({k: v for k, v in row.items() if k in ALWAYS or old.get(k) != v})
    if updates:
        patch.setdefault("update", {})["topics"] = updates
        if whole:
            patch["upsert"]["topics"] = whole
        else:
            del patch["upsert"]["topics"]
            if not patch["upsert"]:
                del patch["upsert"]
    return patch


def applied(board: Board, change: Change, patch: dict[str, Any], seq: int) -> Board | None:
    """`board` after another process's change, numbered `seq`, known by its `patch` (as the bus
    carried it or the log kept it) and `change`, that patch's own `Change.from_patch`, which the
    caller has made already. A slim patch's updates are the changed fields of topics the board
    has: they are laid over those topics, which the change alone cannot do (a rename taken that
    way left the old name on another worker's board, at the new number). None when an updated
    topic is not on the board: then only the store has the board whole."""
    rows = patch.get("update", {}).get("topics", ())
    if rows:
        whole = []
        for row in rows:
            before = board.topics.get(row["id"])
            if before is None:
                return None
            whole.append(replaced(before, **{k: v for k, v in row.items() if k != "id"}))
        change = replaced(change, upserts=(*change.upserts, *whole))
    return apply(board, change, seq)
