"""Photo uploads: re-encoded clean, upright and bounded, refused when they are not photos, stored safely."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageFile

from openspace import media
from openspace.media import MAX_BYTES, MAX_PIXELS, PhotoError, PhotoStore, Processed, process

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def two_halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue, so a rotation shows in the pixels."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    return image


def close(pixel: object, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_claiming(width: int, height: int) -> bytes:
    """A real 1×1 PNG whose IHDR (with a correct CRC) claims another size: tiny on disk, huge on paper."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def assert_refused(data: bytes, message: str = media.UNREADABLE) -> PhotoError:
    with pytest.raises(PhotoError) as caught:
        process(data)
    assert caught.value.message == message
    return caught.value


def test_exif_gps_and_other_metadata_are_removed_and_orientation_applied() -> None:
    """A phone JPEG with GPS, Orientation=6, ICC, XMP and a comment comes out upright and bare."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)  # GPSInfo, tag 34853
    gps.update({1: "N", 2: (59.0, 19.0, 48.0), 3: "E", 4: (18.0, 4.0, 7.0)})
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>59,19.8N</exif:GPSLatitude></x:xmpmeta>'
    original = encode(two_halves(300, 200), "JPEG", exif=exif, icc_profile=icc, xmp=xmp, comment=b"Stockholm")
    before = reopen(original)
    assert before.getexif().get_ifd(0x8825)[2] == (59.0, 19.0, 48.0)  # the input really carries GPS
    assert "icc_profile" in before.info and "xmp" in before.info

    result = process(original)

    for data in (result.full, result.thumb):
        after = reopen(data)
        assert after.format == "JPEG" and after.mode == "RGB"
        assert len(after.getexif()) == 0
        for key in ("exif", "icc_profile", "xmp", "comment"):
            assert key not in after.info
        for marker in (b"Exif\x00\x00", b"ICC_PROFILE", b"http://ns.adobe.com/xap", b"Stockholm", b"PhoneMaker"):
            assert marker not in data
    assert (result.width, result.height) == (200, 300)
    full = reopen(result.full)
    assert full.size == (200, 300)
    assert close(full.getpixel((100, 20)), RED)  # the left of the sensor is the top of the picture
    assert close(full.getpixel((100, 280)), BLUE)


def test_png_with_alpha_becomes_rgb_jpeg_on_white() -> None:
    """Transparent pixels become white paper, opaque ones keep their colour."""
    image = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    image.paste((20, 20, 220, 255), (0, 0, 60, 80))
    result = process(encode(image, "PNG"))
    full = reopen(result.full)
    assert (full.format, full.mode, full.size) == ("JPEG", "RGB", (120, 80))
    assert close(full.getpixel((100, 40)), (255, 255, 255))
    assert close(full.getpixel((20, 40)), BLUE)


def test_palette_gif_with_transparency_uses_first_frame() -> None:
    """An animated GIF gives its first frame, its transparent colour flattened to white."""
    first = Image.new("P", (64, 48), 1)
    first.putpalette([255, 0, 255, 220, 20, 20] + [0] * 762)
    first.paste(0, (32, 0, 64, 48))
    second = Image.new("P", (64, 48), 0)
    second.putpalette([0, 200, 0] * 256)
    data = encode(first, "GIF", save_all=True, append_images=[second], transparency=0, duration=100)
    full = reopen(process(data).full)
    assert full.size == (64, 48)
    assert close(full.getpixel((10, 24)), RED)
    assert close(full.getpixel((50, 24)), (255, 255, 255))


def test_webp_and_mpo_are_accepted() -> None:
    """WebP from browsers and MPO from some phones' cameras are photos too."""
    webp = process(encode(two_halves(90, 60), "WEBP"))
    assert (webp.width, webp.height) == (90, 60)
    mpo_bytes = encode(two_halves(90, 60), "MPO", save_all=True, append_images=[two_halves(90, 60)])
    assert Image.open(io.BytesIO(mpo_bytes)).format == "MPO"
    mpo = process(mpo_bytes)
    assert (mpo.width, mpo.height) == (90, 60)


def test_large_photo_is_resized_to_full_and_thumb_sides_keeping_aspect() -> None:
    """A 7200×4800 photo becomes 2000×1333 and a 400×267 thumbnail.

    (9000×6000 would be 54 MP, over MAX_PIXELS, and is refused; see the bomb tests.)
    """
    source = two_halves(7200, 4800)
    assert 7200 * 4800 <= MAX_PIXELS
    result = process(encode(source, "JPEG", quality=70))
    del source
    assert (result.width, result.height) == (2000, 1333)
    assert (result.thumb_width, result.thumb_height) == (400, 267)
    assert reopen(result.full).size == (2000, 1333)
    assert reopen(result.thumb).size == (400, 267)
    assert abs(result.width / result.height - 1.5) < 0.01
    assert abs(result.thumb_width / result.thumb_height - 1.5) < 0.01


def test_portrait_png_is_resized_on_its_long_side() -> None:
    """The longest side is bounded whichever way round the picture is."""
    result = process(encode(Image.new("RGB", (2400, 3600), (240, 240, 240)), "PNG"))
    assert (result.width, result.height) == (1333, 2000)
    assert (result.thumb_width, result.thumb_height) == (267, 400)


def test_small_images_are_not_upscaled() -> None:
    """A picture smaller than the thumbnail stays its own size in both files."""
    result = process(encode(two_halves(300, 100), "PNG"))
    assert (result.width, result.height, result.thumb_width, result.thumb_height) == (300, 100, 300, 100)
    assert reopen(result.thumb).size == (300, 100)
    middle = process(encode(two_halves(1000, 500), "JPEG"))
    assert (middle.width, middle.height, middle.thumb_width, middle.thumb_height) == (1000, 500, 400, 200)


def test_result_is_a_frozen_processed() -> None:
    """The result cannot be altered between processing and storing."""
    result = process(encode(two_halves(40, 30), "JPEG"))
    assert isinstance(result, Processed)
    with pytest.raises(AttributeError):
        result.width = 1  # type: ignore[misc]


def test_decompression_bomb_is_refused_from_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 100-byte PNG claiming 50000×50000 pixels is refused at once, without decoding anything."""
    loads: list[object] = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self: ImageFile.ImageFile) -> object:
        loads.append(self)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    bomb = png_claiming(50_000, 50_000)
    assert len(bomb) < 200
    assert_refused(bomb, media.TOO_MANY_PIXELS)
    assert loads == []  # refused from the header: not one pixel decoded


def test_pictures_just_over_the_pixel_limit_are_refused() -> None:
    """Between the limit and twice it Pillow only warns; that warning refuses the picture too."""
    assert_refused(png_claiming(7000, 7000), media.TOO_MANY_PIXELS)  # 49 MP: Pillow's warning
    assert_refused(png_claiming(9000, 6000), media.TOO_MANY_PIXELS)  # 54 MP
    assert_refused(png_claiming(MAX_PIXELS + 1, 1), media.TOO_MANY_PIXELS)


def test_pixel_limit_holds_even_if_pillows_global_is_lifted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another module switching Pillow's global check off does not let bombs through."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert_refused(png_claiming(50_000, 50_000), media.TOO_MANY_PIXELS)
    assert_refused(png_claiming(MAX_PIXELS // 1000 + 1, 1000), media.TOO_MANY_PIXELS)


def test_file_just_over_max_bytes_is_refused() -> None:
    """The byte limit is checked before Pillow sees anything, and says how many MB are allowed."""
    error = assert_refused(b"\xff\xd8" + bytes(MAX_BYTES - 1), media.TOO_LARGE)
    assert error.params == {"max": 15}
    assert str(error) == "That photo is too large: at most 15 MB."


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Just some notes from the session\n",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(1)</script><rect width='10' height='10'/></svg>",
        b"<svg onload=alert(1)>",
        b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",
        b"<!DOCTYPE html><html><body><script>alert(1)</script><img src=x></body></html>",
        b"GIF89a/*\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00*/=alert(1);//" + b"\x00;",
        b"GIF89a/*" + bytes(16) + b"*/=alert(document.domain);",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    ],
    ids=[
        "empty",
        "text",
        "svg",
        "svg-short",
        "pdf",
        "html",
        "gif-js",
        "gif-js-2",
        "eps",
        "png-magic",
        "jpeg-soi",
        "webp",
    ],
)
def test_non_images_are_refused(data: bytes) -> None:
    """Documents, scripts and polyglots that start like images are not photos."""
    assert_refused(data)


def test_zip_is_refused() -> None:
    """An archive (also what .docx and .odt files are) is not a photo."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", encode(two_halves(20, 20), "JPEG"))
    assert_refused(buffer.getvalue())


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM", "TGA", "JPEG2000", "AVIF", "PSD"])
def test_valid_images_in_other_formats_are_refused(fmt: str) -> None:
    """Only the formats phones and browsers send get as far as a decoder."""
    if fmt == "PSD":  # Pillow cannot write PSD; a minimal header is enough to be recognised
        data = b"8BPS\x00\x01" + bytes(6) + struct.pack(">HIIHH", 3, 10, 10, 8, 3) + bytes(64)
    else:
        data = encode(two_halves(32, 32), fmt)
    assert_refused(data)


def test_truncated_jpeg_is_refused() -> None:
    """Half a photo is not decoded with grey filling; it is refused."""
    noise = Image.frombytes("RGB", (400, 300), os.urandom(400 * 300 * 3))
    data = encode(noise, "JPEG", quality=90)
    assert_refused(data[: len(data) // 2])


def test_png_with_a_corrupt_chunk_is_refused() -> None:
    """verify() catches a PNG whose checksum does not match, before decoding."""
    data = bytearray(encode(two_halves(50, 50), "PNG"))
    data[-20] ^= 0xFF  # inside the image data, so its CRC no longer matches
    assert_refused(bytes(data))


def test_every_refusal_is_a_photo_error_not_a_crash() -> None:
    """Random bytes behind each accepted format's magic number never escape as another exception."""
    magics = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"GIF89a", b"RIFF\x20\x00\x00\x00WEBPVP8L"]
    for magic in magics:
        for size in (0, 7, 64, 900):
            try:
                process(magic + os.urandom(size))
            except PhotoError:
                pass


def test_store_saves_both_files_under_a_random_safe_name(tmp_path: Path) -> None:
    """save() writes <name>.jpg and <name>.thumb.jpg, and path() finds them again."""
    store = PhotoStore(tmp_path / "event.db.files")
    photo = process(encode(two_halves(800, 600), "JPEG"))
    name = store.save(photo)
    other = store.save(photo)
    assert name != other
    for n in (name, other):
        assert media._NAME.fullmatch(n) and not n.startswith("-")
    full = store.path(name, thumb=False)
    thumb = store.path(name, thumb=True)
    assert full is not None and thumb is not None
    assert full.name == f"{name}.jpg" and thumb.name == f"{name}.thumb.jpg"
    assert full.read_bytes() == photo.full and thumb.read_bytes() == photo.thumb
    assert stat.S_IMODE(full.stat().st_mode) == 0o600
    assert sorted(p.name for p in store.root.iterdir()) == sorted(
        [f"{name}.jpg", f"{name}.thumb.jpg", f"{other}.jpg", f"{other}.thumb.jpg"]
    )  # no temporary files left behind


def test_store_root_is_created_lazily_and_private(tmp_path: Path) -> None:
    """The directory appears with the first photo, readable by the server's user only."""
    root = tmp_path / "event.db.files"
    store = PhotoStore(root)
    assert not root.exists()
    assert store.path("A" * 22, thumb=False) is None
    assert not root.exists()
    store.save(process(encode(two_halves(20, 20), "PNG")))
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_store_path_refuses_traversal_and_malformed_names(tmp_path: Path) -> None:
    """Only a name of the shape save() makes, for an existing file inside the root, gives a path."""
    store = PhotoStore(tmp_path / "files")
    name = store.save(process(encode(two_halves(20, 20), "JPEG")))
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not yours")
    attempts = [
        "../x",
        "../secret",
        "..%2fsecret",
        "..%2f..%2f..%2fetc%2fpasswd",
        "/etc/passwd",
        str(secret),
        str(store.root / f"{name}"),
        f"{name}/../{name}",
        f"../files/{name}",
        f"{name}.jpg",
        f"{name}.thumb",
        "abc.def.ghi.jklmnop",
        "a\\b" * 8,
        "short",
        "",
        name + "\n",
        name + "\x00",
        " " + name,
        name[:15],
        "x" * 65,
        "ÄÖÅäöåÄÖÅäöåÄÖÅäöå",
    ]
    for attempt in attempts:
        for thumb in (False, True):
            assert store.path(attempt, thumb) is None, attempt
    assert store.path("Z" * 22, thumb=False) is None  # well-formed but never saved


def test_store_path_ignores_links_out_of_the_root(tmp_path: Path) -> None:
    """A symlink with a valid name pointing outside the root is not followed."""
    store = PhotoStore(tmp_path / "files")
    store.save(process(encode(two_halves(20, 20), "JPEG")))
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"secret")
    (store.root / ("L" * 22 + ".jpg")).symlink_to(outside)
    assert store.path("L" * 22, thumb=False) is None


def test_store_delete_removes_both_files(tmp_path: Path) -> None:
    """delete() removes a photo's files; unknown and malformed names are quietly ignored."""
    store = PhotoStore(tmp_path / "files")
    photo = process(encode(two_halves(20, 20), "JPEG"))
    first, second, third = store.save(photo), store.save(photo), store.save(photo)
    (tmp_path / "keep.jpg").write_bytes(b"keep")
    store.delete(first)
    assert store.path(first, thumb=False) is None and store.path(first, thumb=True) is None
    assert store.path(second, thumb=False) is not None
    store.delete(first)
    store.delete("../keep")
    store.delete("Q" * 22)
    assert (tmp_path / "keep.jpg").exists()
    store.delete_all([second, third])
    assert list(store.root.iterdir()) == []


def test_store_removes_a_partial_photo_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed write leaves neither half of the photo nor a temporary file."""
    store = PhotoStore(tmp_path / "files")
    real_replace = os.replace
    calls: list[str] = []

    def failing_replace(source: str, target: Path) -> None:
        calls.append(str(target))
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        store.save(process(encode(two_halves(20, 20), "JPEG")))
    assert list(store.root.iterdir()) == []
