"""Gzip for a page made of parts, what is the same for everyone compressed once (issue #20).

At a join storm every phone loads the participant page, about 126 KB, and compressing it took
about 1 ms of CPU per phone, more than rendering it once it was shared (web/personal.py). Most of
the page is the same for everyone at one seq: only the person's own parts and their CSRF token
differ. A gzip body is one deflate stream, and a deflate stream may be cut into pieces at a full
flush (byte-aligned, and nothing after it refers back before it): so each long stretch that is
the same for everyone is deflated once, on its own, and kept (`Stretch`); each answer deflates
only its own parts between them, and adds the gzip header and the trailer (CRC-32 and length of
the whole page). The pieces cost a little in size (a stretch cannot refer to what came before
it): the benchmark reports the page's bytes on the wire.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

LEVEL = 6  # as the app's GZipMiddleware (app.py): for the stretches deflated once
# for what is deflated per answer (a joined page's 78 KB between its 60 tokens): half the CPU of
# level 6 (0.26 ms against 0.53 per page) for 5 % more bytes on the wire (13.7 KB against 13.0)
RUN_LEVEL = 3
LONG = 2048  # bytes: a shared stretch shorter than this is deflated with the person's parts
SMALL = 500  # bytes: a body shorter than this is sent as it is (the app's GZipMiddleware: app.py)
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # gzip, deflate, no name, no time, unknown OS


@dataclass
class Stretch:
    """Text the same for everyone, deflated once when first sent compressed."""

    text: str
    data: bytes = field(init=False, repr=False)
    packed: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.data = self.text.encode()

    def deflated(self) -> bytes:
        if self.packed is None:
            squeeze = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
            self.packed = squeeze.compress(self.data) + squeeze.flush(zlib.Z_FULL_FLUSH)
        return self.packed


Part = str | Stretch


def text(parts: list[Part]) -> str:
    return "".join(p.text if isinstance(p, Stretch) else p for p in parts)


def gzip(parts: list[Part]) -> bytes:
    """The parts as one gzip body: the stretches as deflated once, the rest deflated now (each
    run of them at once, ended by a full flush so that the next stretch can follow it)."""
    out, crc, size, run = [HEADER], 0, 0, []
    squeeze = zlib.compressobj(RUN_LEVEL, zlib.DEFLATED, -15)
    for part in [*parts, None]:
        if isinstance(part, str):
            run.append(part)
            continue
        if run:
            data = "".join(run).encode()
            out += [squeeze.compress(data), squeeze.flush(zlib.Z_FINISH if part is None else zlib.Z_FULL_FLUSH)]
            crc, size, run = zlib.crc32(data, crc), size + len(data), []
        elif part is None:
            out.append(squeeze.flush(zlib.Z_FINISH))
        if part is not None:
            out.append(part.deflated())
            crc, size = zlib.crc32(part.data, crc), size + len(part.data)
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


@dataclass
class Stretches:
    """The long shared stretches of one shared page, by where they are in it (bounded)."""

    limit: int = 512
    kept: dict[tuple[int, int], Stretch] = field(default_factory=dict)

    def part(self, html: str, start: int, end: int) -> Part:
        """`html[start:end]`: kept as a stretch if long, else plain text to deflate per answer."""
        if end - start < LONG:
            return html[start:end]
        found = self.kept.get((start, end))
        if found is None:
            found = Stretch(html[start:end])
            if len(self.kept) < self.limit:
                self.kept[(start, end)] = found
        return found


def gzip_small(data: bytes) -> bytes:
    """A short body (a live page's answer, a few KB) as gzip, in one call: the gzip middleware's
    file object cost twice as much, and a hall of phones asks after every change (bench/hall.py)."""
    squeeze = zlib.compressobj(LEVEL, zlib.DEFLATED, 16 + 15)
    return squeeze.compress(data) + squeeze.flush()
