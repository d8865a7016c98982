"""Keeping secrets out of logs, and wrong facilitator links in check.

The facilitator link carries its secret in the path, so every log line that prints a path goes
through `redact`. Wrong links are counted (`LoginGuard`) per link and per event, never per client
address: behind a reverse proxy every visitor has the proxy's address, and one person's typos must
not lock out everyone else. The right link is never refused.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import time
from collections import deque

SECRET_PATH = re.compile(r"(/e/[^/\s\"']+/f/)[^\s\"'?]+")


def redact(text: str) -> str:
    return SECRET_PATH.sub(r"\1[secret]", text)


class RedactSecrets(logging.Filter):
    """Scrubs facilitator secrets from any log record, its message and its arguments alike."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_redaction() -> None:
    """On every handler of the root and uvicorn loggers, so no path with a secret is written."""
    for name in ("", "uvicorn", "uvicorn.access", "uvicorn.error", "openspace"):
        logger = logging.getLogger(name)
        logger.addFilter(RedactSecrets())
        for handler in logger.handlers:
            handler.addFilter(RedactSecrets())


class RateLimit:
    """At most `limit` failures per key (a wrong link, an event) in `window` seconds: a sliding
    window, in bounded memory (the oldest key is forgotten first)."""

    def __init__(self, limit: int = 10, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self.failures: dict[str, deque[float]] = {}

    def blocked(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        recent = self.failures.get(client)
        if recent is None:
            return False
        while recent and now - recent[0] > self.window:
            recent.popleft()
        return len(recent) >= self.limit

    def fail(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if client not in self.failures and len(self.failures) >= self.max_clients:
            self.failures.pop(next(iter(self.failures)))  # forget the oldest client first
        self.failures.setdefault(client, deque(maxlen=self.limit * 2)).append(now)


class LoginGuard:
    """Wrong facilitator links: the same wrong link at most `per_link` times a minute, and at most
    `per_event` wrong links a minute for one event, whoever sends them.

    The secret has 256 bits, so it is its length, not this count, that defeats guessing. What the
    count is for is telling a page that keeps reloading a broken link, or a flood, to stop (429)
    without ever shutting out the holder of the right link: that link is checked first, always.
    """

    def __init__(self, per_link: int = 10, per_event: int = 100, window: float = 60.0) -> None:
        self.links = RateLimit(limit=per_link, window=window)
        self.events = RateLimit(limit=per_event, window=window)

    @staticmethod
    def link(event_id: str, secret: str) -> str:
        """A wrong secret is kept only as a hash: memory holds nothing anyone could try elsewhere."""
        return event_id + "|" + hashlib.sha256(secret.encode()).hexdigest()[:32]

    def refused(self, event_id: str, secret: str, now: float | None = None) -> bool:
        """Whether a wrong link gets 429 instead of 403 (ask only after the secret was wrong)."""
        return self.links.blocked(self.link(event_id, secret), now) or self.events.blocked(event_id, now)

    def fail(self, event_id: str, secret: str, now: float | None = None) -> None:
        self.links.fail(self.link(event_id, secret), now)
        self.events.fail(event_id, now)


def address_allowed(client: str, allow: str) -> bool:
    """`client` within one of the comma-separated addresses or networks (10.0.0.0/8) of `allow`:
    who may read /metrics or create events, when the operator restricts it (#17)."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:  # not an address (a test client's "testclient"): not on any list
        return False
    for entry in (e.strip() for e in allow.split(",")):
        try:
            if entry and address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
