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

from pycrdt import Doc, Text, merge_updates

from openspace.domain.errors import N_, Invalid
from openspace.domain.harvest import FIELDS, LIMITS

MAX_UPDATE_BYTES = 64 * 1024  # one update from one browser: a burst of typing, or an offline hour's
MAX_STATE_BYTES = 4 * 1024 * 1024  # a whole report with its history (20,000 updates: ~0.9 MB), bounded
DIFF_LIMIT = 4_000_000  # characters compared × compared: beyond, a changed middle is replaced whole


def new_doc(*updates: bytes) -> Doc[Any]:
    """A document holding `updates` (a stored state first, then the tail of the log)."""
    doc: Doc[Any] = Doc()
    for name in FIELDS:
        doc.get(name, type=Text)
    for update in updates:
        doc.apply_update(update)
    return doc


def texts_of(doc: Doc[Any]) -> dict[str, str]:
    return {name: str(doc.get(name, type=Text)) for name in FIELDS}


def _utf8(text: str, index: int) -> int:
    """Yrs counts text positions in UTF-8 bytes; Python in code points."""
    return len(text[:index].encode())


def edit_to(doc: Doc[Any], texts: dict[str, str]) -> bytes | None:
    """Change `doc` so its fields read `texts`, by the smallest edits; the update, or None if equal."""
    before, edited = doc.get_state(), False
    with doc.transaction():
        for name in FIELDS:
            field = doc.get(name, type=Text)
            old, new = str(field), texts.get(name, "")
            if old == new:
                continue
            edited = True
            # the common ends first (linear), then a diff of the middle only: SequenceMatcher is
            # quadratic in what it compares, and a form or a restore usually changes a little
            head = 0
            while head < min(len(old), len(new)) and old[head] == new[head]:
                head += 1
            tail = 0
            while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
                tail += 1
            was, now = old[head : len(old) - tail], new[head : len(new) - tail]
            steps: list[tuple[str, int, int, int, int]] = [("replace", 0, len(was), 0, len(now))]
            if len(was) * len(now) <= DIFF_LIMIT:  # beyond, a rewrite, not an edit: the middle whole
                steps = [
                    (t, a, b, c, d) for t, a, b, c, d in SequenceMatcher(None, was, now, autojunk=False).get_opcodes()
                ]
            # from the end, so earlier positions stay valid while later spans change
            for tag, i1, i2, j1, j2 in reversed(steps):
                if tag == "equal":
                    continue
                i1, i2, j1, j2 = i1 + head, i2 + head, j1 + head, j2 + head
                start, stop = _utf8(old, i1), _utf8(old, i2)
                if stop > start:
                    del field[start:stop]
                if j2 > j1:
                    field.insert(start, new[j1:j2])
    # from the state vector before: every insert since, and the whole delete set (a deletion
    # does not move a state vector, so "did anything change" is `edited`, not the vectors)
    return doc.get_update(before) if edited else None


class Replica:
    """The server's copy of a report's document, kept as the merge of every update it took.

    Yrs's own queue of updates that arrived before those they build on can lose one when two
    wait at once (pycrdt 0.14.13: found by the property test in tests/domain/test_cowrite.py), so
    the server never relies on it: its copy is `merge_updates` of all it took, which is the same
    whatever the order and however often an update came, and the document is read from that.
    A copy is just those bytes, so a transaction changes a copy and a refusal drops it. The
    document itself is built only when needed and not kept: an open report costs its state and
    its texts in memory, not Yrs's structures (several times larger; see bench/cowrite.py).
    """

    __slots__ = ("_texts", "state")

    def __init__(self, state: bytes = b"") -> None:
        self.state = state
        self._texts: dict[str, str] | None = None

    @property
    def doc(self) -> Doc[Any]:
        """The document, built afresh from the state (never kept: see the class)."""
        return new_doc(*([self.state] if self.state else []))

    def copy(self) -> Replica:
        return Replica(self.state)

    def texts(self) -> dict[str, str]:
        if self._texts is None:
            self._texts = texts_of(self.doc)
        return dict(self._texts)

    def missing(self, vector: bytes | None) -> bytes:
        """What a copy at state `vector` lacks (everything without one)."""
        if not vector:
            return self.state or self.doc.get_update()
        try:
            return self.doc.get_update(vector)
        except ValueError:  # not a state vector: send everything
            return self.state or self.doc.get_update()

    def edit_to(self, texts: dict[str, str]) -> bytes | None:
        doc = self.doc
        update = edit_to(doc, texts)
        if update is not None:
            self.state = merge_updates(self.state, update) if self.state else update
        self._texts = texts_of(doc)
        return update

    def compact(self) -> bytes:
        """The state as the document encodes it (deleted text collected), to store."""
        self.state = self.doc.get_update()
        return self.state

    def take(self, update: bytes) -> bool:
        """Take one update from a browser; True when it added anything (a duplicate adds nothing),
        even if only what waits for an update it builds on: that is kept, logged and sent on too.

        Refused when it is not an update, too large, or makes a field longer than its limit (an
        update that only shortens an over-long field is taken); a refused update leaves the
        replica as it was.
        """
        if not update or len(update) > MAX_UPDATE_BYTES:
            raise Invalid(N_("The server could not read that message."))
        texts = self.texts()
        try:
            merged = merge_updates(self.state, update) if self.state else merge_updates(update)
            doc = new_doc(merged)
        except ValueError:
            raise Invalid(N_("The server could not read that message.")) from None
        if merged == self.state:  # merging is canonical: an update already taken changes no byte
            return False
        after = texts_of(doc)
        for name, text in after.items():
            if len(text) > LIMITS[name] and len(text) > len(texts[name]):
                raise Invalid(N_("This is too long: at most %(max)s characters."), field=name, max=LIMITS[name])
        if len(merged) > MAX_STATE_BYTES:
            raise Invalid(N_("This report has grown too large to take more."))
        self.state, self._texts = merged, after
        return True
