"""The proceedings as one self-contained HTML file, streamed, and as a PDF of the same template.

Two constraints shape the writers:

* The HTML must open anywhere, offline, years later, and pass the proceedings page's CSP
  (``default-src 'none'; img-src data:; style-src 'unsafe-inline'``). So it carries its own styles,
  its photos as ``data:`` URIs and the attendance chart as inline SVG: no script, no external reference.
* An event can collect a couple of hundred phone photos of flip-charts. Holding them all in memory at
  once, as base64, could take the server down in the middle of the closing circle. So
  :func:`write_html` streams: the template only marks where each photo goes, and the writer copies
  that photo from disk into `out`, base64-encoding a bounded chunk at a time.

The PDF is WeasyPrint's rendering of the same template, except that photos are ``file://`` URLs read
through a fetcher that refuses everything but the files of the photo store: nothing in a report can
make the server fetch a URL, and no base64 copy of the photos is ever built.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from PIL import ImageFile

from openspace import i18n, media
from openspace.assets import asset_dir
from openspace.domain.model import Photo
from openspace.exports.proceedings import (
    HTML_FIELDS,
    Book,
    dates_text,
    due_text,
    facts,
    field_label,
    here_text,
    licence_text,
    photo_alt,
    short_time,
)
from openspace.media import PhotoStore

TEMPLATE = "proceedings.html"

# Photos are copied into the HTML in chunks of this many bytes: a multiple of 3, so the base64 of the
# chunks, written one after the other, is exactly the base64 of the whole file.
_PHOTO_CHUNK = 3 * 64 * 1024
_TEXT_BUFFER = 64 * 1024  # characters of HTML collected before each write to `out`


# --- HTML -----------------------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    """Our own environment: autoescaped, the app's gettext, and nothing else the app's pages need."""
    env = Environment(
        loader=FileSystemLoader(str(asset_dir("templates"))),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        field_label=field_label,
        dates_text=dates_text,
        licence_text=licence_text,
        facts=facts,
        short_time=short_time,
        here_text=here_text,
        photo_alt=photo_alt,
        due_text=due_text,
        html_fields=HTML_FIELDS,
    )
    return env


def _render(book: Book, photo_src: Callable[[Photo], str]) -> Iterator[str]:
    """The document in the pieces Jinja produces it in; `photo_src` gives each photo's src ("" = leave out)."""
    template = _environment().get_template(TEMPLATE)
    return template.generate(
        book=book,
        event=book.event,
        lang=i18n.current_language(),
        chart=Markup(book.chart_svg),  # noqa: S704 - built by attendance_chart, every text in it escaped
        photo_src=photo_src,
    )


def write_html(book: Book, out: BinaryIO, photos: PhotoStore, *, embed: bool = True) -> None:
    """Write the proceedings as one self-contained HTML file to `out`, streaming.

    With `embed`, each full photo becomes a ``data:`` URI, copied from the photo store a chunk at a time while
    the document is written, so memory stays bounded whatever the number of photos. Without it, photos
    are ``file://`` URLs of the photo store: only for a reader on this machine, such as WeasyPrint.
    A photo whose file is gone is left out.
    """
    nonce = secrets.token_hex(12)  # unguessable, so no text a person typed can pose as a photo's place
    marker = re.compile(re.escape(f"\ue000{nonce}:") + r"(\d+)\ue001")
    pending: list[str] = []  # names of photos whose marker is in the text

    def photo_src(photo: Photo) -> str:
        if not embed:
            path = photos.path(photo.name, thumb=False)
            return path.as_uri() if path is not None else ""
        if not photos.exists(photo.name, thumb=False):
            return ""
        pending.append(photo.name)
        return f"\ue000{nonce}:{len(pending) - 1}\ue001"

    writer = _Writer(out, photos)
    for piece in _render(book, photo_src):
        start = 0
        for found in marker.finditer(piece):
            writer.text(piece[start : found.start()])
            writer.photo(pending[int(found.group(1))])
            start = found.end()
        writer.text(piece[start:])
    writer.flush()


class _Writer:
    """Collects small pieces of HTML into larger writes, and copies photos in as base64."""

    def __init__(self, out: BinaryIO, photos: PhotoStore) -> None:
        self.out = out
        self.photos = photos
        self.pieces: list[str] = []
        self.size = 0

    def text(self, piece: str) -> None:
        if piece:
            self.pieces.append(piece)
            self.size += len(piece)
            if self.size >= _TEXT_BUFFER:
                self.flush()

    def photo(self, name: str) -> None:
        self.flush()
        try:
            file = self.photos.open(name, thumb=False)
        except OSError:  # removed since the template looked: an empty image, but the book is still whole
            self.out.write(b"data:,")
            return
        self.out.write(b"data:image/jpeg;base64,")
        rest = b""
        with file:
            while chunk := file.read(_PHOTO_CHUNK):
                data = rest + chunk
                cut = len(data) - len(data) % 3
                self.out.write(base64.b64encode(data[:cut]))
                rest = data[cut:]
        if rest:
            self.out.write(base64.b64encode(rest))

    def flush(self) -> None:
        if self.pieces:
            self.out.write("".join(self.pieces).encode())
            self.pieces.clear()
            self.size = 0


# --- PDF ------------------------------------------------------------------------------------------


def write_pdf(book: Book, out: BinaryIO, photos: PhotoStore) -> None:
    """Write the proceedings as a PDF (A4, a page per session) to `out`, via WeasyPrint.

    The HTML is the same template; photos are ``file://`` URLs of the store, which the fetcher below
    reads straight from disk, so the document string stays small. WeasyPrint itself keeps the photos
    it embeds in memory, so a PDF of many photos costs more memory than the HTML.
    """
    html_class, fetcher_class = _weasyprint()

    def photo_src(photo: Photo) -> str:
        path = photos.path(photo.name, thumb=False)
        if path is not None:
            return path.as_uri()
        # a store without local files (PostgreSQL's): the fetcher below reads the photo itself
        return f"{PHOTO_SCHEME}:{photo.name}" if photos.exists(photo.name, thumb=False) else ""

    document = "".join(_render(book, photo_src))
    base_url = photos.root.resolve().as_uri() + "/" if photos.root is not None else None
    html_class(string=document, base_url=base_url, url_fetcher=fetcher_class(photos)).write_pdf(out)


PHOTO_SCHEME = "openspace-photo"  # a photo by name, for WeasyPrint, when the store has no local files


def store_file(photos: PhotoStore, url: str) -> Path | None:
    """The photo file a ``file://`` URL names, if it is one of the store's; None for any other URL."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        return None
    path = Path(url2pathname(parts.path))
    for suffix, thumb in ((".thumb.jpg", True), (".jpg", False)):
        if path.name.endswith(suffix):
            found = photos.path(path.name[: -len(suffix)], thumb=thumb)
            if found is not None and path.parent.resolve() == found.parent:
                return found
            return None
    return None


def weasyprint_loaded() -> None:
    """Load WeasyPrint now, not at the first PDF (exports/preload.py)."""
    _weasyprint()


@cache
def _weasyprint() -> tuple[Any, Any]:
    """WeasyPrint's HTML class and our URL fetcher for it, made on first use (WeasyPrint loads Pango).

    Importing WeasyPrint sets Pillow's process-wide ``ImageFile.LOAD_TRUNCATED_IMAGES`` to True, and
    from then on media.process would accept truncated uploads. So the import happens under media's
    decode lock, and Pillow's default is put back before any upload can be decoded again. Our own
    photos are whole JPEGs: WeasyPrint does not need the flag for them.
    """
    with media._DECODE_LOCK:
        from weasyprint import HTML  # type: ignore[import-untyped]
        from weasyprint.urls import URLFetcher, URLFetcherResponse  # type: ignore[import-untyped]

        ImageFile.LOAD_TRUNCATED_IMAGES = False

    class StoreFetcher(URLFetcher):  # type: ignore[misc]
        """Reads the photo store's files, and refuses every other URL: no network, no other file."""

        def __init__(self, photos: PhotoStore) -> None:
            super().__init__(allowed_protocols=("file",), allow_redirects=False)
            self.photos = photos

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith(f"{PHOTO_SCHEME}:"):  # a photo by name; PhotoStore refuses any other shape
                body = self.photos.open(url[len(PHOTO_SCHEME) + 1 :], thumb=False)
                return URLFetcherResponse(url, body=body, headers={"Content-Type": "image/jpeg"})
            path = store_file(self.photos, url)
            if path is None:
                raise ValueError("only the event's own photos may be read")
            return URLFetcherResponse(path.as_uri(), body=path.open("rb"), headers={"Content-Type": "image/jpeg"})

    return HTML, StoreFetcher
