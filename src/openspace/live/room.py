"""The sockets of one event on this process, in the order a fan-out writes to them.

A fan-out writes one frame to thousands of sockets one after another, so the last socket written
waits for every one before it. In a plain set that order is arbitrary: one client address holding
hundreds of sockets (a script opening as many as its limit allows, issue #21 case 3) has them
spread through it, and every honest phone after one of them waits for its write. So a room groups
its sockets by client address and writes to the groups smallest first, each in the order its
sockets came: an address holding many sockets is written to after everyone else, and what it holds
costs the server but delays nobody. A hall behind one NAT is one large group, and the few people
following from elsewhere are written to before it: a few ms sooner for them, and for the hall the
same wait as under any other order, since it is most of the room.

The order is worked out when the room's membership has changed and a fan-out asks for it, not per
change: a fan-out iterates the list it was given, and a socket arriving meanwhile makes a new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar


class Member(Protocol):
    address: str  # the client address the socket came from (limits.py: the proxy's, or the peer's)


M = TypeVar("M", bound=Member)


class Room(Generic[M]):
    __slots__ = ("_groups", "_order", "_size")

    def __init__(self) -> None:
        self._groups: dict[str, dict[M, None]] = {}  # address → its sockets, in the order they came
        self._order: list[M] | None = None
        self._size = 0

    def add(self, member: M) -> None:
        group = self._groups.setdefault(member.address, {})
        if member not in group:
            group[member] = None
            self._size += 1
            self._order = None

    def discard(self, member: M) -> None:
        group = self._groups.get(member.address)
        if group is None or member not in group:
            return
        del group[member]
        if not group:
            del self._groups[member.address]
        self._size -= 1
        self._order = None

    def order(self) -> list[M]:
        """Smallest address first (sorted is stable: equal ones keep the order they came in)."""
        if self._order is None:
            self._order = [m for group in sorted(self._groups.values(), key=len) for m in group]
        return self._order

    def __iter__(self) -> Iterator[M]:
        return iter(self.order())

    def __len__(self) -> int:
        return self._size
