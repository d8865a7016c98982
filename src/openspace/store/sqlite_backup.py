"""Backup and restore of a SQLite database with its photo folder, and the files that go with one.

A database `X` keeps its photos in the folder `X.files` beside it (store/files.py's local
folder); a backup is the same pair. Only this module and sqlite.py know those names: the CLI asks
the store (store/__init__.py) to back up, restore or tidy, by the database's URL.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from contextlib import closing, suppress
from pathlib import Path

from openspace.store.base import StoreError


def photo_folder(database: str | Path) -> Path:
    """Where a database's photos are kept: beside it, outside any web root."""
    return Path(f"{database}.files")


def check_database(path: Path) -> None:
    """Refuse, before anything is written, a file that is missing or not an openspace database
    (SQLite would happily back up an empty file it just created, or someone else's database)."""
    if not path.is_file():
        raise StoreError(f"there is no database at {path}")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as database:
            found = database.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    except sqlite3.DatabaseError:
        found = None
    if found is None:
        raise StoreError(f"{path} is not an openspace database")


def private(path: Path) -> None:
    """The database holds names and texts: readable by the server's user only (0600), as are the
    WAL and shared-memory files, which SQLite creates with the database's own permissions."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists():
            os.chmod(name, 0o600)


def backup(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while the server keeps writing, plus the photos.

    The backup API copies pages under the database's own locks, so it sees whole transactions
    only: every change acknowledged before it started is in the copy. Photo files are written
    before their rows commit and deleted only after their rows are gone, so copying the folder
    before the database (for files removed meanwhile) and again after it (for files added
    meanwhile) leaves every photo the copied rows name in the copied folder.
    """
    if not source.is_file():
        raise FileNotFoundError(source)
    if target.exists() and target.resolve() == source.resolve():
        raise FileExistsError(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    photos, copied = photo_folder(source), photo_folder(target)
    shutil.rmtree(copied, ignore_errors=True)  # the folder of an older backup at this path, never merged into
    copy_new_files(photos, copied)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    private(target)  # names and texts: the backup is as private as the database (issue #21)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst, pages=256)
    finally:
        dst.close()
        src.close()
    copy_new_files(photos, copied)


def copy_new_files(source: Path, target: Path) -> None:
    if not source.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and not path.is_symlink() and not (target / path.name).exists():
            try:
                shutil.copy2(path, target / path.name)
            except FileNotFoundError:  # removed while we copied: its row went first
                pass


def restore(backup_file: Path, target: Path) -> None:
    """A database for a fresh server, from a backup, with a new epoch.

    The epoch names the history that sequence numbers belong to; after a restore, a client's
    remembered position may point into changes the backup never saw, so it must get a snapshot.
    """
    if target.exists():
        raise FileExistsError(target)
    try:
        backup(backup_file, target)
        with closing(sqlite3.connect(target)) as db, db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
                raise ValueError(f"{backup_file} is not an openspace database")
            db.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (secrets.token_urlsafe(32),))
    except (ValueError, sqlite3.DatabaseError):
        target.unlink(missing_ok=True)  # leave nothing half-made behind
        shutil.rmtree(photo_folder(target), ignore_errors=True)
        raise


def move_over(partial: Path, target: Path) -> None:
    """Put a finished backup and its photo folder where the old ones were."""
    photos, old_photos = photo_folder(partial), photo_folder(target)
    os.replace(partial, target)
    shutil.rmtree(old_photos, ignore_errors=True)  # replaced, never merged into
    if photos.is_dir():
        os.replace(photos, old_photos)


def discard(path: Path) -> None:
    """Remove a half-made database and what goes with it; whatever is not there is fine."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with suppress(FileNotFoundError, NotADirectoryError):
            leftover.unlink()
    shutil.rmtree(photo_folder(path), ignore_errors=True)
