"""Keeping secrets out of logs, and link guessing slow.

The facilitator link carries its secret in the path, so every log line that prints a path goes
through `redact`. Guessing is rate-limited per client address: a few wrong tries a minute are a
typo, hundreds are an attack.
"""

from __future__ import annotations

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
    """At most `limit` failures per client in `window` seconds (a sliding window, bounded memory)."""

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
