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

from pycrdt import Doc, Text, get_update, merge_updates

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


def _varuints(data: bytes, at: int, count: int) -> tuple[list[int], int]:
    """`count` lib0 variable-length unsigned integers from `data` at `at`, and where they end."""
    values: list[int] = []
    for _ in range(count):
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        values.append(value)
    return values, at


def _clocks(vector: bytes) -> dict[int, int]:
    """A state vector as {client: clock}."""
    (count,), at = _varuints(vector, 0, 1)
    pairs, _ = _varuints(vector, at, 2 * count)
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def _integrated(doc: Doc[Any], update: bytes) -> bool:
    """Whether `doc` holds all of `update`: none of its items wait in Yrs's queue for one they
    build on (what `doc` lacks of them is nothing), and it deletes only items `doc` has."""
    vector = doc.get_state()
    lacking = get_update(update, vector)  # the update's items past `vector`, and its delete set
    if lacking[0] != 0:
        return False
    clocks = _clocks(vector)
    (clients,), at = _varuints(lacking, 1, 1)
    for _ in range(clients):
        (client, ranges), at = _varuints(lacking, at, 2)
        spans, at = _varuints(lacking, at, 2 * ranges)
        if any(clock + length > clocks.get(client, 0) for clock, length in zip(spans[::2], spans[1::2], strict=True)):
            return False
    return True


class Replica:
    """The server's copy of a report's document.

    Yrs's own queue of updates that arrived before those they build on can lose one when two
    wait at once (pycrdt 0.14.13: found by the property test in tests/domain/test_cowrite.py), so
    the server never relies on it. It keeps a live document only while that document provably
    holds every update taken (:func:`_integrated`: nothing waits in the queue), which is the usual
    case (a browser's updates build on what the server sent it): an update is then applied to it
    directly, in proportion to the update, not the report. Otherwise (an update that came early,
    or a refusal to undo) the document is dropped, and the state is the `merge_updates` of all
    taken, the same whatever the order and however often an update came; a document is built
    from that, and kept again once it holds everything.

    The state is kept as bytes plus the updates taken since (merged when asked for), so the copy
    held in memory is always the committed one plus this transaction's updates, and a refused
    update is undone by dropping the document. A live document costs more memory than its state
    (several times, fragmented: see bench/cowrite.py), so :meth:`settle` drops it from reports
    nobody is typing in (cowriting.py keeps a few).
    """

    __slots__ = ("_doc", "_size", "_tail", "_texts", "_base")

    def __init__(self, state: bytes = b"") -> None:
        self._base = state
        self._tail: list[bytes] = []  # updates taken since `_base`
        self._size = len(state)  # bytes in `_base` and `_tail`: a bound on the merged state's size
        self._doc: Doc[Any] | None = None  # holds exactly `_base` + `_tail`, with nothing waiting
        self._texts: dict[str, str] | None = None

    @property
    def state(self) -> bytes:
        """The document's state as one update (what is stored, and what a fresh copy reads)."""
        if self._tail:
            parts = [self._base, *self._tail] if self._base else self._tail
            self._base = self._doc.get_update() if self._doc is not None else merge_updates(*parts)
            self._tail, self._size = [], len(self._base)
        return self._base

    @property
    def doc(self) -> Doc[Any]:
        """A document built afresh from the state (to read, not to keep)."""
        return new_doc(*([self.state] if self.state else []))

    def _live(self) -> Doc[Any]:
        """The live document: built from the state if there is none, and kept if it holds it all."""
        if self._doc is None:
            state = self.state
            doc = new_doc(*([state] if state else []))
            if not state or _integrated(doc, state):
                self._doc = doc
            return doc
        return self._doc

    def settle(self) -> None:
        """Keep the state only, not the live document (memory)."""
        _ = self.state
        self._doc = None

    def copy(self) -> Replica:
        return Replica(self.state)

    def texts(self) -> dict[str, str]:
        if self._texts is None:
            if self._doc is None and not self._base and not self._tail:
                self._texts = dict.fromkeys(FIELDS, "")  # nothing yet: no document to build
            else:
                self._texts = texts_of(self._doc if self._doc is not None else self.doc)
        return dict(self._texts)

    def missing(self, vector: bytes | None) -> bytes:
        """What a copy at state `vector` lacks (everything without one)."""
        if vector:
            try:
                return self._doc.get_update(vector) if self._doc is not None else get_update(self.state, vector)
            except ValueError:  # not a state vector: send everything
                pass
        return self.state or self.doc.get_update()

    def edit_to(self, texts: dict[str, str]) -> bytes | None:
        doc = self._live()
        update = edit_to(doc, texts)
        if update is not None:
            self._take(update)
        self._texts = texts_of(doc)
        return update

    def _take(self, update: bytes) -> None:
        self._tail.append(update)
        self._size += len(update)

    def compact(self) -> bytes:
        """The state as the document encodes it (deleted text collected), to store."""
        self._base, self._tail = (self._doc or self.doc).get_update(), []
        self._size = len(self._base)
        return self._base

    def take(self, update: bytes) -> bool:
        """Take one update from a browser; True when it added anything (a duplicate adds nothing),
        even if only what waits for an update it builds on: that is kept, logged and sent on too.

        Refused when it is not an update, too large, or makes a field longer than its limit (an
        update that only shortens an over-long field is taken); a refused update leaves the
        replica as it was.
        """
        if not update or len(update) > MAX_UPDATE_BYTES:
            raise Invalid(N_("The server could not read that message."))
        try:
            merge_updates(update)  # read whole before any document is touched: garbage raises here
        except ValueError:
            raise Invalid(N_("The server could not read that message.")) from None
        texts = self.texts()
        doc = self._doc
        if doc is not None:
            before = _clocks(doc.get_state())
            doc.apply_update(update)
            if not _integrated(doc, update):  # it waits for one it builds on: merge, as below
                self._doc = doc = None
            else:
                after = texts_of(doc)
                if _clocks(doc.get_state()) == before and after == texts:
                    return False  # had it already
                self._check(texts, after, self._size + len(update), undo=True)
                self._take(update)
                self._texts = after
                return True
        state = self.state
        merged = merge_updates(state, update) if state else merge_updates(update)
        if merged == state:  # merging is canonical: an update already taken changes no byte
            return False
        doc = new_doc(merged)
        after = texts_of(doc)
        self._check(texts, after, len(merged), undo=False)
        self._base, self._tail, self._size, self._texts = merged, [], len(merged), after
        if _integrated(doc, merged):  # nothing waits any more: typing goes the short way again
            self._doc = doc
        return True

    def _check(self, texts: dict[str, str], after: dict[str, str], size: int, *, undo: bool) -> None:
        """Refuse a field grown past its limit, or a report past its size; `undo`: the live
        document took the update already, so drop it (the state without the update remains)."""
        for name, text in after.items():
            if len(text) > LIMITS[name] and len(text) > len(texts[name]):
                if undo:
                    self._doc = None
                raise Invalid(N_("This is too long: at most %(max)s characters."), field=name, max=LIMITS[name])
        if size > MAX_STATE_BYTES:
            if undo:
                self._doc = None
            raise Invalid(N_("This report has grown too large to take more."))
