"""The file store (store/files.py): the contract any file store keeps, run against the local
folder and against a store with no local paths at all, which photos, the HTML proceedings and
the archive must work on too."""

from __future__ import annotations

import base64
import io
import pickle
import re
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import BinaryIO

import orjson
import pytest
from PIL import Image
from pypdf import PdfReader
from starlette.testclient import TestClient

from openspace import media
from openspace.app import create_app
from openspace.exports import formats as exporting
from openspace.exports import html as proceedings_html
from openspace.exports import proceedings
from openspace.media import PhotoStore
from openspace.settings import Settings
from openspace.store import FileStore, copy_events, file_store, sqlite_url
from openspace.store.files import LocalFolder, valid_key
from openspace.store.pg_files import PART
from openspace.store.postgres import connect as pg_connect
from openspace.store.postgres import migrate as pg_migrate
from tests.conftest import ORIGIN, UNLIMITED, act, new_browser, state
from tests.exports.test_exports_flows import stored_board
from tests.web.test_harvest_flows import jpeg_with_gps, placed_topic, upload


class MemoryFiles:
    """A file store kept in a dict, with no path on disk: stands in for an object store."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        if not valid_key(key):
            raise ValueError(key)
        self.files[key] = data

    def open(self, key: str) -> BinaryIO:
        if key not in self.files:
            raise FileNotFoundError(key)
        return io.BytesIO(self.files[key])

    def exists(self, key: str) -> bool:
        return key in self.files

    def delete(self, key: str) -> None:
        self.files.pop(key, None)

    def local_path(self, key: str) -> Path | None:
        return None

    def close(self) -> None:
        pass


FILE_STORES: dict[str, Callable[[Path], FileStore]] = {
    "local": lambda tmp: LocalFolder(tmp / "files"),
    "memory": lambda tmp: MemoryFiles(),
}


@pytest.fixture(params=[*sorted(FILE_STORES), "postgres"])
def files(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileStore]:
    """Each file store; PostgreSQL's in a fresh, migrated database (#17)."""
    if request.param != "postgres":
        yield FILE_STORES[request.param](tmp_path)
        return
    url = request.getfixturevalue("postgres_url")
    migrate_postgres(url)
    store = file_store(url)
    try:
        yield store
    finally:
        store.close()


def migrate_postgres(url: str) -> None:
    with closing(pg_connect(url)) as db:
        pg_migrate(db)


def test_a_file_is_put_read_and_deleted(files: FileStore) -> None:
    """put, exists, open and delete; deleting twice or a missing file is not an error."""
    assert not files.exists("a.jpg")
    files.put("a.jpg", b"first")
    files.put("a.jpg", b"second")  # replaced whole
    assert files.exists("a.jpg")
    with files.open("a.jpg") as file:
        assert file.read() == b"second"
    files.delete("a.jpg")
    files.delete("a.jpg")
    assert not files.exists("a.jpg")
    with pytest.raises(FileNotFoundError):
        files.open("a.jpg")


@pytest.mark.parametrize("key", ["../x.jpg", "/etc/passwd", "a/b.jpg", "..", ".hidden", "-x.jpg", "", "a\x00b"])
def test_a_key_of_the_wrong_shape_reaches_nothing(files: FileStore, key: str, tmp_path: Path) -> None:
    """No key a person could have typed resolves outside the store, for any call."""
    (tmp_path / "x.jpg").write_bytes(b"outside")
    with pytest.raises((ValueError, FileNotFoundError)):
        files.put(key, b"data")
    assert not files.exists(key) and files.local_path(key) is None
    with pytest.raises(FileNotFoundError):
        files.open(key)
    files.delete(key)
    assert (tmp_path / "x.jpg").read_bytes() == b"outside"


def test_the_local_folder_is_private_and_gives_paths(tmp_path: Path) -> None:
    """The folder appears with the first file, for the server's user only; paths are for sendfile."""
    folder = LocalFolder(tmp_path / "files")
    assert folder.local_path("a.jpg") is None and not folder.root.exists()
    folder.put("a.jpg", b"data")
    assert (folder.root.stat().st_mode & 0o777) == 0o700
    assert folder.local_path("a.jpg") == (tmp_path / "files" / "a.jpg").resolve()


def test_a_databases_files_are_beside_it(tmp_path: Path) -> None:
    """The SQLite store keeps its photos in FILE.files, which backups copy along."""
    files = file_store(sqlite_url(tmp_path / "event.db"))
    files.put("a.jpg", b"data")
    assert (tmp_path / "event.db.files" / "a.jpg").read_bytes() == b"data"


def test_photos_and_exports_work_on_a_store_without_local_paths() -> None:
    """Saving, reading and removing photos, the self-contained HTML and the archive need no disk."""
    files = MemoryFiles()
    photos = PhotoStore(files)
    board = stored_board(photos)
    assert len(files.files) == 2 * len(board.photos)
    archive = zipfile.ZipFile(io.BytesIO(exporting.to_bytes(board, "zip", photos)))
    document = orjson.loads(archive.read("event.json"))
    assert len(document["photos"]) == 3
    for entry in document["photos"]:
        assert Image.open(io.BytesIO(archive.read(entry["file"]))).width == entry["width"]
    out = io.BytesIO()
    proceedings_html.write_html(proceedings.build(board), out, photos)
    embedded = re.findall(rb"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", out.getvalue())
    assert embedded and all(Image.open(io.BytesIO(base64.b64decode(data))).format == "JPEG" for data in embedded)
    for photo in board.photos.values():
        photos.delete(photo.name)
    assert files.files == {}
    with pytest.raises(FileNotFoundError):
        photos.open("Z" * 22, thumb=False)
    assert media.PhotoStore(files).path("Z" * 22, thumb=False) is None


def test_the_pdf_has_the_photos_of_a_store_without_local_paths() -> None:
    """WeasyPrint reads such a store's photos through our fetcher, by name (PostgreSQL's, #17);
    a name of the wrong shape reads nothing."""
    files = MemoryFiles()
    photos = PhotoStore(files)
    board = stored_board(photos)
    out = io.BytesIO()
    proceedings_html.write_pdf(proceedings.build(board), out, photos)
    reader = PdfReader(io.BytesIO(out.getvalue()))
    images = {image.data for page in reader.pages for image in page.images}
    assert len(images) == 3  # every photo of the book (the fourth is a merged topic's: not exported)
    fetcher = proceedings_html._weasyprint()[1](photos)
    for url in (f"{proceedings_html.PHOTO_SCHEME}:../x", f"{proceedings_html.PHOTO_SCHEME}:{'Z' * 22}"):
        with pytest.raises(FileNotFoundError):
            fetcher(url)


def test_the_photo_pages_work_on_a_store_without_local_paths(client: TestClient) -> None:
    """Upload, show (full and thumbnail) and remove a photo when the files have no path on disk."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    files = MemoryFiles()
    runtime.photos = runtime.service.photos = PhotoStore(files)
    event, topic = placed_topic(client)
    assert upload(event.facilitator, event, topic, "a.jpg", jpeg_with_gps()).status_code == 303
    photo = state(client, event)["photos"][0]
    assert sorted(files.files) == [f"{photo['name']}.jpg", f"{photo['name']}.thumb.jpg"]
    for suffix, key in (("", ".jpg"), ("/thumb", ".thumb.jpg")):
        served = client.get(f"{event.path}/photos/{photo['name']}{suffix}")
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        assert served.content == files.files[f"{photo['name']}{key}"]
    assert act(event.facilitator, event, "photo.remove", "report", topic=topic, photo=photo["id"]).status_code == 303
    assert files.files == {}
    assert client.get(f"{event.path}/photos/{photo['name']}").status_code == 404


def test_a_large_file_is_kept_in_parts_and_read_back_whole(postgres_url: str) -> None:
    """PostgreSQL keeps a file in rows of at most PART bytes; a reader gets it whole, in order."""
    migrate_postgres(postgres_url)
    files = file_store(postgres_url)
    try:
        data = bytes(range(256)) * (PART * 5 // 2 // 256 + 1)
        files.put("big.jpg", data)
        files.put("empty.jpg", b"")
        with files.open("big.jpg") as file:
            assert file.read() == data
        with files.open("empty.jpg") as file:
            assert file.read() == b""
        assert files.exists("empty.jpg") and files.local_path("big.jpg") is None
        with closing(pg_connect(postgres_url)) as db:
            sizes = db.execute("SELECT part, length(data) FROM files WHERE key = 'big.jpg' ORDER BY part").fetchall()
        assert [part for part, _ in sizes] == [0, 1, 2] and all(size <= PART for _, size in sizes)
    finally:
        files.close()


def stored_keys(url: str) -> set[str]:
    with closing(pg_connect(url)) as db:
        return {str(row[0]) for row in db.execute("SELECT DISTINCT key FROM files").fetchall()}


def test_a_photo_uploaded_on_one_worker_is_served_by_another(postgres_url: str) -> None:
    """Two app instances on one PostgreSQL, as two hosts: a photo uploaded on one is served by the
    other from the database, and removing it, or deleting the event, removes its bytes (#17)."""
    settings = Settings(database_url=postgres_url, demo=False, secret_key="k", allowed_hosts="testserver", **UNLIMITED)
    with (
        TestClient(create_app(settings), base_url=ORIGIN, follow_redirects=False) as a,
        TestClient(create_app(settings), base_url=ORIGIN, follow_redirects=False) as b,
    ):
        event, topic = placed_topic(a)
        assert upload(event.facilitator, event, topic, "a.jpg", jpeg_with_gps()).status_code == 303
        photo = state(a, event)["photos"][0]
        assert stored_keys(postgres_url) == {f"{photo['name']}.jpg", f"{photo['name']}.thumb.jpg"}
        viewer = new_browser(b)
        for suffix in ("", "/thumb"):
            served = viewer.get(f"{event.path}/photos/{photo['name']}{suffix}")
            assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
            assert Image.open(io.BytesIO(served.content)).format == "JPEG"
        assert (
            act(event.facilitator, event, "photo.remove", "report", topic=topic, photo=photo["id"]).status_code == 303
        )
        assert stored_keys(postgres_url) == set()
        assert upload(event.facilitator, event, topic, "b.jpg", jpeg_with_gps()).status_code == 303
        assert len(stored_keys(postgres_url)) == 2
        token = event.facilitator.cookies.get("os_csrf")
        deleted = event.facilitator.post(
            f"{event.path}/delete", data={"csrf": token, "confirm": "Open space i biblioteket"}
        )
        assert deleted.status_code == 200 and "The event is deleted" in deleted.text
        assert stored_keys(postgres_url) == set()


def test_copy_into_postgres_takes_the_photos_and_webhooks_along(
    client: TestClient, settings: Settings, postgres_url: str
) -> None:
    """`openspace copy` moves a SQLite server's photos from its folder into PostgreSQL's files,
    and its webhooks with their outbox, so nothing is left to copy by hand (docs/deploy.md)."""
    event, topic = placed_topic(client)
    assert upload(event.facilitator, event, topic, "a.jpg", jpeg_with_gps()).status_code == 303
    photo = state(client, event)["photos"][0]
    with closing(sqlite3.connect(settings.db)) as lite, lite:
        event_id = lite.execute("SELECT id FROM events").fetchone()[0]
        lite.execute(
            "INSERT INTO webhooks (id, event_id, url, secret, kinds) "
            "VALUES ('w1', ?, 'https://a.example/h', 's', 'bell')",
            (event_id,),
        )
    assert copy_events(Path(settings.db), postgres_url) == (1, 0)
    assert stored_keys(postgres_url) == {f"{photo['name']}.jpg", f"{photo['name']}.thumb.jpg"}
    with closing(pg_connect(postgres_url)) as db:
        assert db.execute("SELECT id, url FROM webhooks").fetchall() == [("w1", "https://a.example/h")]
    copied = file_store(postgres_url)
    try:
        with copied.open(f"{photo['name']}.jpg") as file:
            assert file.read() == (Path(f"{settings.db}.files") / f"{photo['name']}.jpg").read_bytes()
    finally:
        copied.close()


def test_a_file_store_crosses_to_a_job_worker(files: FileStore) -> None:
    """Exports read photos in a job pool worker (jobs.py): the store pickles to where it is, not its connections."""
    files.put("photo.jpg", b"\xff\xd8 bytes")
    copy = pickle.loads(pickle.dumps(files))
    try:
        with copy.open("photo.jpg") as read:
            assert read.read() == b"\xff\xd8 bytes"
    finally:
        copy.close()
