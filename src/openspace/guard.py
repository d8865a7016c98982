"""Keeping secrets out of logs, and who may reach the operator's pages.

The facilitator link carries its secret in the path, so every log line that prints a path goes
through `redact`. Wrong links are counted with the other limits (`Limits.wrong_link`), per link and
per event, never per client address: behind a reverse proxy every visitor has the proxy's address,
and one person's typos must not lock out everyone else. The right link is never refused.
"""

from __future__ import annotations

import ipaddress
import logging
import re

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
