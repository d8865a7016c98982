"""`rows.replaced`, the cheap `dataclasses.replace` every applied change goes through: it must give
exactly what `replace` gives, for every record the board holds, and refuse what `replace` refuses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields, replace
from typing import Any

import pytest

from openspace.domain.model import ENTITY_TYPES, Board, Change, Event
from openspace.domain.rows import replaced

RECORDS: list[type[Any]] = [*ENTITY_TYPES.values(), Event, Board, Change]


def example(kind: type[Any]) -> Any:
    """An instance with every required field filled in (each with a value of its own)."""
    needed = {f.name: f"{f.name}-value" for f in fields(kind) if f.default is f.default_factory is dataclasses.MISSING}
    if kind is Board:
        needed["event"] = example(Event)
    return kind(**needed)


@pytest.mark.parametrize("kind", RECORDS, ids=lambda k: k.__name__)
def test_every_field_changed_alone_and_all_at_once_as_replace_does(kind: type[Any]) -> None:
    record = example(kind)
    every: dict[str, Any] = {}
    for field in fields(kind):
        value = every[field.name] = object()  # never equal to anything else: a field set wrongly shows
        alone = replaced(record, **{field.name: value})
        assert alone == replace(record, **{field.name: value}), field.name
        assert getattr(alone, field.name) is value and type(alone) is kind
    assert replaced(record, **every) == replace(record, **every)
    assert replaced(record) == record and replaced(record) is not record
    assert record == example(kind)  # the original is left as it was


def test_the_copy_stays_frozen_and_unknown_fields_are_refused() -> None:
    topic = replaced(example(ENTITY_TYPES["topics"]), title="Ny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        topic.title = "Ändrad"  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field 'titel'"):
        replaced(topic, titel="Stavfel")


@dataclass(frozen=True, slots=True)
class Checked:
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low above high")


def test_a_record_that_checks_itself_is_still_checked() -> None:
    assert replaced(Checked(1, 2), high=5) == Checked(1, 5)
    with pytest.raises(ValueError, match="low above high"):
        replaced(Checked(1, 2), low=3)
