"""A participant's commands about themselves: changing their display name, or erasing it.

Apart from rules.py (topics, spaces, slots, the event) so that neither passes 400 lines (#13);
these two act on every place the board keeps a person's name, not on one entity. The commands
stay registered in rules.COMMANDS under "me.rename" and "me.forget".
"""

from __future__ import annotations

from dataclasses import replace

from openspace.domain import merging
from openspace.domain.checks import Args, Context, bump, text
from openspace.domain.effects import NameForgotten, NameSet
from openspace.domain.errors import N_, Forbidden
from openspace.domain.model import Board, Change, Entity, Topic


def rename_me(board: Board, args: Args, ctx: Context) -> Change:
    """A participant changes their display name; their topics, merged ones too, carry the new name."""
    me = ctx.actor.participant_id
    if me is None:
        raise Forbidden(N_("Please join the event with your name first."))
    name = text(args, "name")
    old = merging.names_of(board, me) | ({ctx.actor.name} - {""})
    mine: list[Topic] = []
    for topic in board.topics.values():
        if topic.convener_id == me:
            mine.append(bump(topic, convener_name=name))
        elif me in topic.co_convener_ids.split():
            _, names = merging.renamed_co_conveners(board, topic, me, old, name)
            if names != topic.co_conveners:
                mine.append(bump(topic, co_conveners=names))
    merges = merging.renamed_in_merges(board, me, old, name)  # what undoing a merge brings back
    effects = (NameSet(me, name),)  # the name kept with their login
    return Change("participant.renamed", upserts=(*mine, *merges), result={"name": name}, effects=effects)


def forget_me(board: Board, args: Args, ctx: Context) -> Change:
    """A participant erases their name from the event: their topics stay, without the name.

    Everywhere the board keeps it: as convener, as co-convener (only their own entry, found by
    id, whatever name it was given under), in the merges' copies that undoing would bring back,
    and as the author of report versions (kept by name only, so a namesake's go too).
    """
    me = ctx.actor.participant_id
    if me is None:
        raise Forbidden(N_("Please join the event with your name first."))
    old = merging.names_of(board, me) | ({ctx.actor.name} - {""})
    changed: list[Entity] = []
    for topic in board.topics.values():
        if topic.convener_id == me:
            changed.append(bump(topic, convener_name="", convener_id=None))
        elif me in topic.co_convener_ids.split():
            ids, names = merging.renamed_co_conveners(board, topic, me, old, "")
            changed.append(bump(topic, co_convener_ids=ids, co_conveners=names))
    changed += merging.renamed_in_merges(board, me, old, "")
    changed += [replace(r, author="") for r in board.revisions.values() if r.author and r.author in old]
    forgotten = (NameSet(me, ""), NameForgotten((ctx.actor.key, f"p:{me}")))  # login; answers to renames
    return Change("participant.forgotten", upserts=tuple(changed), result={"name": ""}, effects=forgotten)
