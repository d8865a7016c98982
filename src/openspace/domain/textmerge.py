"""Three-way merge of a report's text by lines, in which nothing is lost.

Apart from harvest.py, which calls it when a form saved without JavaScript meets a newer
revision, so that harvest.py stays under 400 lines (#13): it is a pure text algorithm over
merge3 and knows nothing of boards or reports.
"""

from __future__ import annotations

from typing import Any

from merge3 import Merge3


def union_merge(base: str, ours: str, theirs: str) -> str:
    """Three-way merge by lines in which nothing is lost: where both sides changed the same lines,
    the others' lines come first, then ours (as git's "union" merge). No conflict page: a phone
    without JavaScript gets one text with every word in it, to tidy up at leisure."""
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    lines = [text.splitlines(True) for text in (base, ours, theirs)]
    for side in lines:  # a last line without its newline must not glue onto the other side's
        if side and not side[-1].endswith("\n"):
            side[-1] += "\n"
    merger = Merge3(lines[0], lines[1], lines[2])
    merged: list[str] = []
    for found in merger.merge_regions():
        region: tuple[Any, ...] = tuple(found)
        kind = region[0]
        if kind == "unchanged":
            merged.extend(merger.base[region[1] : region[2]])
        elif kind in ("a", "same"):
            merged.extend(merger.a[region[1] : region[2]])
        elif kind == "b":
            merged.extend(merger.b[region[1] : region[2]])
        else:  # conflict: (kind, zs, ze, as, ae, bs, be)
            zs, ze, a_s, a_e, b_s, b_e = region[1:]
            base_lines, a, b = merger.base[zs:ze], merger.a[a_s:a_e], merger.b[b_s:b_e]
            if len(a) == len(b) == len(base_lines) and all(
                x == z or y == z for x, y, z in zip(a, b, base_lines, strict=True)
            ):
                # neighbouring lines, each changed by one side only: both edits apply (diff3 calls
                # adjacent changes a conflict)
                merged.extend(y if x == z else x for x, y, z in zip(a, b, base_lines, strict=True))
            else:
                merged.extend(b)
                merged.extend(a)
    text = "".join(merged)
    return text if any(s.endswith("\n") for s in (ours, theirs)) else text.removesuffix("\n")
