"""The interfaces between the app and its database: `Store` (reads, and one way to write) and
`Transaction` (what a unit of work may do while it holds the write).

Everything outside `store/` speaks to these two Protocols only, so a second store (PostgreSQL, for
several worker processes) plugs in behind `store.open_store(url)` without touching the rules, the
service or the pages. The SQLite store (store/sqlite.py) is the one in use; tests/store/
test_contract.py holds the behaviour every store must share, and is parametrised by store.

The rules a store must keep, which the Protocols alone cannot say:

- `Store.write(work)` runs `work(tx)` in one transaction: all of it commits, or none of it does,
  and the result comes back only after the commit is durable.
- Before a transaction assigns a sequence number to an event's change, it calls
  `tx.lock_event(event_id)`. That takes the event's write lock for the rest of the transaction
  and returns the event's head sequence number as committed. A store with row locks
  (`SELECT … FOR UPDATE` on the event's row) thus serialises writers per event, so sequence
  numbers stay gap-free and commit in order; SQLite has one writer anyway, so its lock is a read.
  `tx.apply` refuses an event that the transaction has not locked.
- Reads (`Store.load_board`, `patches_since`, …) see committed data only, each read whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from openspace.domain.effects import Effect
from openspace.domain.model import Board, Change, Event, Report

if TYPE_CHECKING:
    from openspace.store.outbound import Outbound

T = TypeVar("T")


@dataclass(frozen=True)
class Asked:
    """A batch's questions to the store, asked at once before its jobs run (batching.ask_ahead)."""

    events: list[str] = field(default_factory=list)  # to lock, in this order
    actions: list[tuple[str, str, str]] = field(default_factory=list)  # (event, actor, action id): applied?
    participants: list[str] = field(default_factory=list)  # whose current names
    since: dict[str, int] = field(default_factory=dict)  # event -> cached board's seq: the log after it
    wait: frozenset[str] = frozenset()  # events waited for even if another process holds them
    # the transaction holds locks already (a second try, batching.ask_ahead): wait for none, not
    # even one event alone, or two workers could each hold what the other waits for
    only_try: bool = False


# changes a cached board may be behind its event and still be brought up from the log, not read
# whole (batching.caught_up); PostgreSQL reads that much of the log ahead for a batch (pg_ahead.py)
CATCH_UP = 32


class StoreError(Exception):
    """A store refused an operation for a reason the person can act on (a message, no traceback):
    a file that is not an openspace database, a target that already exists, an unknown URL."""


class ReportDocRow:
    """A report's stored document: its compacted state, the updates after it, the last `rseq`."""

    __slots__ = ("head", "state", "tail")

    def __init__(self, state: bytes, tail: list[bytes], head: int) -> None:
        self.state, self.tail, self.head = state, tail, head


class Transaction(Protocol):
    """The writes one transaction may make. Only the service's single writer holds one, on the
    store's own thread, so these are plain calls: no awaiting between statements."""

    def lock_event(self, event_id: str) -> int:
        """Take the event's write lock for this transaction; its head sequence number (0 if none)."""
        ...

    def prepare(self, asked: Asked) -> set[str]:
        """Before a batch's jobs run: lock its events and read ahead what its jobs will ask,
        where each such question would cost a round trip (batching.py). The answers stay the
        transaction's own: a later write through it updates them. The events another process
        holds locked are not waited for, except those in `asked.wait`: they are returned, and
        the batch leaves their jobs to the next one."""
        ...

    def load_board(self, event_id: str) -> Board | None: ...

    def patches_since(self, event_id: str, since: int, until: int) -> list[tuple[int, str, Any]] | None:
        """`Store.patches_since`, read within this transaction."""
        ...

    def apply(self, event_id: str, seq: int, change: Change, patch: dict[str, Any]) -> None:
        """Write a change's rows, its change-log entry `patch` at `seq`, and the event's new head.
        The event must have been locked by `lock_event` in this transaction."""
        ...

    def apply_effects(self, event_id: str, effects: tuple[Effect, ...]) -> None:
        """Write what a change does beyond the board (a participant's name): effects the store
        keeps. Effects on files are not the store's; the service applies them after commit."""
        ...

    def applied_result(self, event_id: str, actor: str, action_id: str) -> dict[str, Any] | None: ...
    def record_action(self, event_id: str, actor: str, action_id: str, result: dict[str, Any]) -> None: ...
    def insert_event(self, event: Event, secret_hash: str) -> None: ...
    def insert_participant(self, participant_id: str, event_id: str, name: str, token_hash: str) -> None: ...
    def participant_name(self, participant_id: str) -> str | None: ...
    def insert_facilitator_session(self, token_hash: str, event_id: str) -> None: ...
    def delete_event(self, event_id: str) -> None: ...
    def replace_facilitator_secret(self, event_id: str, secret_hash: str) -> None: ...
    @property
    def outbound(self) -> Outbound:
        """The outward tables (#18): webhooks' outbox, calendar sequences, personal calendar links."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Keep `value` under `key` unless one is kept already (the first writer wins: a secret
        made once per database must not change when two processes start together)."""
        ...

    # reports written together (issue #16; cowriting.py, store/reportlog.py)
    def report_doc(self, topic_id: str) -> ReportDocRow | None: ...
    def report_head(self, topic_id: str) -> int:
        """The report's last `rseq` as stored, 0 if none (under the event's lock: nobody moves it)."""
        ...

    def report_heads(self, event_id: str) -> dict[str, int]:
        """Each report of the event written together, with its last `rseq` as stored."""
        ...

    def report_rows(self, topic_ids: list[str]) -> list[Report]:
        """Those reports' rows as stored."""
        ...

    def append_report_update(self, event_id: str, topic_id: str, rseq: int, data: bytes, state: bytes | None) -> None:
        """Log update `rseq` of the report; with `state`, also store that compacted state."""
        ...

    def put_report(self, event_id: str, report: Report) -> None:
        """The report's row with its merged text, without a change-log entry."""
        ...


class Store(Protocol):
    """What the app needs from a database; `open_store(url)` makes the one a URL names."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def checkpoint(self) -> None:
        """Make deleted data leave the files now (SQLite: checkpoint and truncate the WAL)."""
        ...

    async def write(self, work: Callable[[Transaction], T]) -> T:
        """Run `work` in one transaction: committed if it returns, rolled back if it raises."""
        ...

    async def event_count(self) -> int: ...
    async def meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...
    async def event_by_slug(self, slug: str) -> Event | None: ...

    async def events_ending_before(self, day: str) -> list[Event]:
        """Events whose last day (ISO date, in their own time zone) is before `day` (retention.py)."""
        ...

    async def load_board(self, event_id: str) -> Board | None: ...

    async def patches_since(self, event_id: str, since: int, until: int) -> list[tuple[int, str, Any]] | None:
        """The patches after `since` up to `until` as logged, slim updates and all (domain/patches.py:
        `applied` lays them over a board), or None when the log no longer reaches back that far."""
        ...

    async def participant_by_token(self, event_id: str, token_hash: str) -> tuple[str, str] | None: ...
    async def facilitator_session(self, event_id: str, token_hash: str) -> bool: ...
    async def facilitator_secret_hash(self, event_id: str) -> str | None: ...

    async def outward(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """A read of the outward tables (#18), with one of `store.outbound`'s own queries."""
        ...
