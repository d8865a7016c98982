"""Where stored files (photos) live: the `FileStore` interface and the local folder behind it.

A file is named by a flat key the app made itself (`[A-Za-z0-9_.-]`, no slash, no leading dot or
dash), never by anything a person typed. The local folder keeps them in one private directory,
beside a SQLite database; PostgreSQL keeps them in a table (pg_files.py), for several hosts.
media.PhotoStore names a photo's two files and is the only user; web and exports reach the files
through it.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class FileStore(Protocol):
    """A flat set of immutable files by key. Every call refuses (or ignores) a key of the wrong
    shape instead of resolving it, so no key can reach outside the store."""

    def put(self, key: str, data: bytes) -> None:
        """Write the whole file durably; a reader sees all of it or nothing."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The file for reading; FileNotFoundError if there is none (or the key is malformed)."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the file; a key that is malformed or already gone is not an error."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file's path on this machine, when it has one (to send it with sendfile, or let
        WeasyPrint read it); None when it is missing, malformed, or the store is not local."""
        ...

    def close(self) -> None:
        """Let go of what the store holds open (a database's connections); files stay."""
        ...


def valid_key(key: object) -> bool:
    return isinstance(key, str) and KEY.fullmatch(key) is not None and ".." not in key


class LocalFolder:
    """Files in one directory, created on the first write and readable by the server's user only:
    the files are served only through the app, which checks who may see them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        if not valid_key(key):
            raise ValueError(f"not a file key: {key!r}")
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        # written beside the target and renamed over it: a reader sees all or nothing
        handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".upload-", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.root / key)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        path = self.local_path(key)
        if path is None:
            raise FileNotFoundError(key)
        return path.open("rb")

    def exists(self, key: str) -> bool:
        return self.local_path(key) is not None

    def delete(self, key: str) -> None:
        if valid_key(key):
            (self.root / key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        if not valid_key(key):
            return None
        root = self.root.resolve()
        candidate = (root / key).resolve()
        if candidate.parent != root or not candidate.is_file():  # a symlink out, say
            return None
        return candidate

    def close(self) -> None:
        return None  # nothing held open
