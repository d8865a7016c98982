"""What each audience may see of a board or a change.

Frames are encoded once per audience, not once per client: a facilitator sees everything, the
public (participants and the projector) never sees a hidden topic's text. A topic that becomes
hidden reaches the public as a deletion, and one that is shown again as an upsert.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from .model import Board, Change

Audience = Literal["public", "facilitator"]
AUDIENCES: tuple[Audience, ...] = ("public", "facilitator")


def state_for(board: Board, audience: Audience) -> dict[str, Any]:
    state = board.to_state()
    if audience == "public":
        state["topics"] = [t for t in state["topics"] if t["status"] != "hidden"]
    return state


def patch_for(change: Change, audience: Audience) -> dict[str, Any]:
    patch = change.to_patch()
    if audience == "facilitator":
        return patch
    topics = patch.get("upsert", {}).get("topics")
    if topics:
        hidden = [t["id"] for t in topics if t["status"] == "hidden"]
        if hidden:
            patch["upsert"]["topics"] = [t for t in topics if t["status"] != "hidden"]
            if not patch["upsert"]["topics"]:
                del patch["upsert"]["topics"]
            if not patch["upsert"]:
                del patch["upsert"]
            patch.setdefault("delete", {}).setdefault("topics", []).extend(hidden)
    return patch


def change_frame(seq: int, change: Change, audience: Audience) -> str:
    return orjson.dumps(
        {"type": "change", "seq": seq, "kind": change.kind, "patch": patch_for(change, audience)}
    ).decode()


def snapshot_frame(board: Board, audience: Audience, reason: str, epoch: str) -> str:
    """`reason` says why a snapshot and not deltas: first connection, a gap past the log, a bad resume."""
    return orjson.dumps(
        {"type": "snapshot", "seq": board.seq, "epoch": epoch, "reason": reason, "state": state_for(board, audience)}
    ).decode()
