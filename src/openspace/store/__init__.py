"""The store: which database, chosen by one URL (`OPENSPACE_DATABASE_URL`), behind one interface.

`open_store(url)` gives the `Store` (base.py) the URL names; `file_store(url)` where that
database's photos are kept; `backup`, `restore` and their helpers copy both. Nothing outside this
package knows a database driver or a database's file name. A second store (PostgreSQL) adds its
scheme to each function here.

    sqlite:///openspace.db        a file relative to the working directory
    sqlite:////var/lib/os/os.db   an absolute path (four slashes)
    postgresql://user@host/name   PostgreSQL, shared by several workers and hosts (postgres.py;
                                  its driver is imported only when such a URL is used)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openspace.store import sqlite_backup
from openspace.store.base import Store, StoreError, Transaction
from openspace.store.files import FileStore, LocalFolder
from openspace.store.sqlite import SQLiteStore

__all__ = [
    "FileStore",
    "Store",
    "StoreError",
    "Transaction",
    "backup",
    "check_backup",
    "copy_events",
    "describe",
    "discard_backup",
    "file_store",
    "install_backup",
    "open_store",
    "restore",
    "sqlite_url",
]

SQLITE = "sqlite:///"
POSTGRES = ("postgresql://", "postgres://")


def sqlite_url(path: str | Path) -> str:
    """The URL of a SQLite file: what `--db FILE` is shorthand for."""
    return f"{SQLITE}{path}"


def sqlite_path(url: str) -> Path:
    """The file a sqlite URL names; StoreError for any other URL."""
    if not url.startswith(SQLITE) or len(url) == len(SQLITE):
        scheme = url.split(":", 1)[0] if ":" in url else url
        raise StoreError(f"unknown database URL {url!r} (scheme {scheme!r}): use sqlite:///FILE or postgresql://…")
    return Path(url[len(SQLITE) :])


def describe(url: str) -> str:
    """How messages name the database: its file, for SQLite; the URL without password otherwise."""
    if url.startswith(POSTGRES):
        head, _, rest = url.partition("://")
        credentials, at, place = rest.rpartition("@")
        return f"{head}://{credentials.split(':', 1)[0]}{at}{place}"
    return str(sqlite_path(url))


async def open_store(url: str, *, log_keep: int = 1000) -> Store:
    """The store `url` names, opened (migrated to the current schema, created if missing)."""
    store: Store
    if url.startswith(POSTGRES):
        from openspace.store.postgres import PostgresStore

        store = PostgresStore(url, log_keep=log_keep)
    else:
        store = SQLiteStore(sqlite_path(url), log_keep=log_keep)
    await store.open()
    return store


def file_store(url: str) -> FileStore:
    """Where the database at `url` keeps its photos: a private folder beside the SQLite file; in
    the database itself for PostgreSQL, so every host serves them (pg_files.py says why)."""
    if url.startswith(POSTGRES):
        from openspace.store.pg_files import PostgresFiles
        from openspace.store.postgres import conninfo

        return PostgresFiles(conninfo(url))
    return LocalFolder(sqlite_backup.photo_folder(sqlite_path(url)))


def copy_events(source: Path, url: str) -> tuple[int, int]:
    """Copy every event of the SQLite file `source` missing from the PostgreSQL database at `url`
    (`openspace copy`); (events copied, events already there)."""
    if not url.startswith(POSTGRES):
        raise StoreError("copy into PostgreSQL: give --database-url postgresql://… (or OPENSPACE_DATABASE_URL)")
    sqlite_backup.check_database(source)
    from openspace.store.copy import copy_events as copy

    return copy(source, url)


def check_backup(url: str, target: Path) -> None:
    """Refuse, before anything is written, a database that is not there or not ours, and a
    backup onto the database itself."""
    source = sqlite_path(url)
    sqlite_backup.check_database(source)
    if target.resolve() == source.resolve():
        raise StoreError(f"{target} is the database itself: back up into another file")


def backup(url: str, target: Path) -> None:
    """Copy the database and its photos into the file `target` (and `target`'s photo folder),
    online: the server may keep writing. OSError or StoreError if it cannot."""
    try:
        sqlite_backup.backup(sqlite_path(url), target)
    except sqlite3.Error as problem:
        raise StoreError(str(problem)) from problem


def install_backup(partial: Path, target: Path) -> None:
    """Move a finished backup (written to `partial`) over `target`, with its photo folder."""
    sqlite_backup.move_over(partial, target)


def discard_backup(path: Path) -> None:
    """Remove a half-made backup or database and what goes with it; what is not there is fine."""
    sqlite_backup.discard(path)


def restore(backup_file: Path, url: str) -> None:
    """A new database at `url` from a backup, for a fresh server, with a new epoch; refuses to
    overwrite one. StoreError with a message for the person otherwise; nothing half-made stays."""
    target = sqlite_path(url)
    sqlite_backup.check_database(backup_file)
    if target.exists():
        raise StoreError(f"{target} exists: restore into a new file")
    try:
        sqlite_backup.restore(backup_file, target)
    except FileExistsError as problem:
        named = problem.filename if problem.filename is not None else (problem.args or ("",))[0]
        if Path(str(named)) == target:  # made by someone else meanwhile: not ours to remove
            raise StoreError(f"{target} exists: restore into a new file") from None
        raise StoreError(f"could not restore into {target}: {problem}") from None
    except (ValueError, OSError, sqlite3.Error) as problem:
        sqlite_backup.discard(target)  # it did not exist before: nothing half-made stays behind
        raise StoreError(f"could not restore into {target}: {problem}") from None
