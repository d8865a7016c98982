"""Translations: Babel catalogs, compiled in memory from the `.po` files at start-up.

Compiling at start-up means there is no generated `.mo` file to forget to rebuild or commit. The
language of the current request lives in a context variable, so templates, error messages and
the websocket handler all translate with the same `gettext` and no one passes it around.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from importlib import resources
from io import BytesIO

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("sv", "en")
LANGUAGE_NAMES = {"sv": "Svenska", "en": "English"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("openspace_language", default="en")


@cache
def translations(language: str) -> Translations:
    po = resources.files("openspace").joinpath("locale", language, "LC_MESSAGES", "messages.po")
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def set_language(language: str) -> contextvars.Token[str]:
    return _current.set(language if language in LANGUAGES else "en")


def current_language() -> str:
    return _current.get()


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Translate in `language` for a while (an export speaks its event's language, whoever asks)."""
    token = set_language(language)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(_current.get()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ungettext(singular, plural, n)


def choose_language(cookie: str | None, accept_language: str | None, default: str) -> str:
    """A person's own choice first, then the event's language, then their browser's."""
    if cookie in LANGUAGES:
        return cookie
    if default in LANGUAGES:
        return default
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in LANGUAGES:
            return code
    return "en"


def format_day(day: str, language: str | None = None, pattern: str = "EEEE d MMMM") -> str:
    try:
        value = date.fromisoformat(day)
    except ValueError:
        return day
    return format_date(value, pattern, locale=Locale.parse(language or current_language()))
