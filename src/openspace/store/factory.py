"""The store named by one URL: ``sqlite:///path`` (the default, from --db) or ``postgresql://…``."""

from __future__ import annotations

from openspace.store.sqlite import SQLiteStore, Store


def database_url(url: str, db: str) -> str:
    """The setting as given, or the SQLite file of --db when it is empty."""
    return url or f"sqlite:///{db}"


def open_store(url: str, log_keep: int = 1000) -> Store:
    """A store for `url`, not yet opened. PostgreSQL's driver is imported only when it is used."""
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"), log_keep=log_keep)
    if url.startswith(("postgresql://", "postgres://")):
        from openspace.store.postgres import PostgresStore

        return PostgresStore(url, log_keep=log_keep)
    raise ValueError(f"unknown database URL scheme: {url.split(':', 1)[0]!r} (use sqlite:/// or postgresql://)")
