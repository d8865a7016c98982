"""Reports written together: each report is one CRDT document with a text per field (issue #16).

The merging is Yjs's, not ours: in the browser Yjs, here pycrdt (the Rust port Yrs, the same
binary update format). Any two copies that have seen the same updates hold the same text, in
whatever order and however often the updates arrived, so nobody's typing is ever refused as a
conflict. This module only wraps the few operations the server needs, as plain functions on a
document: no I/O, no clock, no database (the per-report log is store/reportlog.py's; the
subscriptions are cowriting.py's).

A form posted without JavaScript and a restored version arrive as whole texts, not as updates:
:func:`edit_to` turns "the text should now be this" into the smallest edit of the document, so
a concurrent writer's keystrokes outside the changed span are kept (the three-way merge such a
form needs first is harvest.py's).
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

from pycrdt import Doc, Text

from openspace.domain.errors import N_, Invalid
from openspace.domain.harvest import FIELDS, LIMITS

MAX_UPDATE_BYTES = 64 * 1024  # one update from one browser: a burst of typing, or an offline hour's
MAX_STATE_BYTES = 1024 * 1024  # a whole report with its history of deletions, bounded


def new_doc(*updates: bytes) -> Doc[Any]:
    """A document holding `updates` (a stored state first, then the tail of the log)."""
    doc: Doc[Any] = Doc()
    for name in FIELDS:
        doc.get(name, type=Text)
    for update in updates:
        doc.apply_update(update)
    return doc


def clone(doc: Doc[Any]) -> Doc[Any]:
    """A copy to change inside a transaction: the committed one is only replaced after commit."""
    return new_doc(doc.get_update())


def texts_of(doc: Doc[Any]) -> dict[str, str]:
    return {name: str(doc.get(name, type=Text)) for name in FIELDS}


def _utf8(text: str, index: int) -> int:
    """Yrs counts text positions in UTF-8 bytes; Python in code points."""
    return len(text[:index].encode())


def edit_to(doc: Doc[Any], texts: dict[str, str]) -> bytes | None:
    """Change `doc` so its fields read `texts`, by the smallest edits; the update, or None if equal."""
    before = doc.get_state()
    with doc.transaction():
        for name in FIELDS:
            field = doc.get(name, type=Text)
            old, new = str(field), texts.get(name, "")
            if old == new:
                continue
            # from the end, so earlier positions stay valid while later spans change
            for tag, i1, i2, j1, j2 in reversed(SequenceMatcher(None, old, new, autojunk=False).get_opcodes()):
                if tag == "equal":
                    continue
                start, stop = _utf8(old, i1), _utf8(old, i2)
                if stop > start:
                    del field[start:stop]
                if j2 > j1:
                    field.insert(start, new[j1:j2])
    return None if doc.get_state() == before else doc.get_update(before)


def take(doc: Doc[Any], update: bytes) -> bool:
    """Apply one update from a browser; True when it added anything (a duplicate adds nothing).

    Refused when it is not an update, too large, or makes a field longer than its limit (an
    update that only shortens an over-long field is taken). Refused means `doc` must be thrown
    away: the caller always works on a clone.
    """
    if not update or len(update) > MAX_UPDATE_BYTES:
        raise Invalid(N_("The server could not read that message."))
    lengths = {name: len(text) for name, text in texts_of(doc).items()}
    before = doc.get_state()
    try:
        doc.apply_update(update)
    except ValueError:
        raise Invalid(N_("The server could not read that message.")) from None
    if doc.get_state() == before:
        return False
    for name, text in texts_of(doc).items():
        if len(text) > LIMITS[name] and len(text) > lengths[name]:
            raise Invalid(N_("This is too long: at most %(max)s characters."), field=name, max=LIMITS[name])
    if len(doc.get_update()) > MAX_STATE_BYTES:
        raise Invalid(N_("This report has grown too large to take more."))
    return True
