"""What the write path hands the bus after commit, and the bus as the write path sees it.

Apart from service.py so that it stays under 400 lines (#13), and so that the bus (live/bus.py,
live/redis_bus.py) and the feed name the messages they carry without reaching into the write path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    # when it was published, right after its commit (wall clock): fan-out and bus lag are timed from it
    at: float = field(default_factory=time.time, compare=False)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something every process must act on that is not a change of the board: the event was
    deleted (its screens close for good), its facilitator link was replaced (facilitator
    screens sign in again), or a participant (`subject`) was renamed or erased their name, which
    lives with their login, not on the board (the logins kept in memory forget it, runtime.py)."""

    event_id: str
    what: Literal["deleted", "reauth", "renamed"]
    subject: str = ""


@dataclass(frozen=True, slots=True)
class DocUpdate:
    """An update of a report's shared document, after commit (cowriting.py): for the sockets
    showing that report, on whichever process they are, numbered by the report's `rseq`."""

    event_id: str
    topic_id: str
    rseq: int
    update: bytes
    by: str


@dataclass(frozen=True, slots=True)
class DocPresence:
    """Who is writing where in a report ("Eva skriver…"): never stored, passed to the report's
    other sockets on every process; `viewer` names the socket it came from, which skips it."""

    event_id: str
    topic_id: str
    who: str
    field: str
    viewer: str


Message = Committed | Notice | DocUpdate | DocPresence


class Publisher(Protocol):
    """The bus as the write path sees it (live/bus.py). Never blocks: called right after commit."""

    def publish(self, message: Message) -> None: ...

    def hear(self, message: Message) -> None:
        """Hand a change another process published to this process's listeners only, read from
        the log before the bus brought it (batching.caught_up); they take each change once."""
        ...


class Subscribable(Publisher, Protocol):
    """The bus as a listener that also publishes sees it (live/bus.py): every message from now on,
    and a call after any may have been lost (a reconnect)."""

    def subscribe(self, listener: Callable[[Message], None], resync: Callable[[], None] | None = None) -> None: ...
