"""`openspace backup` and `restore` on the command line: every mistake gets a one-line message,
never a traceback, and nothing half-made is left where a good file was or should be."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from openspace import cli


@pytest.fixture
def database(tmp_path: Path) -> Path:
    db = tmp_path / "live.db"
    made = CliRunner().invoke(cli.main, ["new-event", "--name", "Stenhamra", "--date", "2026-12-01", "--db", str(db)])
    assert made.exit_code == 0, made.output
    (tmp_path / "live.db.files").mkdir()
    (tmp_path / "live.db.files" / "photo.jpg").write_bytes(b"jpeg")
    return db


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_backing_up_a_database_onto_itself_or_from_something_else_is_refused(database: Path, tmp_path: Path) -> None:
    before = database.read_bytes()
    code, output = run("backup", "--db", str(database), "-o", str(database))
    assert code != 0 and "is the database itself" in output and database.read_bytes() == before
    junk, empty = tmp_path / "junk.db", tmp_path / "empty.db"
    junk.write_bytes(b"not a database at all" * 100)
    with sqlite3.connect(empty) as other:
        other.execute("CREATE TABLE notes (x)")
    for source in (junk, empty):
        code, output = run("backup", "--db", str(source), "-o", str(tmp_path / "copy.db"))
        assert code != 0 and "is not an openspace database" in output
    assert not (tmp_path / "copy.db").exists()


def test_a_backup_that_cannot_be_written_says_so_and_keeps_the_last_good_one(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("in the way")
    code, output = run("backup", "--db", str(database), "-o", str(tmp_path / "a-file" / "b.db"))
    assert code != 0 and "could not write the backup" in output and "no database" not in output

    good = tmp_path / "backup.db"
    assert run("backup", "--db", str(database), "-o", str(good))[0] == 0
    kept = good.read_bytes()

    def disk_full(source: Path, target: Path) -> None:
        target.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli.storage, "backup", disk_full)
    code, output = run("backup", "--db", str(database), "-o", str(good))
    assert code != 0 and "No space left" in output
    assert good.read_bytes() == kept and (tmp_path / "backup.db.files" / "photo.jpg").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_a_second_backup_replaces_the_photo_folder(database: Path, tmp_path: Path) -> None:
    target = tmp_path / "backup.db"
    assert run("backup", "--db", str(database), "-o", str(target))[0] == 0
    (database.parent / "live.db.files" / "photo.jpg").unlink()
    (database.parent / "live.db.files" / "new.jpg").write_bytes(b"jpeg")
    assert run("backup", "--db", str(database), "-o", str(target))[0] == 0
    assert sorted(p.name for p in (tmp_path / "backup.db.files").iterdir()) == ["new.jpg"]


def test_a_restore_that_cannot_be_written_says_so_and_leaves_nothing(database: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup.db"
    assert run("backup", "--db", str(database), "-o", str(backup))[0] == 0
    (tmp_path / "a-file").write_text("in the way")
    code, output = run("restore", str(backup), "--db", str(tmp_path / "a-file" / "new.db"))
    assert code != 0 and "could not restore" in output
    code, output = run("restore", str(tmp_path / "a-file"), "--db", str(tmp_path / "new.db"))
    assert code != 0 and "is not an openspace database" in output and not (tmp_path / "new.db").exists()
    assert run("restore", str(backup), "--db", str(tmp_path / "new.db"))[0] == 0
    assert (tmp_path / "new.db.files" / "photo.jpg").exists()
