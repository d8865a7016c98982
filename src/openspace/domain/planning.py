"""Planning aids for the facilitator: hints about a cell, a score for an agenda, a suggested agenda.

Pure like rules.py: no I/O, the clock handed in by the caller (`now`, as `ctx.now` is to the
rules), and the one source of chance is a `random.Random` seeded by the caller, so the same
board, clock and seed always give the same suggestion (a preview that is accepted a moment later
is exactly what was shown).

Only open topics are planned for and counted. Hiding a topic takes it off the grid, but a hidden
topic left in a cell by an older version still holds that cell (nobody else may be put there, as
`marketplace.apply_plan` also insists); it is not happening, so its convener and its interested
people are free. Merged topics never count.

A convener is known by participant id; a topic typed in by the facilitator for someone has no
id, so the name, case-folded, stands in for the person. A merge keeps folded conveners' ids in
`co_convener_ids` but name-only ones only in `co_conveners`, so those names count too.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from openspace.domain.attendance import window
from openspace.domain.hints import Conveners, people_of
from openspace.domain.model import Board

# One person who cannot get into the room weighs as much as this many missed sessions: a room
# that is too small hurts everyone in it, a clash only the one person who has to choose.
OVERFLOW_WEIGHT = 3
# Candidate moves and swaps the local search evaluates: bounds the time whatever the board.
SEARCH_BUDGET = 20_000

Cell = tuple[str, str]  # (slot id, space id)


@dataclass(frozen=True)
class Quality:
    """How good an agenda is; lower is better in every field."""

    double_booked: int  # (convener, slot) pairs with two or more topics
    clashes: int  # sum over people and slots of (topics they want in that slot - 1)
    overflow: int  # sum over placed topics of the people who want to come beyond the room's capacity
    missed: int = 0  # interest marks nobody can honour: clashes, plus every mark on an unplaced topic

    # "missed" is the fair yardstick when there are more topics than cells: placing the most
    # wanted topics raises clashes (more people to collide) but lets far fewer people down.


# --- scoring ---------------------------------------------------------------------------------


def quality(board: Board, placement: dict[str, tuple[str, str]] | None = None) -> Quality:
    """Score the open topics' placements on the board, or with `placement` applied on top."""
    cells: dict[str, Cell] = {
        t.id: (t.slot_id, t.space_id) for t in board.topics.values() if t.slot_id is not None and t.space_id is not None
    }
    cells.update(placement or {})
    conveners, people = Conveners(board), people_of(board)
    booked: Counter[tuple[str, str]] = Counter()
    marked: Counter[tuple[str, str]] = Counter()
    overflow = 0
    for topic_id, (slot_id, space_id) in cells.items():
        topic = board.topics.get(topic_id)
        space = board.spaces.get(space_id)
        if topic is None or topic.status != "open" or space is None or slot_id not in board.slots:
            continue
        booked.update((key, slot_id) for key in conveners.keys[topic.id])
        marked.update((pid, slot_id) for pid in people.get(topic.id, ()))
        if space.capacity is not None:
            overflow += max(0, topic.interest - space.capacity)
    clashes = sum(n - 1 for n in marked.values())
    left_out = sum(
        len(people.get(t.id, ()))
        for t in board.topics.values()
        if t.status == "open" and t.id not in placed_ids(cells, board)
    )
    return Quality(
        double_booked=sum(1 for n in booked.values() if n > 1),
        clashes=clashes,
        overflow=overflow,
        missed=clashes + left_out,
    )


def placed_ids(cells: dict[str, Cell], board: Board) -> set[str]:
    return {t for t, (slot, space) in cells.items() if slot in board.slots and space in board.spaces}


# --- suggesting an agenda --------------------------------------------------------------------


def suggest(
    board: Board, *, replace_unpinned: bool = False, seed: int = 0, now: str | None = None
) -> dict[str, tuple[str, str]]:
    """Suggest cells for the open topics that have none (and, if asked, re-place every unpinned
    placed one): topic id -> (slot id, space id), only for topics that would get a new cell.

    Never puts a convener into two topics in one slot: a topic that cannot go anywhere without
    that stays unplaced. Rooms that fit their crowd weigh most, then few clashes for people.
    A topic that has a cell keeps having one (the result cannot say "unplace"), so when there are
    more topics than cells, the unplaced topics with the most interest get the free cells.
    Pinned and hidden topics, and placed ones unless `replace_unpinned`, stay where they are.

    With `now` (UTC, ISO 8601), slots that have started by then are history or under way: nothing
    is put into them and nothing in them moves, since nobody can go back in time or be moved
    out of a session they are sitting in.
    """
    return _Planner(board, replace_unpinned, seed, started_slots(board, now)).run()


def started_slots(board: Board, now: str | None) -> set[str]:
    """The slots whose start, in the event's time zone, is not after `now` (none without a clock)."""
    if now is None:
        return set()
    instant = datetime.fromisoformat(now)
    return {slot.id for slot in board.slots.values() if window(board.event, slot)[0] <= instant}


class _Planner:
    """Greedy placement, big topics first, then a bounded hill-climb over moves and swaps.

    Who wants to come to each topic is an int bitmask over people. Per slot the planner keeps the
    union of its topics' masks and the mask of people wanted by two or more of them, so the
    clashes a topic adds to a slot, `popcount(its people & union)`, and the union without one
    of its topics, `(union & ~mine) | (mine & twice)`, cost a few big-int operations whatever the
    size of the board. (The sum of max(0, k - 1) over people in a slot is the sum of its topics'
    sizes minus the size of their union, so adding a topic adds exactly that popcount.)
    """

    def __init__(self, board: Board, replace_unpinned: bool, seed: int, started: set[str] | None = None) -> None:
        self.random = random.Random(seed)
        self.slots = [s.id for s in board.session_slots()]  # never into a break (#15)
        self.started = {i for i, s in enumerate(self.slots) if s in (started or set())}
        spaces = board.ordered_spaces()
        self.spaces = [s.id for s in spaces]
        self.capacity = [s.capacity for s in spaces]
        slot_index = {s: i for i, s in enumerate(self.slots)}
        space_index = {s: i for i, s in enumerate(self.spaces)}
        conveners, people = Conveners(board), people_of(board)
        everyone = sorted({pid for wanted in people.values() for pid in wanted})
        bit = {pid: 1 << i for i, pid in enumerate(everyone)}

        self.topics = [t for t in board.ordered_topics() if t.status != "merged"]
        self.mask = [sum(bit[p] for p in people.get(t.id, ())) for t in self.topics]
        self.keys = [conveners.keys[t.id] for t in self.topics]
        self.over = [
            [0 if s.capacity is None else OVERFLOW_WEIGHT * max(0, t.interest - s.capacity) for s in spaces]
            for t in self.topics
        ]
        self.cell: list[tuple[int, int] | None] = [None] * len(self.topics)
        self.occupant: list[list[int | None]] = [[None] * len(spaces) for _ in self.slots]
        self.free = [len(spaces)] * len(self.slots)
        self.members: list[list[int]] = [[] for _ in self.slots]  # open topics in each slot
        self.union = [0] * len(self.slots)
        self.twice = [0] * len(self.slots)
        self.booked: list[Counter[str]] = [Counter() for _ in self.slots]

        self.movable: list[int] = []
        self.before: dict[int, tuple[int, int]] = {}  # movable topics' cells on the board
        for i, topic in enumerate(self.topics):
            where = None
            if topic.slot_id in slot_index and topic.space_id in space_index:
                where = (slot_index[topic.slot_id], space_index[topic.space_id])
            may_leave = where is None or (replace_unpinned and where[0] not in self.started)
            if topic.status == "open" and not topic.pinned and may_leave:
                self.movable.append(i)
                if where is not None:
                    self.before[i] = where
            elif where is not None:
                self.put(i, where)

    # -- the state --

    def put(self, i: int, where: tuple[int, int]) -> None:
        slot, space = where
        self.cell[i] = where
        if self.occupant[slot][space] is None:
            self.free[slot] -= 1
        self.occupant[slot][space] = i
        if self.topics[i].status == "open":
            self.members[slot].append(i)
            self.twice[slot] |= self.union[slot] & self.mask[i]
            self.union[slot] |= self.mask[i]
            self.booked[slot].update(self.keys[i])

    def take(self, i: int) -> None:
        where = self.cell[i]
        assert where is not None
        slot, space = where
        self.cell[i] = None
        self.occupant[slot][space] = None
        self.free[slot] += 1
        if self.topics[i].status == "open":
            self.members[slot].remove(i)
            self.booked[slot].subtract(self.keys[i])
            self.union[slot] = self.twice[slot] = 0
            for j in self.members[slot]:
                self.twice[slot] |= self.union[slot] & self.mask[j]
                self.union[slot] |= self.mask[j]

    def without(self, slot: int, i: int) -> int:
        """The union of the slot's people if topic i (which is there) were not."""
        mine = self.mask[i]
        return (self.union[slot] & ~mine) | (mine & self.twice[slot])

    def free_for(self, i: int, slot: int, leaving: int | None = None) -> bool:
        """No convener of topic i is busy in the slot (counting `leaving` as gone)."""
        gone = self.keys[leaving] if leaving is not None else frozenset()
        booked = self.booked[slot]
        return all(booked[k] - (k in gone) <= 0 for k in self.keys[i])

    # -- the search --

    def run(self) -> dict[str, tuple[str, str]]:
        if not self.slots or not self.spaces:
            return {}
        by_interest = sorted(self.movable, key=lambda i: (-self.topics[i].interest, i))
        placed_before = [i for i in by_interest if i in self.before]
        if not self.greedy(placed_before):
            # they had cells and greedy painted itself into a corner: start from their cells instead
            for i in placed_before:
                if self.cell[i] is not None:
                    self.take(i)
            for i in placed_before:
                self.put(i, self.before[i])
        self.greedy([i for i in by_interest if i not in self.before])
        self.climb()
        self.greedy([i for i in by_interest if self.cell[i] is None])
        result: dict[str, tuple[str, str]] = {}
        for i in self.movable:
            where = self.cell[i]
            if where is not None and where != self.before.get(i):
                result[self.topics[i].id] = (self.slots[where[0]], self.spaces[where[1]])
        return result

    def greedy(self, order: Iterable[int]) -> bool:
        """Put each topic into the free cell that costs least now; False if one found none.

        Within a slot the room is the least overflowing, then the smallest that holds the crowd,
        so with the biggest topics first the big rooms go to big topics and small rooms are not
        wasted on them (a room without a capacity counts as the biggest).
        """
        everything = True
        for i in order:
            over = self.over[i]
            rooms = sorted(
                range(len(self.spaces)), key=lambda r: (over[r], self.capacity[r] is None, self.capacity[r] or 0)
            )
            rank = {room: n for n, room in enumerate(rooms)}
            best: tuple[int, int, int, int] | None = None  # (cost, room rank, slot, room)
            for slot in range(len(self.slots)):
                if not self.free[slot] or slot in self.started or not self.free_for(i, slot):
                    continue
                room = next(r for r in rooms if self.occupant[slot][r] is None)
                option = (over[room] + (self.mask[i] & self.union[slot]).bit_count(), rank[room], slot, room)
                if best is None or option < best:
                    best = option
            if best is None:
                everything = False
            else:
                self.put(i, (best[2], best[3]))
        return everything

    def climb(self) -> None:
        """Try random moves into free cells and swaps of two movable topics; keep what is no worse.

        Accepting equal cost lets the search drift across plateaus; the budget bounds the time.
        """
        movable = [i for i in self.movable if self.cell[i] is not None]
        if not movable:
            return
        is_movable = set(movable)
        over, mask = self.over, self.mask
        n_spaces = len(self.spaces)
        n_cells = len(self.slots) * n_spaces
        for _ in range(SEARCH_BUDGET):
            i = movable[self.random.randrange(len(movable))]
            slot2, space2 = divmod(self.random.randrange(n_cells), n_spaces)
            if slot2 in self.started:
                continue
            where = self.cell[i]
            assert where is not None
            slot1, space1 = where
            j = self.occupant[slot2][space2]
            if j == i or (j is not None and j not in is_movable):
                continue
            if j is None:  # a move into a free cell
                delta = over[i][space2] - over[i][space1]
                if slot1 != slot2:
                    if not self.free_for(i, slot2):
                        continue
                    delta += (mask[i] & self.union[slot2]).bit_count() - (mask[i] & self.without(slot1, i)).bit_count()
                if delta <= 0:
                    self.take(i)
                    self.put(i, (slot2, space2))
                continue
            delta = over[i][space2] + over[j][space1] - over[i][space1] - over[j][space2]
            if slot1 != slot2:
                if not self.free_for(i, slot2, leaving=j) or not self.free_for(j, slot1, leaving=i):
                    continue
                rest1, rest2 = self.without(slot1, i), self.without(slot2, j)
                delta += (
                    (mask[j] & rest1).bit_count()
                    + (mask[i] & rest2).bit_count()
                    - (mask[i] & rest1).bit_count()
                    - (mask[j] & rest2).bit_count()
                )
            if delta <= 0:
                self.take(i)
                self.take(j)
                self.put(i, (slot2, space2))
                self.put(j, (slot1, space1))
