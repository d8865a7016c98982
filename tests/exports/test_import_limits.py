"""Import trusts no file: sizes, ranges, structure and zip expansion are bounded (issue #21, case 10)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from openspace.cli import main
from openspace.exports import document as export_data
from openspace.exports import formats
from tests.exports.test_export_data import descending_ids, valid_document


def set_topic(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["topics"][0][key] = value

    return change


def inverted_slot(doc: dict[str, Any]) -> None:
    slot = doc["slots"][0]
    slot["start"], slot["end"] = slot["end"], slot["start"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (set_topic("headcount", 2**62), r"topics\[0\]\.headcount: expected a number from 0 to 100000"),
        (set_topic("interest", 10**7), r"topics\[0\]\.interest: expected a number from 0"),
        (set_topic("title", "x" * 5_000_000), r"topics\[0\]\.title: at most 120 characters"),
        (set_topic("description", "x" * 2001), r"topics\[0\]\.description: at most 2000 characters"),
        (inverted_slot, r"slots\[0\]\.end: must come after slots\[0\]\.start"),
    ],
)
def test_sizes_and_ranges_are_checked(change: Callable[[dict[str, Any]], None], message: str) -> None:
    """A headcount of 2**62 made the attendance chart loop for ever; a 5 MB title was accepted."""
    doc = valid_document()
    change(doc)
    with pytest.raises(ValueError, match=message):
        export_data.from_document(doc, descending_ids())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all", "not a JSON document"),
        (b"[" * 5000 + b"]" * 5000, "not a JSON document"),
        (b"[1, 2]", "expected an object"),
    ],
)
def test_a_file_that_is_not_a_document_is_refused_in_words(tmp_path: Path, content: bytes, message: str) -> None:
    """Non-JSON or deeply nested input ended in a raw traceback."""
    bad = tmp_path / "event.json"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        formats.read_archive(bad)
    result = CliRunner().invoke(main, ["import", str(bad), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_zip_bomb_is_refused_before_it_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 MB zip expanded to 2.1 GB: the archive's directory is checked first (bounds scaled down here)."""
    monkeypatch.setattr(formats, "MAX_DOCUMENT", 1024 * 1024)
    bomb = tmp_path / "proceedings.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("event.json", b" " * (2 * 1024 * 1024))
    assert bomb.stat().st_size < 64 * 1024
    with pytest.raises(ValueError, match="event.json: larger than 1 MB"):
        formats.read_archive(bomb)


def test_a_zipped_photo_larger_than_a_photo_may_be_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each member is bounded by what it may be, and the whole by MAX_ARCHIVE."""
    monkeypatch.setattr(formats.media, "MAX_BYTES", 1000)
    archive_path = tmp_path / "proceedings.zip"
    with zipfile.ZipFile(archive_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("event.json", b"{}")
        archive.writestr("photos/a.jpg", b"\0" * 5000)
    with pytest.raises(ValueError, match="photos/a.jpg: larger than a photo may be"):
        formats.read_archive(archive_path)
    monkeypatch.setattr(formats.media, "MAX_BYTES", 10_000)
    monkeypatch.setattr(formats, "MAX_ARCHIVE", 4000)
    with pytest.raises(ValueError, match="archive: expands to more than"):
        formats.read_archive(archive_path)
