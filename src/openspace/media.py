"""Photos of flip-charts: re-encoded by the server before anyone else sees them, and kept outside the web root.

A phone photo is untrusted input in a complicated format. It can carry the place it was taken (GPS in EXIF),
claim billions of pixels in a few hundred bytes (a decompression bomb), or be a script wearing an image's
first bytes (a polyglot). So nothing a participant uploads is ever served as sent: :func:`process` decodes it
with Pillow, restricted to the few formats phones and browsers produce, and writes fresh JPEGs that carry
pixels and nothing else. :class:`PhotoStore` keeps those files under random names in a file store (a private
directory now) and hands out files only for names it could have made itself.

:func:`process` is pure (bytes in, bytes out) so it can be tested without a disk and run in a worker thread;
the photo store is the only part that touches files, and only through the file store.
"""

from __future__ import annotations

import io
import re
import secrets
import struct
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, ImageFile, ImageOps

from openspace.domain.errors import N_
from openspace.store.files import FileStore, LocalFolder

MAX_BYTES = 15 * 1024 * 1024  # per photo, as uploaded
MAX_PIXELS = 40_000_000  # well above any phone camera (48 MP sensors save 12 MP by default), far below a bomb
# per side too: a 1 x 39,999,999 PNG passes the total yet peaked at 1.5 GB while resizing (issue #21, case 8);
# phones save at most about 8,000 pixels a side, a panorama about 12,000
MAX_SIDE = 12_000
FULL_SIDE = 2000  # the longest side of the photo people see: a flip-chart stays legible, the file stays small
THUMB_SIDE = 400  # the longest side in the report's gallery

FULL_QUALITY = 85
THUMB_QUALITY = 80

UNREADABLE = N_("That file is not a photo we can read. Please send a JPEG, PNG or WebP picture.")
TOO_LARGE = N_("That photo is too large: at most %(max)s MB.")
TOO_MANY_PIXELS = N_("That picture has too many pixels to be a photo of a flip-chart.")
TOO_LONG_SIDE = N_("That picture is too long or too wide: at most %(max)s pixels on a side.")

# Pillow's limit is global: set it once for the whole process, so that Image.open refuses a bomb from its
# header (it raises above twice the limit and warns above it; process() turns the warning into an error).
# process() also checks the size itself, so the refusal does not depend on nobody changing this later.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Which Pillow plugins may even look at the bytes. Restricting Image.open keeps the parsers for EPS
# (Ghostscript), PSD, TIFF, ICO and dozens of other formats away from untrusted input.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
# What an opened image may turn out to be. MPO (several JPEGs in one, as some phones save) has no opener
# of its own: the JPEG plugin recognises it, so it is allowed here but not named to Image.open.
_ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF"})

# What Pillow raises on malformed input: its plugins use SyntaxError and struct.error for broken headers,
# OSError (UnidentifiedImageError is one) for unknown formats and truncated data, ValueError and friends
# for impossible sizes, modes or tables. All of them mean "not a photo we can read", never a server error.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    EOFError,
    SyntaxError,
    ArithmeticError,
    struct.error,
)

# warnings.catch_warnings() swaps the process-wide filter list and is not thread-safe before Python 3.14:
# two photos decoded at once in the thread pool could leave the filters of one call installed for good.
# Decoding one photo at a time also bounds memory (a 40 MP image is 120 MB per copy) on a small server.
_DECODE_LOCK = threading.Lock()

_WHITE = (255, 255, 255)


def _photo_error(cls: type[PhotoError], message: str, params: dict[str, Any]) -> PhotoError:
    return cls(message, **params)


class PhotoError(Exception):
    """An upload that is not a photo we accept; `message` is an N_-marked source string, translated at the edge.

    Like :class:`openspace.errors.DomainError`, the English text is kept apart from `params`, so each
    person reads the refusal in their own language with the numbers filled in after translation.
    """

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params: dict[str, Any] = params

    def __reduce__(self) -> tuple[Any, ...]:
        """Whole across a process boundary: photos are decoded in the job pool's workers (jobs.py)."""
        return (_photo_error, (type(self), self.message, self.params))


@dataclass(frozen=True, slots=True)
class Processed:
    """A photo ready to store: two JPEGs without metadata, and their sizes for the page's width/height."""

    full: bytes
    thumb: bytes
    width: int
    height: int
    thumb_width: int
    thumb_height: int


def process(data: bytes) -> Processed:
    """Decode an uploaded picture and re-encode it as a clean, upright, bounded JPEG and thumbnail.

    Raises :class:`PhotoError` for anything that is not an acceptable photo. CPU-bound and serialised by a
    lock: call it from a worker thread (e.g. Starlette's run_in_threadpool), not on the event loop.
    """
    if len(data) > MAX_BYTES:
        raise PhotoError(TOO_LARGE, max=MAX_BYTES // (1024 * 1024))
    if not data:
        raise PhotoError(UNREADABLE)
    with _DECODE_LOCK, warnings.catch_warnings():
        # Some libraries (WeasyPrint) switch this on for the whole process when imported: a
        # truncated upload must still be refused, so it is set here, every time, under the lock.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        # Pillow warns about harmless oddities (corrupt EXIF, a malformed MPO read as plain JPEG); the
        # metadata is thrown away anyway, so those must not refuse a photo. A bomb warning must.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _process(data)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise PhotoError(TOO_MANY_PIXELS) from error
        except _DECODE_ERRORS as error:
            raise PhotoError(UNREADABLE) from error


def _process(data: bytes) -> Processed:
    # verify() checks what it can without decoding (chunk CRCs for PNG) but leaves the image unusable,
    # so the picture is opened a second time to decode it.
    with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as probe:
        _check_header(probe)
        probe.verify()
    with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as image:
        _check_header(image)
        if image.format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers FULL_SIDE: big photos
            # then cost a fraction of the memory and time, and are resized from there anyway.
            image.draft("RGB", (FULL_SIDE, FULL_SIDE))
        image.load()  # GIF, WebP and MPO: the first frame only
        ImageOps.exif_transpose(image, in_place=True)  # the way the phone was held
        has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
        work = image.convert("RGBA" if has_alpha else "RGB")
    full = _flatten(_fit(work, FULL_SIDE))
    thumb = _fit(full, THUMB_SIDE)
    return Processed(
        full=_jpeg(full, FULL_QUALITY),
        thumb=_jpeg(thumb, THUMB_QUALITY),
        width=full.width,
        height=full.height,
        thumb_width=thumb.width,
        thumb_height=thumb.height,
    )


def _check_header(image: Image.Image) -> None:
    """Refuse by what the header says, before a single pixel is decoded."""
    if image.format not in _ALLOWED_FORMATS:
        raise PhotoError(UNREADABLE)
    width, height = image.size
    if width < 1 or height < 1:
        raise PhotoError(UNREADABLE)
    if width * height > MAX_PIXELS:
        raise PhotoError(TOO_MANY_PIXELS)
    if max(width, height) > MAX_SIDE:
        raise PhotoError(TOO_LONG_SIDE, max=MAX_SIDE)


def _fit(image: Image.Image, side: int) -> Image.Image:
    """Shrink so the longest side is at most `side`, keeping the aspect ratio; never enlarge."""
    width, height = image.size
    longest = max(width, height)
    if longest <= side:
        return image
    size = (max(1, round(width * side / longest)), max(1, round(height * side / longest)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _flatten(image: Image.Image) -> Image.Image:
    """Paint onto a new white RGB canvas: transparency becomes paper, and no `info` (EXIF, ICC, XMP,
    comments) or `encoderinfo` of the upload can ride along into the saved file."""
    canvas = Image.new("RGB", image.size, _WHITE)
    canvas.paste(image, (0, 0), image.getchannel("A") if image.mode == "RGBA" else None)
    return canvas


def _jpeg(image: Image.Image, quality: int) -> bytes:
    """Encode as a baseline-compatible progressive JPEG with no metadata segments at all."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True, icc_profile=None)
    return buffer.getvalue()


_NAME = re.compile(r"[A-Za-z0-9_-]{16,64}")


class PhotoStore:
    """Processed photos under random names, kept in a file store (store/files.py): by default a
    private local folder outside the web root.

    Each photo is two files, `<name>.jpg` and `<name>.thumb.jpg`. The database keeps only the name;
    this class is the single way back from a name to its files, and it refuses anything but a name
    of the shape :meth:`save` makes.
    """

    def __init__(self, files: FileStore | Path) -> None:
        self.files: FileStore = LocalFolder(files) if isinstance(files, Path) else files

    @property
    def root(self) -> Path | None:
        """The local folder the photos are in, if they are in one (the PDF writer reads by file URL)."""
        return self.files.root if isinstance(self.files, LocalFolder) else None

    def save(self, photo: Processed) -> str:
        """Write both files atomically and return their new random name."""
        name = secrets.token_urlsafe(16)
        while name.startswith("-"):  # a file named "-x.jpg" would read as an option to shell tools
            name = secrets.token_urlsafe(16)
        self.files.put(self._filename(name, thumb=True), photo.thumb)
        try:
            self.files.put(self._filename(name, thumb=False), photo.full)
        except BaseException:
            self.files.delete(self._filename(name, thumb=True))
            raise
        return name

    def path(self, name: str, thumb: bool) -> Path | None:
        """The local file for `name`, or None if the name is malformed, escapes the root or has no file."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            return None
        return self.files.local_path(self._filename(name, thumb))

    def exists(self, name: str, thumb: bool) -> bool:
        return (
            isinstance(name, str)
            and _NAME.fullmatch(name) is not None
            and self.files.exists(self._filename(name, thumb))
        )

    def open(self, name: str, thumb: bool) -> BinaryIO:
        """The photo's file for reading; FileNotFoundError if the name is malformed or has no file."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise FileNotFoundError(name)
        return self.files.open(self._filename(name, thumb))

    def delete(self, name: str) -> None:
        """Remove both files of a photo; a name that is malformed or already gone is not an error."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            return
        for thumb in (False, True):
            self.files.delete(self._filename(name, thumb))

    def delete_all(self, names: Iterable[str]) -> None:
        """Remove the files of many photos, e.g. when a session or a whole event is deleted."""
        for name in names:
            self.delete(name)

    def close(self) -> None:
        """At shutdown: the file store lets go of its connections, if it has any."""
        self.files.close()

    @staticmethod
    def _filename(name: str, thumb: bool) -> str:
        return f"{name}.thumb.jpg" if thumb else f"{name}.jpg"
