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
        "sqlite:////abs/path.db for an absolute path), or postgresql://user@host:5432/name to share one "
        "between several workers and hosts.",
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
    Setting(
        "bus_url",
        "",
        "How committed changes reach the other server processes: empty (or memory://) for one process, "
        "redis://host:port/0 for several.",
    ),
    Setting("log_keep", 1000, "How many recent changes per event the change log keeps for resuming clients."),
    Setting("max_lag", 256, "Changes a client may fall behind before it is disconnected and told to resume."),
    Setting(
        "catchup_timeout",
        30,
        "Seconds a resuming client has to take what it missed (at most log_keep changes, else a snapshot).",
    ),
    Setting("ws_max_size", 65536, "Largest websocket message accepted from a client, in bytes."),
    Setting("log_level", "info", "Server log level: debug, info, warning or error."),
    Setting(
        "webhook_allow_private",
        False,
        "Let webhooks post to loopback, private and link-local addresses, and over plain http: only for a "
        "receiver on this machine or network that you trust (tests use it for a local receiver).",
    ),
    Setting("webhook_timeout", 10, "Seconds a webhook endpoint has to answer one delivery."),
    Setting("webhook_retry_ms", 5000, "Milliseconds before a failed webhook delivery is retried; doubles each time."),
    Setting("webhook_attempts", 8, "Tries per webhook message before it is shown as failed."),
    # heavy work (issue #21): one bounded pool for rendering, exports, photos and planning
    Setting(
        "jobs_workers",
        0,
        "Worker processes for heavy jobs (previews, exports, photos, placement hints); 0: half the CPU cores, "
        "at least one.",
    ),
    Setting("jobs_queue", 16, "Heavy jobs that may wait for a worker; beyond that the server answers busy (503)."),
    Setting(
        "jobs_timeout",
        120,
        "Seconds a heavy job may take, waiting included; then its worker process is killed and the person "
        "is told to try again.",
    ),
    Setting(
        "jobs_memory_mb",
        2048,
        "Address space of each heavy-job worker process, in MiB: a job needing more is refused, not the server.",
    ),
    Setting("export_cache", 8, "Exports kept ready, each for one event at one change (a published PDF is built once)."),
    # limits, "count/seconds": at most count in any such window (issue #21)
    Setting("limit_actions_person", "100/10", "Actions one participant may take, forms and sockets together."),
    Setting(
        "limit_actions_address",
        "1200/60",
        "Actions from one client address, all people behind it together but the facilitator (a hall behind "
        "one NAT: 1,200 at once, 20 a second; a refused action is kept and resent by the page).",
    ),
    Setting(
        "limit_refusals_address",
        "100/10",
        "Refused requests (over a limit, or forms the rules refused) from one client address before it "
        "is refused at the door (429, nothing parsed) until this budget refills.",
    ),
    Setting(
        "limit_heavy_person",
        "20/120",
        "Renames, report saves and restores per person: each one reaches every screen at a size that grows "
        "with the board.",
    ),
    Setting(
        "limit_proposals_person",
        "5/60",
        "Topics one participant may propose at once, refilled over the seconds; the facilitator is not counted.",
    ),
    Setting(
        "limit_proposals_address",
        "4/4",
        "Topics proposed from one client address, everyone behind it together: 4 at once, then one a "
        "second; the facilitator is not counted.",
    ),
    Setting("limit_actions_event", "3000/10", "Actions on one event, everyone together."),
    Setting("limit_previews", "30/60", "Report previews per person (or per address for someone not joined)."),
    Setting(
        "limit_downloads",
        "20/60",
        "Exports and proceedings pages per person (or per address for someone not joined).",
    ),
    Setting("limit_joins_address", "300/600", "Joins from one client address: a whole hall behind one NAT fits."),
    Setting("limit_new_events_address", "10/3600", "Events created at /new from one client address."),
    Setting("limit_new_events", "100/3600", "Events created at /new on the whole server."),
    Setting("limit_uploads_person", "30/600", "Photo uploads per person (or per address for the facilitator)."),
    Setting(
        "uploads_at_once",
        6,
        "Photo uploads received at once by one server process, each read into memory (up to 75 MB); one "
        "per person, the rest wait their turn for up to a minute.",
    ),
    Setting("sockets_per_person", 8, "Websockets open at once for one participant (tabs and devices)."),
    Setting("sockets_per_address", 512, "Websockets open at once from one client address."),
    # server
    Setting("header_timeout", 10, "Seconds a client may take to send a request's headers (slowloris)."),
    Setting(
        "limit_bytes_address",
        "64000000/8",
        "Bytes one client address may send: this many at once, refilled over the seconds (8 MB/s); "
        "beyond, the server reads its connections more slowly. Behind a proxy this bounds all of "
        "it together: raise it there, or 0 for none, and let the proxy limit each visitor.",
    ),
    Setting("max_connections", 6000, "Connections the server holds at once; beyond that new ones get 503."),
    Setting(
        "allowed_hosts",
        "",
        "Host names the server answers to, comma-separated. Empty: the public URL's host, the LAN "
        "address, localhost and 127.0.0.1.",
    ),
    Setting("workers", 1, "Server processes on this host. More than one needs a bus_url (and is best on PostgreSQL)."),
    # running it as a service (issue #17, docs/deploy.md)
    Setting(
        "log_format", "text", "Server log lines as plain text, or json: one JSON object per line for a log collector."
    ),
    Setting("metrics", False, "Serve Prometheus metrics at /metrics, to metrics_allow or with metrics_token only."),
    Setting(
        "metrics_allow",
        "127.0.0.1,::1",
        "Client addresses or networks (comma-separated, e.g. 10.0.0.0/8) that may read /metrics without "
        "the token. A request that came through a proxy (X-Forwarded-For) is never let in by address.",
    ),
    Setting("metrics_token", "", "A token that also lets a scraper read /metrics: Authorization: Bearer <token>."),
    Setting(
        "new_event_token",
        "",
        "Restricts creating events at /new to whoever types this operator token (or comes from "
        "new_event_allow). Empty, with new_event_allow empty too: anyone may create an event.",
    ),
    Setting(
        "new_event_allow",
        "",
        "Client addresses or networks (comma-separated) that may create events at /new without the "
        "operator token. Behind a proxy every visitor has the proxy's address: use the token there.",
    ),
    Setting(
        "retention_days",
        0,
        "Delete each event this many days after its last day, with everything in it (checked hourly, "
        "and by `openspace retention`). 0: keep events until someone deletes them.",
    ),
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
    bus_url: str = ""
    log_keep: int = 1000
    max_lag: int = 256
    catchup_timeout: int = 30
    ws_max_size: int = 65536
    log_level: str = "info"
    webhook_allow_private: bool = False
    webhook_timeout: int = 10
    webhook_retry_ms: int = 5000
    webhook_attempts: int = 8
    jobs_workers: int = 0
    jobs_queue: int = 16
    jobs_timeout: int = 120
    jobs_memory_mb: int = 2048
    export_cache: int = 8
    limit_actions_person: str = "100/10"
    limit_actions_address: str = "1200/60"
    limit_heavy_person: str = "20/120"
    limit_proposals_person: str = "5/60"
    limit_proposals_address: str = "4/4"
    limit_refusals_address: str = "100/10"
    limit_actions_event: str = "3000/10"
    limit_previews: str = "30/60"
    limit_downloads: str = "20/60"
    limit_joins_address: str = "300/600"
    limit_new_events_address: str = "10/3600"
    limit_new_events: str = "100/3600"
    limit_uploads_person: str = "30/600"
    uploads_at_once: int = 6
    sockets_per_person: int = 8
    sockets_per_address: int = 512
    header_timeout: int = 10
    limit_bytes_address: str = "64000000/8"
    max_connections: int = 6000
    allowed_hosts: str = ""
    workers: int = 1
    log_format: str = "text"
    metrics: bool = False
    metrics_allow: str = "127.0.0.1,::1"
    metrics_token: str = ""
    new_event_token: str = ""
    new_event_allow: str = ""
    retention_days: int = 0

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
