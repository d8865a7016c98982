"""What the write path hands the bus after commit, and the bus as the write path sees it.

Apart from service.py so that it stays under 400 lines (#13), and so that the bus (live/bus.py,
live/redis_bus.py) and the feed name the messages they carry without reaching into the write path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from openspace.domain.model import Change


@dataclass(frozen=True, slots=True)
class Committed:
    """A change as the write path publishes it after commit: its event, sequence number and patch
    (the one the change log stored), for the bus to carry to every process."""

    event_id: str
    seq: int
    change: Change
    patch: dict[str, Any]
    at: float = 0.0  # when it committed (wall clock, time.time()): fan-out and bus lag are timed from it


@dataclass(frozen=True, slots=True)
class Notice:
    """Something every process must act on that is not a change of the board: the event was
    deleted (its screens close for good), or its facilitator link was replaced (facilitator
    screens sign in again)."""

    event_id: str
    what: Literal["deleted", "reauth"]


Message = Committed | Notice


class Publisher(Protocol):
    """The bus as the write path sees it (live/bus.py). Never blocks: called right after commit."""

    def publish(self, message: Message) -> None: ...
