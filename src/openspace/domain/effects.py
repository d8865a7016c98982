"""What a change does beyond the board: the effects a rule asks for and the write path applies.

The board's rows travel in a `Change` as upserts and deletes, logged and broadcast. A few
commands also touch things that are not board state and must never be broadcast: a participant's
own name (kept with their login, not on the board), the idempotency answers that repeat it, a
photo's files. The rule that decides the command names these as effects on the change, and the
service applies them in one place: the store's effects inside the transaction, file effects only
after the commit (a file is removed only once no committed row names it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NameSet:
    """A participant's display name is now `name` (empty: erased)."""

    participant_id: str
    name: str


@dataclass(frozen=True, slots=True)
class NameForgotten:
    """An erased name must not live on in the kept answers to `actors`' earlier renames."""

    actors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FilesRemoved:
    """The stored files of these photos go, after the rows that named them are committed gone."""

    names: tuple[str, ...]


Effect = NameSet | NameForgotten | FilesRemoved
