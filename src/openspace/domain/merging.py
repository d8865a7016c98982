"""Merging duplicate topics, undoing a merge, and the names a merge keeps.

Pure like rules.py. A merge keeps the folded topics on the board (status `merged`) and a record
of everything it changed, so that it can be undone exactly, and so that renaming or erasing a
name reaches the copies it holds.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import orjson

from openspace.domain.attendance import vacate
from openspace.domain.checks import Args, Context, Rule, bump, ref, require_facilitator, text
from openspace.domain.errors import N_, Conflict, Invalid
from openspace.domain.harvest import rows_of
from openspace.domain.marketplace import open_topic
from openspace.domain.model import Board, Change, Entity, EntityKind, Interest, Merge, Topic

MAX_MERGE = 10


# --- merging duplicates ----------------------------------------------------------------------


def merge(board: Board, args: Args, ctx: Context) -> Change:
    """Fold duplicates into one topic, kept undoable.

    The kept topic takes the chosen title and description; the others' conveners become its
    co-conveners; everyone interested in any of them is interested in it once; unless it is
    placed already, it takes the earliest place in the pitch queue any of them had.
    """
    require_facilitator(ctx)
    into = open_topic(board, {"topic": args.get("into")})
    ids = [i for i in str(args.get("topics", "")).replace(",", " ").split() if i != into.id]
    if not ids:
        raise Invalid(N_("Choose at least one other topic to merge into this one."), field="topics")
    if len(ids) > MAX_MERGE:
        raise Invalid(N_("Merge at most %(max)s topics at a time."), field="topics", max=MAX_MERGE)
    others = [open_topic(board, {"topic": i}) for i in dict.fromkeys(ids)]
    title = text(args, "title")
    description = text(args, "description", required=False)
    people: dict[str, str] = {}  # participant id -> name, the kept topic's own convener first
    names: list[str] = []
    for topic in (into, *others):
        for pid in [topic.convener_id, *topic.co_convener_ids.split()]:
            if pid and pid != into.convener_id:
                people.setdefault(pid, "")
        for name in [topic.convener_name, *topic.co_conveners.split(", ")]:
            if name and name != into.convener_name and name not in names:
                names.append(name)
    folded = {t.id for t in others}
    moved = [i for i in board.interests.values() if i.topic_id in folded]
    keep_people = board.interested(into.id)
    new_rows = {
        f"{into.id}|{i.participant_id}": Interest(f"{into.id}|{i.participant_id}", into.id, i.participant_id)
        for i in moved
        if i.participant_id not in keep_people
    }
    record = Merge(
        id=ctx.new_id(),
        into=into.id,
        merged=" ".join(t.id for t in others),
        before=orjson.dumps(
            {
                "into": asdict(into),
                "topics": [asdict(t) for t in others],
                "interests": [asdict(i) for i in moved],
                "added": sorted(new_rows),  # the marks the merge copied onto the kept topic
            }
        ).decode(),
    )
    kept = bump(
        into,
        title=title,
        description=description,
        co_convener_ids=" ".join(people),
        co_conveners=", ".join(names),
        interest=len(keep_people) + len(new_rows),
        # a placed topic has been pitched (as after_placing says): a queued duplicate gives it no place
        queued_seq=None if into.placed else into.queued_seq if into.queued_seq is not None else min_queue(others),
    )
    gone: list[Topic] = []
    ended: list[tuple[EntityKind, str]] = []
    for topic in others:  # folded away, its session is not happening: its check-ins end
        folded_topic, rows = vacate(board, bump(topic, status="merged", slot_id=None, space_id=None, queued_seq=None))
        gone.append(folded_topic)
        ended.extend(rows)
    upserts: tuple[Entity, ...] = (kept, *gone, *new_rows.values(), record)
    deletes: tuple[tuple[EntityKind, str], ...] = (*(("interests", i.id) for i in moved), *ended)
    event = replace(board.event, spotlight=None) if board.event.spotlight in folded else None
    return Change("topic.merged", upserts=upserts, deletes=deletes, event=event, result={"merge": record.id})


def min_queue(topics: list[Topic]) -> int | None:
    queued = [t.queued_seq for t in topics if t.queued_seq is not None]
    return min(queued) if queued else None


def unmerge(board: Board, args: Args, ctx: Context) -> Change:
    """Undo a merge: the folded topics and everyone's interest marks come back as they were.

    The kept topic gets its old title, description and conveners back but stays where it is now;
    a folded topic returns to its old cell only if that cell is still free.
    """
    require_facilitator(ctx)
    record: Merge = ref(board, {"merge": args.get("merge")}, "merge", "merges")
    before = orjson.loads(record.before)
    current = board.topics.get(record.into)
    folded = [Topic(**t) for t in before["topics"]]
    if current is None or any(board.topics.get(t.id, t).status != "merged" for t in folded):
        raise Conflict(N_("This merge can no longer be undone: a merged topic has changed since."))
    old = Topic(**before["into"])
    added = set(before["added"]) & set(board.interests)
    kept_marks = [i for i in board.interests.values() if i.topic_id == current.id and i.id not in added]
    kept = bump(
        current,
        title=old.title,
        description=old.description,
        co_convener_ids=old.co_convener_ids,
        co_conveners=old.co_conveners,
        interest=len(kept_marks),
    )
    occupied = {(t.slot_id, t.space_id) for t in board.topics.values() if t.placed and t.status != "merged"}
    occupied.add((kept.slot_id, kept.space_id))
    restored, ended = bring_back(board, before, occupied)
    upserts: tuple[Entity, ...] = (kept, *restored)
    deletes: tuple[tuple[EntityKind, str], ...] = (
        ("merges", record.id),
        *(("interests", i) for i in sorted(added)),
        *ended,
    )
    return Change("topic.unmerged", upserts=upserts, deletes=deletes)


def bring_back(
    board: Board, before: dict[str, Any], occupied: set[tuple[str | None, str | None]]
) -> tuple[list[Entity], list[tuple[EntityKind, str]]]:
    """The topics a merge folded away, as they were, with their interest marks and harvest.

    Each returns to its old cell if that is still free (`occupied` is updated), else off the
    grid. Its check-ins ended when it was folded, so it comes back with nobody checked in.
    """
    marks = [Interest(**i) for i in before["interests"]]
    restored: list[Entity] = []
    ended: list[tuple[EntityKind, str]] = []
    for row in before["topics"]:
        topic = Topic(**row)
        free = (topic.slot_id, topic.space_id) not in occupied
        cell = {"slot_id": topic.slot_id, "space_id": topic.space_id} if free else {"slot_id": None, "space_id": None}
        occupied.add((cell["slot_id"], cell["space_id"]))
        count = len([m for m in marks if m.topic_id == topic.id])
        version = board.topics[topic.id].version + 1
        restored.append(replace(topic, version=version, interest=count, headcount=0, **cell))
        restored.extend(rows_of(board, topic.id))  # its report and photos, unseen while it was folded
        ended.extend(("attendance", a.id) for a in board.attendance.values() if a.topic_id == topic.id)
    return [*restored, *marks], ended


def release_folded(board: Board, kept: Topic) -> tuple[list[Entity], list[tuple[EntityKind, str]]]:
    """Before a kept topic goes (withdrawn), every merge into it is undone, so the topics folded
    into it come back to their conveners instead of staying merged, and unseen, for good.

    A merge that can no longer be undone (a folded topic changed since) is only forgotten. The
    marks the merge copied onto the kept topic go with it, as all of its marks do.
    """
    upserts: list[Entity] = []
    deletes: list[tuple[EntityKind, str]] = []
    # the kept topic's own cell counts as taken: its row goes only after the others are written
    occupied = {(t.slot_id, t.space_id) for t in board.topics.values() if t.placed and t.status != "merged"}
    for record in sorted(board.merges.values(), key=lambda m: m.id):
        if record.into != kept.id:
            continue
        deletes.append(("merges", record.id))
        before = orjson.loads(record.before)
        still = [board.topics.get(t["id"]) for t in before["topics"]]
        if all(t is not None and t.status == "merged" for t in still):
            restored, ended = bring_back(board, before, occupied)
            upserts.extend(restored)
            deletes.extend(ended)
    return upserts, deletes


# --- names on merged topics ------------------------------------------------------------------
#
# A merge shows its co-conveners as one string of names (`co_conveners`), which cannot say whose
# name is whose. Who is whose is found from the topics themselves: a folded topic stays on the
# board, merged, with its `convener_id` and a name that renaming keeps current; a name-only
# convener (a paper sheet) is a folded topic without an id. Merges can nest, so the search
# follows merge records down.


def folded_into(board: Board, topic_id: str) -> list[Topic]:
    """Every topic folded into this one, directly or through earlier merges."""
    found: list[Topic] = []
    todo, seen = [topic_id], {topic_id}
    while todo:
        into = todo.pop()
        for record in board.merges.values():
            if record.into == into:
                for folded_id in record.merged.split():
                    if folded_id not in seen and (topic := board.topics.get(folded_id)) is not None:
                        seen.add(folded_id)
                        found.append(topic)
                        todo.append(folded_id)
    return found


def names_of(board: Board, person: str) -> set[str]:
    """Every name this person is shown under on this board: on their topics, and in what the
    merges kept of topics as they were (a name given before a rename)."""
    names = {t.convener_name for t in board.topics.values() if t.convener_id == person}
    for record in board.merges.values():
        before = orjson.loads(record.before)
        for row in (before["into"], *before["topics"]):
            if row.get("convener_id") == person:
                names.add(row.get("convener_name", ""))
    return {name for name in names if name}


def renamed_co_conveners(
    board: Board, topic: Topic | dict[str, Any], person: str, old: set[str], new: str
) -> tuple[str, str]:
    """`co_convener_ids` and `co_conveners` of a topic (or a merge's copy of one) once `person`
    is shown as `new`, or, with `new` empty, is gone from them.

    A name of theirs is dropped only if nobody else on the topic is shown under it: two
    co-conveners called Lisa share one "Lisa", which stays while either remains.
    """
    row = topic if isinstance(topic, dict) else asdict(topic)
    ids = [i for i in str(row.get("co_convener_ids", "")).split() if i != person or new]
    convener = str(row.get("convener_name", ""))
    others = {convener}
    named = {t.convener_id: t.convener_name for t in board.topics.values() if t.convener_id}
    others |= {named[i] for i in ids if i != person and i in named}
    if isinstance(topic, Topic):
        others |= {t.convener_name for t in folded_into(board, topic.id) if t.convener_id is None}
    names = [n for n in str(row.get("co_conveners", "")).split(", ") if n and (n not in old or n in others)]
    if new and new not in names and new != convener:
        names.append(new)
    return " ".join(ids), ", ".join(names)


def renamed_in_merges(board: Board, person: str, old: set[str], new: str) -> list[Merge]:
    """The merge records with this person shown as `new` (or, with `new` empty, their name and
    id taken out) in the topics they keep, so undoing a merge later brings back neither an old
    name nor one its owner erased."""
    changed = []
    for record in board.merges.values():
        before = orjson.loads(record.before)
        touched = False
        for row in (before["into"], *before["topics"]):
            if row.get("convener_id") == person:
                touched = touched or not new or row.get("convener_name") != new
                row["convener_id"], row["convener_name"] = (person if new else None), new
            if person in str(row.get("co_convener_ids", "")).split():
                ids, names = renamed_co_conveners(board, row, person, old, new)
                touched = touched or (ids, names) != (row.get("co_convener_ids"), row.get("co_conveners"))
                row["co_convener_ids"], row["co_conveners"] = ids, names
        if touched:
            changed.append(replace(record, before=orjson.dumps(before).decode()))
    return changed


COMMANDS: dict[str, Rule] = {
    "topic.merge": merge,
    "topic.unmerge": unmerge,
}
