"""Every error a person can meet, in one small tree.

    OpenspaceError
    └── DomainError           a command was refused; nothing changed
        ├── Invalid           the input is wrong (too long, missing, malformed)   -> 400
        ├── Forbidden         the person may not do this                          -> 403
        ├── NotFound          the thing is gone (withdrawn, removed, other event) -> 404
        ├── Conflict          someone else changed it first                       -> 409
        ├── SlowDown          too many actions too fast; send it again shortly    -> 429
        └── Unavailable       the server could not save; try again                -> 503

Messages are English source strings marked with :func:`N_` and translated at the edge, in the
language of the person who sees them, with `params` interpolated after translation.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Mark a string for extraction into the catalogs; translation happens where it is shown."""
    return message


# a refusal for load, not for anything the person did: the job pool full, live pages waiting too long
BUSY = N_("The server is busy with other work. Please try again in a moment.")


class OpenspaceError(Exception):
    pass


class DomainError(OpenspaceError):
    status = 400
    code = "invalid"

    def __init__(self, message: str, field: str | None = None, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.field = field
        self.params = params

    def __reduce__(self) -> tuple[Any, ...]:
        """Whole across a process boundary (a job's refusal, jobs.py): message, field and params."""
        return (_rebuild, (type(self), self.message, self.field, self.params))

    def to_dict(self, gettext: Any) -> dict[str, Any]:
        """The JSON shape of a refusal, as the websocket and the JSON endpoints send it."""
        text = gettext(self.message)
        return {
            "code": self.code,
            "field": self.field,
            "message": text % self.params if self.params else text,
        }


class Invalid(DomainError):
    status = 400
    code = "invalid"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class SlowDown(DomainError):
    """Too many actions too fast: not refused for good, the client keeps it and sends it again."""

    status = 429
    code = "slow_down"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"


def _rebuild(cls: type[DomainError], message: str, field: str | None, params: dict[str, Any]) -> DomainError:
    return cls(message, field, **params)
