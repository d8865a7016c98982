"""Photos' files in PostgreSQL (#17): the `FileStore` of a PostgreSQL store, so that every worker
on every host serves every photo.

Why PostgreSQL and not an S3-compatible store: a site on PostgreSQL already runs it, so there is
no other service to install, secure and watch (a library's site has one operator at best), and
`pg_dump` backs up the photos with the rows that name them, consistently. Photos are small (the
re-encoded full size is a few hundred KiB, media.py), at most 30 per session, so the database
carries them easily; an object store would pay only at far larger scale.

Each file is rows of at most `PART` bytes (`files`, pg_schema.py's migration 5), written in one
transaction, so a reader sees all of a file or none of it, like the local folder's rename. The
calls are synchronous, as `FileStore`'s are: they run on the job pool's or asyncio's threads,
each on a connection from a small pool of its own (the store's writer and reader stay free).
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any, BinaryIO

from psycopg_pool import ConnectionPool

from openspace.store.files import valid_key

PART = 1024 * 1024  # bytes per row: under PostgreSQL's 1 GiB field limit by far, and cheap to move
POOL_SIZE = 4
WAIT_SECONDS = 30.0  # for a connection from the pool before giving up (a OSError to the caller)


def rows_of(key: str, data: bytes) -> list[tuple[str, int, bytes]]:
    """A file as the rows that hold it: (key, part number, at most PART bytes); an empty file is
    one empty part, so that it exists."""
    return [(key, n, data[start : start + PART]) for n, start in enumerate(range(0, max(len(data), 1), PART))]


class PostgresFiles:
    """Files by key in the `files` table. The pool opens at the first call, so a command that
    never touches a photo never connects; `close` ends it."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._pool: ConnectionPool[Any] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Only where to connect: a job pool worker (jobs.py) that reads photos opens its own pool."""
        return {"conninfo": self.conninfo}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["conninfo"])  # type: ignore[misc]

    def _connections(self) -> ConnectionPool[Any]:
        with self._lock:
            if self._pool is None:
                pool: ConnectionPool[Any] = ConnectionPool(
                    self.conninfo,
                    min_size=0,
                    max_size=POOL_SIZE,
                    open=False,
                    timeout=WAIT_SECONDS,
                    kwargs={"autocommit": True},
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def put(self, key: str, data: bytes) -> None:
        if not valid_key(key):
            raise ValueError(f"not a file key: {key!r}")
        parts = rows_of(key, data)
        with self._connections().connection() as db, db.transaction():
            db.execute("DELETE FROM files WHERE key = %s", (key,))
            with db.cursor() as cursor:
                cursor.executemany("INSERT INTO files (key, part, data) VALUES (%s, %s, %s)", parts)

    def open(self, key: str) -> BinaryIO:
        """The whole file in memory (a photo is a few hundred KiB): one statement, one snapshot."""
        if not valid_key(key):
            raise FileNotFoundError(key)
        with self._connections().connection() as db:
            rows = db.execute("SELECT data FROM files WHERE key = %s ORDER BY part", (key,)).fetchall()
        if not rows:
            raise FileNotFoundError(key)
        return io.BytesIO(b"".join(bytes(row[0]) for row in rows))

    def exists(self, key: str) -> bool:
        if not valid_key(key):
            return False
        with self._connections().connection() as db:
            return db.execute("SELECT 1 FROM files WHERE key = %s AND part = 0", (key,)).fetchone() is not None

    def delete(self, key: str) -> None:
        """The bytes go with the rows (VACUUM reclaims their space: docs/deploy.md)."""
        if valid_key(key):
            with self._connections().connection() as db:
                db.execute("DELETE FROM files WHERE key = %s", (key,))

    def local_path(self, key: str) -> Path | None:
        return None  # never on this machine's disk: served from memory, written out by callers

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
