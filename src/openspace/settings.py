"""Every setting in one table: name, default, help. Read from `OPENSPACE_<NAME>`, overridden by CLI flags.

`docs/settings.md` is checked against this table by a test, so a setting cannot go undocumented.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: list[Setting] = [
    Setting("host", "127.0.0.1", "Address to listen on. Use 0.0.0.0 to let phones on the venue's network join."),
    Setting("port", 8000, "Port to listen on."),
    Setting(
        "database_url",
        "sqlite:///openspace.db",
        "The database, as a URL: sqlite:///FILE for a SQLite file (created if missing; "
        "sqlite:////abs/path.db for an absolute path).",
    ),
    Setting("db", "", "Shorthand for database_url sqlite:///FILE: the path of a SQLite file. Wins when given."),
    Setting("demo", True, "Create the demo event (the Stenhamra workshop) if the database has no events."),
    Setting(
        "public_url",
        "",
        "Base URL that links and QR codes use, e.g. https://open.example.org. Empty: worked out from "
        "--host (the machine's LAN address when listening on all interfaces).",
    ),
    Setting("secret_key", "", "Key that signs cookies. Empty: generated once and kept in the database."),
    Setting("log_keep", 1000, "How many recent changes per event the change log keeps for resuming clients."),
    Setting("max_lag", 256, "Changes a client may fall behind before it is disconnected and told to resume."),
    Setting("ws_max_size", 65536, "Largest websocket message accepted from a client, in bytes."),
    Setting("log_level", "info", "Server log level: debug, info, warning or error."),
]


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite:///openspace.db"
    db: str = ""
    demo: bool = True
    public_url: str = ""
    secret_key: str = ""
    log_keep: int = 1000
    max_lag: int = 256
    ws_max_size: int = 65536
    log_level: str = "info"

    @property
    def database(self) -> str:
        """The URL of the store to open (store.open_store): `db`, when given, names a SQLite file."""
        return f"sqlite:///{self.db}" if self.db else self.database_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `OPENSPACE_*` variables, then explicit overrides (CLI flags that were given)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"OPENSPACE_{f.name.upper()}")
            if raw is not None:
                values[f.name] = parse(raw, f.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    return raw
