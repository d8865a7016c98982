"""Entities and the event as plain rows: their column names, and their values field by field.

Apart from model.py so that it stays under 400 lines (#13); what the store writes and a patch
compares, not part of the board's shape. model.py uses `as_row` for patches and snapshots.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

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
