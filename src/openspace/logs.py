"""Log lines (#17): plain text for a person at a terminal, or one JSON object per line for a log
collector (the `log_format` setting), through the standard logging module.

Each line says where it comes from without anyone having to pass it along: the request id (the
`X-Request-ID` a proxy sent, if it looks like one, else made here, and echoed in the answer, so a
line in the log and a complaint about one request can be matched), the event's slug while a page
or socket of one event is served, and the worker (its process id). A line about a change adds its
`seq` and `event_id` (`extra=`). What people wrote never goes into a log: no names, no topic or
report texts (log calls pass ids, kinds and numbers only; tests/test_logs.py checks a day's log),
and facilitator secrets are redacted from every line (guard.py).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openspace.guard import RedactSecrets

REQUEST_ID: ContextVar[str] = ContextVar("openspace_request_id", default="")
EVENT: ContextVar[str] = ContextVar("openspace_event", default="")
FIELDS = ("event", "event_id", "seq", "request_id", "worker")  # besides time, level, logger, message
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
GOOD_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Context(logging.Filter):
    """Adds the request id, the event's slug and the worker to every record that passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = REQUEST_ID.get()
        if not getattr(record, "event", ""):
            record.event = EVENT.get()
        record.worker = os.getpid()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the fields
    above that the line has; a traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value not in (None, ""):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(body, default=str).decode()


class TextFormatter(logging.Formatter):
    """The plain line as before, with the event and request id after it when there are any."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        where = [f"{key}={value}" for key in ("event", "seq", "request_id") if (value := getattr(record, key, ""))]
        return f"{line} [{' '.join(where)}]" if where else line


def configure(log_format: str, level: str) -> None:
    """The root logger writes to stderr in `log_format` ("text" or "json"); every logger's lines
    (uvicorn's too, which propagate to the root) get the context and lose any secret."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(Context())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())


class RequestIds:
    """ASGI middleware: a request id for each request and socket, in context and in the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if GOOD_ID.fullmatch(given) else secrets.token_hex(8)
        REQUEST_ID.set(request_id)
        EVENT.set("")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)
