"""What each audience may see of a board or a change.

Frames are encoded once per audience, not once per client: a facilitator sees everything, the
public (participants and the projector) never sees a hidden topic's text. A topic that becomes
hidden reaches the public as a deletion, and one that is shown again as an upsert.

What hangs off a topic (its report, photos and action items) is as hidden as the topic itself.
A change is projected on its own, without a board (the change log is replayed to clients that
catch up), so the harvest's rules put the topic row into every change that writes such a row:
the topic's status in the same patch says who may see it. A harvest row whose topic is not in
its change is withheld from the public, so a rule that forgets the topic leaks nothing. Rows a
client already has when their topic is hidden stay in its memory, unseen: every page draws only
the rows of topics it has.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import orjson

from openspace.domain.model import Board, Change

Audience = Literal["public", "facilitator"]
AUDIENCES: tuple[Audience, ...] = ("public", "facilitator")


# who wants to go, who is where, who gave which dot: counts only, never names; revisions are
# history for merging and restoring, fetched by pages, too heavy to push to every phone
PRIVATE_KINDS = {"interests", "attendance", "votes", "revisions"}
FACILITATOR_KINDS = {"merges"}  # kept for undo
# rows that belong to a topic (by `topic_id`; a report's id is its topic's id)
HARVEST_KINDS = ("reports", "photos", "actions")
PARTS = ("upsert", "update", "delete")  # a patch's parts; its other keys go to every audience as they are


def hidden_statuses(audience: Audience) -> set[str]:
    return {"merged"} if audience == "facilitator" else {"merged", "hidden"}


def withheld(audience: Audience) -> set[str]:
    return PRIVATE_KINDS | (set() if audience == "facilitator" else FACILITATOR_KINDS)


def owner(kind: str, row: dict[str, Any]) -> str:
    """The topic a harvest row belongs to."""
    return str(row["id"] if kind == "reports" else row["topic_id"])


def state_for(board: Board, audience: Audience) -> dict[str, Any]:
    state = board.to_state(leave_out=frozenset(withheld(audience)))
    hidden = hidden_statuses(audience)
    state["topics"] = [t for t in state["topics"] if t["status"] not in hidden]
    seen = {t["id"] for t in state["topics"]}
    for kind in HARVEST_KINDS:
        state[kind] = [row for row in state[kind] if owner(kind, row) in seen]
    return state


def patch_for(change: Change, audience: Audience, full: dict[str, Any] | None = None) -> dict[str, Any]:
    """The change as this audience sees it: withheld kinds dropped, hidden topics as deletions,
    and the harvest rows of a topic this audience may not see left out. `full` is the change's
    own patch when the caller has it already (it is left as it is; its rows are shared)."""
    full = change.to_patch() if full is None else full
    patch = {key: value for key, value in full.items() if key not in PARTS}
    upsert = patch["upsert"] = {kind: list(rows) for kind, rows in full.get("upsert", {}).items()}
    update = patch["update"] = {kind: list(rows) for kind, rows in full.get("update", {}).items()}
    delete = patch["delete"] = {kind: list(ids) for kind, ids in full.get("delete", {}).items()}
    for kind in withheld(audience):
        upsert.pop(kind, None)
        update.pop(kind, None)
        delete.pop(kind, None)
    hidden = hidden_statuses(audience)
    topics = upsert.get("topics") or []
    updated = update.get("topics") or []  # slim rows of topics the screens have (patches.py)
    status = {t["id"]: t["status"] for t in (*topics, *updated)}
    gone = [t["id"] for t in (*topics, *updated) if t["status"] in hidden]
    if gone:
        upsert["topics"] = [t for t in topics if t["status"] not in hidden]
        update["topics"] = [t for t in updated if t["status"] not in hidden]
        delete.setdefault("topics", []).extend(gone)
    for kind in HARVEST_KINDS:
        if kind in upsert:
            upsert[kind] = [row for row in upsert[kind] if visible(status.get(owner(kind, row)), audience)]
    for part, key in ((upsert, "upsert"), (update, "update"), (delete, "delete")):
        for kind in [k for k, rows in part.items() if not rows]:
            del part[kind]
        if not part:
            patch.pop(key, None)
    return patch


def visible(status: str | None, audience: Audience) -> bool:
    """Whether a harvest row may go out, given its topic's status in the same change (None: the
    topic is not in it). Only the facilitator gets rows whose topic the change does not show."""
    if status is None:
        return audience == "facilitator"
    return status not in hidden_statuses(audience)


def framed(seq: int, kind: str, patch: dict[str, Any]) -> str:
    """The one shape of a change's frame on the socket (docs/protocol.md)."""
    return orjson.dumps({"type": "change", "seq": seq, "kind": kind, "patch": patch}).decode()


def change_frame(seq: int, change: Change, audience: Audience, full: dict[str, Any] | None = None) -> str:
    """The change's frame for one audience (a catch-up read from the log: live/catchup.py)."""
    full = change.to_patch() if full is None else full
    return framed(seq, change.kind, full if seen_alike(full) else patch_for(change, audience, full))


def change_frames(seq: int, change: Change, full: dict[str, Any]) -> dict[Audience, str]:
    """The change's frame for every audience, from its one patch (the one the log stored).

    Most changes hold nothing that any audience may not see (a topic proposed, edited or moved):
    then every audience's patch is the same, and one frame serves them all. Each worker
    builds these for every change of its events, so that was half of it (issue #17). Such a
    patch is also every audience's as it is, so it is framed without `patch_for`'s copy of each
    part (that copy was half of the one frame's cost); only its keys' order may differ."""
    if seen_alike(full):
        return dict.fromkeys(AUDIENCES, framed(seq, change.kind, full))
    return {audience: framed(seq, change.kind, patch_for(change, audience, full)) for audience in AUDIENCES}


UNSEEN_KINDS = PRIVATE_KINDS | FACILITATOR_KINDS
UNSEEN_STATUSES = hidden_statuses("public") | hidden_statuses("facilitator")


def seen_alike(full: dict[str, Any]) -> bool:
    """Whether `patch_for` leaves `full` the same for every audience: no kind any audience is
    denied, no topic any audience does not see, no harvest row (its topic decides who sees it),
    nothing empty (dropped)."""
    for key in PARTS:
        part = full.get(key)
        if part is None:
            continue
        if not part or any(kind in UNSEEN_KINDS or not rows for kind, rows in part.items()):
            return False
    upsert = full.get("upsert") or {}
    if any(kind in upsert for kind in HARVEST_KINDS):
        return False
    topics = (*upsert.get("topics", ()), *(full.get("update") or {}).get("topics", ()))
    return not any(topic["status"] in UNSEEN_STATUSES for topic in topics)


def snapshot_frame(board: Board, audience: Audience, reason: str, epoch: str) -> str:
    """`reason` says why a snapshot and not deltas: first connection, a gap past the log, a bad resume."""
    return orjson.dumps(
        {"type": "snapshot", "seq": board.seq, "epoch": epoch, "reason": reason, "state": state_for(board, audience)}
    ).decode()


def public_board(board: Board) -> Board:
    """The board as the public may have it whole (published exports): no hidden or folded topics,
    nor anything hanging off them."""
    gone = {t.id for t in board.topics.values() if t.status != "open"}
    return replace(
        board,
        topics={k: t for k, t in board.topics.items() if k not in gone},
        reports={k: r for k, r in board.reports.items() if k not in gone},
        photos={k: p for k, p in board.photos.items() if p.topic_id not in gone},
        actions={k: a for k, a in board.actions.items() if a.topic_id not in gone},
    )
