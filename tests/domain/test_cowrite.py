"""The shared document of a report (issue #16): copies converge whatever the order and however
often updates arrive; whole texts become the smallest edits; what a browser sends is checked."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openspace.domain import cowrite
from openspace.domain.errors import Invalid
from openspace.domain.harvest import FIELDS

# an edit: (which copy, which field, where as a fraction of the text, how much to delete, what to insert)
EDITS = st.tuples(
    st.integers(0, 2),
    st.sampled_from(FIELDS),
    st.floats(0, 1),
    st.integers(0, 4),
    st.text(alphabet="abcåäö😀\n ", max_size=5),
)


def edit(replica: cowrite.Replica, field: str, where: float, delete: int, insert: str) -> bytes:
    text = replica.texts()[field]
    at = int(where * len(text))
    new = text[:at] + insert + text[at + delete :]
    update = replica.edit_to({**replica.texts(), field: new})
    assert replica.texts()[field] == new
    return update if update is not None else replica.doc.get_update()


@settings(max_examples=150, deadline=None)
@given(
    edits=st.lists(EDITS, max_size=25),
    early=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 100)), max_size=20),
    order=st.randoms(use_true_random=False),
)
def test_server_copies_converge_in_any_delivery_order_with_duplicates(
    edits: list[Any], early: list[Any], order: Any
) -> None:
    """Three copies edit concurrently, hear of some updates early (some twice), then get every
    update in a shuffled order with repeats: all three read the same texts, which are the texts
    of every edit applied in the order it was made where no two were concurrent."""
    copies = [cowrite.Replica() for _ in range(3)]
    sent: list[bytes] = []
    for step, (who, field, where, delete, insert) in enumerate(edits):
        sent.append(edit(copies[who], field, where, delete, insert))
        for to, pick in early[step : step + 1]:  # now and then one copy hears of one update early
            copies[to].take(sent[pick % len(sent)])
    for replica in copies:
        deliveries = sent + [u for u in sent if order.random() < 0.3]  # duplicates
        order.shuffle(deliveries)
        for update in deliveries:
            replica.take(update)
    texts = [replica.texts() for replica in copies]
    assert texts[0] == texts[1] == texts[2]
    assert texts[0] == cowrite.Replica(copies[0].compact()).texts()  # and the stored state reads the same


@given(st.text(max_size=40), st.text(max_size=40))
def test_whole_texts_become_edits_that_any_copy_can_apply(old: str, new: str) -> None:
    doc = cowrite.new_doc()
    cowrite.edit_to(doc, {"discussion": old})
    other = cowrite.new_doc(doc.get_update())
    update = cowrite.edit_to(doc, {"discussion": new})
    assert (update is None) == (old == new)
    if update is not None:
        other.apply_update(update)
    assert cowrite.texts_of(other)["discussion"] == new == cowrite.texts_of(doc)["discussion"]


def test_an_edit_keeps_a_concurrent_writers_text_outside_its_span() -> None:
    """A form saved without JavaScript changes only what it changed: Lisa's live typing stays."""
    server = cowrite.new_doc()
    cowrite.edit_to(server, {"discussion": "Ett. Två. Tre."})
    lisa = cowrite.new_doc(server.get_update())
    lisas = cowrite.edit_to(lisa, {"discussion": "Ett, sa Lisa. Två. Tre."})
    forms = cowrite.edit_to(server, {"discussion": "Ett. Två. Tre, sa Olle."})
    assert lisas is not None and forms is not None
    server.apply_update(lisas)
    lisa.apply_update(forms)
    assert (
        cowrite.texts_of(server)["discussion"]
        == cowrite.texts_of(lisa)["discussion"]
        == ("Ett, sa Lisa. Två. Tre, sa Olle.")
    )


def test_what_a_browser_sends_is_checked() -> None:
    replica = cowrite.Replica()
    update = cowrite.Replica().edit_to({"insights": "Hej"})
    assert update is not None
    assert replica.take(update) is True
    assert replica.take(update) is False  # a duplicate adds nothing
    deletion = cowrite.Replica(replica.state).edit_to({"insights": "H"})
    assert deletion is not None and replica.take(deletion) is True and replica.texts()["insights"] == "H"
    for bad in (b"", b"\x01\x02garbage", b"x" * (cowrite.MAX_UPDATE_BYTES + 1)):
        with pytest.raises(Invalid):
            cowrite.Replica().take(bad)
    too_long = cowrite.Replica().edit_to({"participants": "x" * 2001})
    assert too_long is not None
    with pytest.raises(Invalid) as refused:
        replica.take(too_long)
    assert refused.value.field == "participants" and replica.texts()["participants"] == ""  # left as it was


def test_updates_that_build_on_what_the_server_holds_are_not_merged_into_a_new_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A keystroke costs in proportion to itself, not to the report: an update that builds on what
    the server holds goes into its kept document, built once. One that comes early (it waits for
    another) makes the server merge and build again, until the one it waits for comes; a refused
    one leaves the texts as they were, and typing goes on the short way after either."""
    typist = cowrite.Replica()
    updates = [typist.edit_to({"discussion": "abcdefghijkl"[: n + 1]}) for n in range(12)]
    assert all(u is not None for u in updates)
    built: list[int] = []
    real = cowrite.new_doc

    def counted(*parts: bytes) -> Any:
        built.append(1)
        return real(*parts)

    monkeypatch.setattr(cowrite, "new_doc", counted)
    server = cowrite.Replica()
    for update in updates[:6]:
        assert update is not None and server.take(update)
    assert len(built) <= 1 and server.texts()["discussion"] == "abcdef"
    assert server.take(updates[7] or b"") and server.texts()["discussion"] == "abcdef"  # waits for 6
    assert server.take(updates[6] or b"") and server.texts()["discussion"] == "abcdefgh"
    too_long = cowrite.Replica(server.state).edit_to({"discussion": "abcdefgh", "participants": "x" * 2001})
    with pytest.raises(Invalid):
        server.take(too_long or b"")
    assert server.texts()["participants"] == "" and server.take(updates[7] or b"") is False  # had it
    built.clear()
    for update in updates[8:]:
        assert update is not None and server.take(update)
    assert len(built) <= 1 and server.texts()["discussion"] == "abcdefghijkl"
    assert cowrite.Replica(server.state).texts() == server.texts()
