"""Entities and the event as plain rows: their column names, and their values field by field.

Apart from model.py so that it stays under 400 lines (#13); what the store writes and a patch
compares, not part of the board's shape. model.py uses `as_row` for patches and snapshots.
"""

from __future__ import annotations

from dataclasses import fields, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from openspace.domain.model import EntityType, Event


def column_names(entity_type: EntityType | type[Event]) -> list[str]:
    return [f.name for f in fields(entity_type)]


_READERS: dict[type, tuple[tuple[str, ...], attrgetter[Any]]] = {}


def as_row(entity: Any) -> dict[str, Any]:
    """An entity or the event as a plain dict, field by field. Every field is a plain value, so
    this is `dataclasses.asdict` without its deep copy, which cost a tenth of the writer's time."""
    kind = type(entity)
    reader = _READERS.get(kind)
    if reader is None:
        names = tuple(f.name for f in fields(kind))
        reader = _READERS[kind] = (names, attrgetter(*names))
    names, read = reader
    return dict(zip(names, read(entity), strict=True))


R = TypeVar("R")
_WRITERS: dict[type, tuple[attrgetter[Any], dict[str, int], tuple[Any, ...]] | None] = {}


def replaced(record: R, **changes: Any) -> R:
    """`dataclasses.replace` for the board's frozen, slotted records, at half its cost.

    Every change applied to a board replaces the board and the records it touches, on every
    worker (the one that wrote it and each that hears it over the bus); `replace` walks the
    record's fields anew on each call and sets them through the frozen `__init__`, 7 µs for a
    topic, and with two workers that was a fifth of the time a worker took to take in another's
    change (issue #17). Here the fields are read at once and each slot is set directly. A record
    with a `__post_init__` or fields outside `__init__` goes through `replace`, which runs them.
    """
    kind = type(record)
    if kind not in _WRITERS:
        every = fields(kind)  # type: ignore[arg-type]
        plain = hasattr(kind, "__slots__") and not hasattr(kind, "__post_init__") and all(f.init for f in every)
        names = tuple(f.name for f in every)
        _WRITERS[kind] = (
            (attrgetter(*names), {n: i for i, n in enumerate(names)}, tuple(getattr(kind, n).__set__ for n in names))
            if plain and len(names) > 1  # attrgetter of one name gives the value, not a tuple: rare, left to `replace`
            else None
        )
    writer = _WRITERS[kind]
    if writer is None:
        return replace(record, **changes)  # type: ignore[type-var]
    read, index, puts = writer
    values = list(read(record))
    for name, value in changes.items():
        if name not in index:
            raise TypeError(f"{kind.__name__} has no field {name!r}")
        values[index[name]] = value
    new = object.__new__(kind)
    for put, value in zip(puts, values, strict=True):
        put(new, value)
    return new
