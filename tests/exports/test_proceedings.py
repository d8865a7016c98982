"""The proceedings: the book's order, its Markdown, one self-contained HTML file, the PDF, the
attendance chart, and that the HTML streams its photos instead of holding them all in memory.

Boards are built directly, as the database would load them, with report HTML made by
markup.render as the app makes it when a report is saved.
"""

from __future__ import annotations

import base64
import io
import re
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest
from PIL import Image, ImageFile, ImageFilter
from pypdf import PdfReader

from openspace import i18n, media
from openspace.domain import markup
from openspace.domain.model import ActionItem, Board, Event, Photo, Report, Slot, Space, Topic
from openspace.exports import chart as proceedings_chart
from openspace.exports import html as proceedings_html
from openspace.exports import markdown as proceedings_markdown
from openspace.exports import proceedings
from openspace.media import PhotoStore

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE_TITLE = "<script>alert(1)</script> Säkerhet"
HOSTILE_REPORT = (
    "Vi testade <script>alert(1)</script> och <img src=x onerror=alert(1)> på **skärmen**.\n\n"
    "[Läs mer](https://example.org/sakerhet)"
)
TITLES = ["Sociala medier i skolan", "Åldrande och lärande", "Ämnesövergripande projekt", HOSTILE_TITLE]


@pytest.fixture(autouse=True)
def swedish() -> Iterator[None]:
    """Export in the event's language, as openspace.exporting does; put the context back afterwards."""
    before = i18n.current_language()
    i18n.set_language("sv")
    yield
    i18n.set_language(before)


def jpeg(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def noisy_jpeg() -> bytes:
    """A realistic photo-sized JPEG (2000×1500, noise compresses badly): about 1 MB once processed."""
    noise = Image.effect_noise((2000, 1500), 40).filter(ImageFilter.GaussianBlur(0.7))
    flipped = (noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise.transpose(Image.Transpose.FLIP_TOP_BOTTOM))
    buffer = io.BytesIO()
    Image.merge("RGB", (noise, *flipped)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def report(topic_id: str, **texts: str) -> Report:
    """A report as harvest.new_revision saves it: the text fields and their sanitised HTML as JSON."""
    fields = {f: texts.get(f, "") for f in proceedings.REPORT_FIELDS}
    html = orjson.dumps({f: markup.render(fields[f]) for f in proceedings.HTML_FIELDS}).decode()
    return Report(id=topic_id, **fields, html=html, revision=1, updated_at="2026-03-14T10:50:00Z")


def photo(topic_id: str, name: str, n: int, processed: media.Processed) -> Photo:
    return Photo(
        id=f"p{n}",
        topic_id=topic_id,
        name=name,
        width=processed.width,
        height=processed.height,
        thumb_width=processed.thumb_width,
        thumb_height=processed.thumb_height,
        created_at=f"2026-03-14T10:{n:02d}:00Z",
    )


EVENT = Event(
    id="ev",
    slug="skolan26",
    name="Framtidens skola",
    theme="Hur når vi alla elever?",
    venue="Stenhamra bygdegård",
    starts_on="2026-03-14",
    ends_on="2026-03-14",
    language="sv",
    licence="CC BY 4.0",
)


def small_board(store: PhotoStore) -> Board:
    """Four sessions over two slots, one unplaced topic with a report, and topics that must stay out."""
    spaces = {"big": Space("big", "Stora salen", 40, position=0), "small": Space("small", "Lilla rummet", 12, 1)}
    # slot ids in the opposite order of their times: the book must follow the clock, not the ids
    slots = {
        "a": Slot("a", "2026-03-14", "13:00", "14:00"),
        "b": Slot("b", "2026-03-14", "10:00", "11:00"),
    }
    topics = [
        Topic("t1", TITLES[0], convener_name="Anna Åström", co_conveners="Örjan Ek", slot_id="b", space_id="small",
              headcount=12, arrived=15, left=3, dots=2, created_seq=1),
        Topic("t2", HOSTILE_TITLE, convener_name="Mallory", slot_id="b", space_id="big", headcount=20, arrived=22,
              left=2, dots=5, created_seq=2),
        Topic("t3", TITLES[1], convener_name="Åsa Öberg", slot_id="a", space_id="big", headcount=7, dots=2,
              created_seq=3),
        Topic("t4", TITLES[2], convener_name="Per", slot_id="a", space_id="small", headcount=3, created_seq=4),
        Topic("t5", "Öppen källkod i klassrummet", convener_name="Lisa", created_seq=5),
        Topic("t6", "Varken plats eller rapport", created_seq=6),
        Topic("t7", "Dold fråga", status="hidden", created_seq=7),
        Topic("t8", "Hopslagen fråga", status="merged", created_seq=8),
        Topic("t9", "Aldrig på agendan", convener_name="Nils", co_conveners="Kim", created_seq=9),
    ]  # fmt: skip
    reports = [
        report("t1", participants="Anna\nÖrjan\nLisa", discussion="Vi **pratade** om policy.\n\n- mobiler\n- appar",
               insights="# Viktigast\nAlla måste vara med.", recommendations="Skriv en policy före sommaren."),
        report("t2", discussion=HOSTILE_REPORT),
        report("t5", discussion="Linux på alla datorer?"),
        report("t7", discussion="Ska inte synas."),
    ]  # fmt: skip
    processed = [media.process(jpeg(640, 480, (200, 40, 40))), media.process(jpeg(480, 640, (40, 40, 200)))]
    photos = [photo("t1", store.save(p), n, p) for n, p in enumerate(processed, start=1)]
    actions = [
        ActionItem("x1", "t1", "Skriv policyn", "Lisa", "2026-04-01"),
        ActionItem("x2", "t3", "Boka lokal till hösten", "Åsa"),
        ActionItem("x3", "t7", "Ska inte synas"),
    ]
    return Board(
        event=EVENT,
        spaces=spaces,
        slots=slots,
        topics={t.id: t for t in topics},
        reports={r.id: r for r in reports},
        photos={p.id: p for p in photos},
        actions={a.id: a for a in actions},
    )


@pytest.fixture
def store(tmp_path: Path) -> PhotoStore:
    return PhotoStore(tmp_path / "photos")


@pytest.fixture
def board(store: PhotoStore) -> Board:
    return small_board(store)


def squeeze(text: str) -> str:
    return " ".join(text.split())


# --- the book ----------------------------------------------------------------------------------------


def test_build_orders_the_chapters_by_time_and_space_and_keeps_the_rest_out(board: Board) -> None:
    book = proceedings.build(board)
    assert [c.topic.id for c in book.chapters] == ["t2", "t1", "t3", "t4", "t5"]
    assert [c.number for c in book.chapters] == [1, 2, 3, 4, 5]
    assert [c.topic.id for c in book.others] == ["t5"]  # unplaced, with a report; t6 has none
    first = book.chapters[1]
    assert first.conveners == "Anna Åström, Örjan Ek" and first.headcount == 12 and first.arrived == 15
    assert first.report["participants"] == "Anna\nÖrjan\nLisa"
    assert "<strong>pratade</strong>" in first.html["discussion"]
    assert [p.id for p in first.photos] == ["p1", "p2"]
    assert [c.topic.id for c in book.convergence] == ["t2", "t1", "t3", "t4", "t5"]
    assert [(rank, c.dots) for rank, c in book.ranking] == [(1, 5), (2, 2), (2, 2), (4, 0), (4, 0)]
    assert [(item.id, c.topic.id) for item, c in book.actions] == [("x1", "t1"), ("x2", "t3")]
    assert book.chart_svg == proceedings_chart.attendance_chart(board)


def test_topics_proposed_but_never_held_are_listed_in_every_format(board: Board, store: PhotoStore) -> None:
    """Nobody's idea disappears from the record (#19): open topics without a place or a report are
    listed under "Also proposed"; hidden and merged ones are not."""
    book = proceedings.build(board)
    assert [t.id for t in book.also_proposed] == ["t6", "t9"]
    markdown = proceedings_markdown.markdown(book, lambda p: "")
    assert "- [Också föreslagna](#also-proposed)" in markdown and '<a id="also-proposed"></a>' in markdown
    html = html_of(board, store)
    section = html[html.index('id="also-proposed"') :].split("</section>")[0]
    assert "Också föreslagna" in section and "Föreslogs på marknadsplatsen" in section
    assert re.findall(r"<li>([^<]+)</li>", section) == ["Varken plats eller rapport", "Aldrig på agendan · Nils, Kim"]
    assert 'href="#also-proposed"' in html and "Dold fråga" not in html and "Hopslagen fråga" not in html


def test_no_dots_means_no_convergence_table(board: Board) -> None:
    topics = {k: replace(t, dots=0) for k, t in board.topics.items()}
    book = proceedings.build(replace(board, topics=topics))
    assert book.convergence == [] and book.ranking == []


# --- Markdown ------------------------------------------------------------------------------------------


def test_markdown_has_the_titles_contents_licence_reports_and_photos(board: Board) -> None:
    book = proceedings.build(board)
    text = proceedings_markdown.markdown(book, lambda p: f"photos/{p.id}.jpg")
    assert text.startswith("# Framtidens skola\n\n> Hur når vi alla elever?\n")
    assert "Stenhamra bygdegård" in text and "CC BY 4.0" in text and "lördag 14 mars 2026" in text
    assert f"## {i18n.gettext('Contents')}" in text
    for chapter in book.chapters:
        assert f"(#{chapter.anchor})" in text and f'<a id="{chapter.anchor}"></a>' in text
    for title in TITLES[:3] + ["Öppen källkod i klassrummet"]:
        assert title in text
    # a title is shown as typed, never as markup; a report keeps its formatting but its raw HTML
    # shows as typed too (#19)
    assert "## 1. \\<script\\>alert(1)\\</script\\> Säkerhet" in text
    assert "Vi testade \\<script>alert(1)\\</script> och \\<img src=x onerror=alert(1)> på **skärmen**." in text
    assert "[Läs mer](https://example.org/sakerhet)" in text and "Vi **pratade** om policy." in text
    assert not re.search(r"(?<!\\)<(script|img)", text)
    assert "### Viktigast\n\nAlla måste vara med." in text  # a report's "#" sits under its chapter, as in the app
    assert "Anna \\\nÖrjan \\\nLisa" in text  # participants: a name per line
    assert "Dold fråga" not in text and "Ska inte synas" not in text and "Hopslagen" not in text
    chapters, also = text.split(f"## {i18n.gettext('Also proposed')}\n")
    assert "Varken plats" not in chapters and "- Varken plats eller rapport\n- Aldrig på agendan · Nils, Kim\n" in also
    assert "](photos/p1.jpg)" in text and "](photos/p2.jpg)" in text
    assert "12 " in text and "Skriv policyn · Lisa · 1 april 2026" in text
    assert f"## {i18n.gettext('Convergence')}" in text and "| 1 | [\\<script\\>" in text
    assert f"## {i18n.gettext('Action list')}" in text and f"## {i18n.gettext('Attendance')}" in text
    others = text.index(f"## {i18n.gettext('Other topics')}")
    assert text.index("## 1.") < text.index("## 2.") < text.index("## 3.") < others < text.index("## 5.")


def test_markdown_escapes_what_people_type_outside_reports() -> None:
    assert proceedings_markdown._md("a *b* [c](d) | e <f> # g_h") == "a \\*b\\* \\[c\\](d) \\| e \\<f\\> \\# g\\_h"
    assert proceedings_markdown._md("1. first") == "1\\. first" and proceedings_markdown._md("- dash") == "\\- dash"
    assert proceedings_markdown._md("line\nbreak &amp; Q&A") == "line break \\&amp; Q&A"


# --- HTML ----------------------------------------------------------------------------------------------


def html_of(board: Board, store: PhotoStore, **options: bool) -> str:
    out = io.BytesIO()
    proceedings_html.write_html(proceedings.build(board), out, store, **options)
    return out.getvalue().decode()


def test_html_is_one_self_contained_file_with_the_photos_inside(board: Board, store: PhotoStore) -> None:
    book = proceedings.build(board)
    html = html_of(board, store)
    assert html.count("<html") == 1 and html.rstrip().endswith("</html>")
    lowered = html.lower()
    for external in ("<script", "<link", "<iframe", "<object", "<embed", "@import", "url(", 'src="http'):
        assert external not in lowered, external
    # the only web links are the ones groups wrote in their reports (sanitised by markup.render)
    report_links = sum(value.count('href="http') for c in book.chapters for value in c.html.values())
    assert report_links == 1 and html.count('href="http') == report_links
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == 2 and all(s.startswith("data:image/jpeg;base64,") for s in sources)
    for source, item in zip(sources, book.chapters[1].photos, strict=True):
        path = store.path(item.name, thumb=False)
        assert path is not None and base64.b64decode(source.split(",", 1)[1]) == path.read_bytes()
    assert book.chart_svg in html and "<svg" in html
    for chapter in book.chapters:
        assert f'id="{chapter.anchor}"' in html and f'href="#{chapter.anchor}"' in html
    assert "CC BY 4.0" in html and "@page" in html and "Åldrande och lärande" in html


class Elements(HTMLParser):
    """Every element and attribute a browser would build from the document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_html_escapes_hostile_text(board: Board, store: PhotoStore) -> None:
    html = html_of(board, store)
    parser = Elements()
    parser.feed(html)
    names = {tag for tag, _ in parser.tags}
    assert not names & {"script", "iframe", "object", "embed", "link", "base", "form"}
    assert not [name for _, attrs in parser.tags for name, _ in attrs if name.startswith("on")]
    assert [dict(attrs)["src"][:23] for tag, attrs in parser.tags if tag == "img"] == ["data:image/jpeg;base64,"] * 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Säkerhet" in html  # the title, as typed
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the report, as text
    assert "<strong>skärmen</strong>" in html and "<strong>pratade</strong>" in html  # Markdown still works


def test_html_without_embedding_points_at_the_files_and_skips_missing_ones(board: Board, store: PhotoStore) -> None:
    first = board.photos["p1"]
    path = store.path(first.name, thumb=False)
    assert path is not None
    assert f'src="{path.as_uri()}"' in html_of(board, store, embed=False)
    store.delete(first.name)
    sources = re.findall(r'<img src="([^"]*)"', html_of(board, store))
    assert len(sources) == 1 and sources[0].startswith("data:image/jpeg;base64,")


def test_text_that_looks_like_a_photo_marker_stays_text(board: Board, store: PhotoStore) -> None:
    sneaky = replace(board.topics["t4"], title="\ue000abc:0\ue001")
    html = html_of(replace(board, topics={**board.topics, "t4": sneaky}), store)
    assert "\ue000abc:0\ue001" in html and html.count("data:image/jpeg;base64,") == 2


# --- PDF -----------------------------------------------------------------------------------------------


def test_pdf_has_every_title_and_the_licence(board: Board, store: PhotoStore) -> None:
    out = io.BytesIO()
    proceedings_html.write_pdf(proceedings.build(board), out, store)
    reader = PdfReader(io.BytesIO(out.getvalue()))
    pages = [squeeze(page.extract_text()) for page in reader.pages]
    text = " ".join(pages)
    for title in [*TITLES, "Öppen källkod i klassrummet"]:
        assert title in text, title
    assert "CC BY 4.0" in pages[0] and "Framtidens skola" in pages[0]
    assert len(pages) >= 1 + 1 + 5 + 3  # cover, contents, a page per chapter, convergence, actions, attendance
    images = {image.data for page in reader.pages for image in page.images}
    assert len(images) == 2  # the two photos (WeasyPrint shares them between the pages' resources)


def test_making_a_pdf_leaves_upload_checks_as_strict_as_before(board: Board, store: PhotoStore) -> None:
    """WeasyPrint's import tells Pillow to load truncated images, process-wide; that must not stick."""
    proceedings_html.write_pdf(proceedings.build(board), io.BytesIO(), store)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    whole = jpeg(300, 200, (10, 120, 10))
    with pytest.raises(media.PhotoError):
        media.process(whole[: len(whole) // 2])


def test_the_pdf_fetcher_reads_only_the_stores_photos(board: Board, store: PhotoStore, tmp_path: Path) -> None:
    name = board.photos["p1"].name
    path = store.path(name, thumb=False)
    assert path is not None
    assert proceedings_html.store_file(store, path.as_uri()) == path
    assert proceedings_html.store_file(store, store.root.resolve().joinpath(f"{name}.thumb.jpg").as_uri()) is not None
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"x")
    for url in (
        secret.as_uri(),
        "file:///etc/passwd",
        f"{store.root.resolve().as_uri()}/../secret.jpg",
        f"{store.root.resolve().as_uri()}/{name}.jpg?x=1",
        "http://example.org/a.jpg",
        "https://169.254.169.254/latest/meta-data",
        "data:image/jpeg;base64,AAAA",
        f"file://evil.example{path}",
    ):
        assert proceedings_html.store_file(store, url) is None, url
    fetcher = proceedings_html._weasyprint()[1](store)
    with pytest.raises(ValueError):
        fetcher("http://example.org/a.jpg")
    response = fetcher(path.as_uri())
    try:
        assert response.read() == path.read_bytes()
    finally:
        response.close()


# --- the chart -----------------------------------------------------------------------------------------


def test_attendance_chart_is_well_formed_with_a_bar_per_session(board: Board) -> None:
    svg = proceedings_chart.attendance_chart(board)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("width") == "800"
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    assert len(bars) == 4
    heights = [float(bar.get("height", "0")) for bar in bars]
    assert heights[0] == max(heights) and heights[3] == min(heights)  # 20 people, then 12, 7 and 3
    texts = ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]
    assert "<script>alert(1)</script> Säkerhet" in " ".join(texts)  # escaped in the file, text when parsed
    assert "<script" not in svg and "10:00–11:00" in texts and "13:00–14:00" in texts
    assert svg == proceedings_chart.attendance_chart(board)
    assert "http://www.w3.org/2000/svg" in svg and "href" not in svg


def test_attendance_chart_for_an_empty_agenda_is_still_an_svg() -> None:
    root = ET.fromstring(proceedings_chart.attendance_chart(Board(event=EVENT)))
    assert root.findall(f".//{SVG}rect[@class='bar']") == []


# --- memory: the HTML streams its photos ----------------------------------------------------------------


@pytest.mark.slow
def test_html_streams_two_hundred_photos_in_bounded_memory(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "photos")
    processed = media.process(noisy_jpeg())
    spaces = {f"r{n}": Space(f"r{n}", f"Rum {n}", position=n) for n in range(6)}
    slots = {f"s{n}": Slot(f"s{n}", "2026-03-14" if n < 5 else "2026-03-15", f"{9 + n % 5:02d}:00",
                           f"{10 + n % 5:02d}:00") for n in range(10)}  # fmt: skip
    topics = {
        f"t{n}": Topic(f"t{n}", f"Session {n} om skolans framtid", convener_name="Åsa", slot_id=f"s{n // 6}",
                       space_id=f"r{n % 6}", headcount=n % 17, created_seq=n)
        for n in range(60)
    }  # fmt: skip
    photos = {f"p{n}": photo(f"t{n % 60}", store.save(processed), n, processed) for n in range(200)}
    board = Board(event=EVENT, spaces=spaces, slots=slots, topics=topics, photos=photos)
    total = sum(p.stat().st_size for p in store.root.glob("*.jpg") if not p.name.endswith(".thumb.jpg"))
    assert total > 150 * 1024 * 1024
    book = proceedings.build(board)
    target = tmp_path / "book.html"

    tracemalloc.start()
    try:
        with target.open("wb") as out:
            proceedings_html.write_html(book, out, store)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    print(f"tracemalloc peak {peak / 2**20:.1f} MiB for {total / 2**20:.1f} MiB of photos")
    assert peak < total * 0.25
    assert target.stat().st_size > total * 4 / 3
    with target.open("rb") as written:
        assert written.read(15) == b"<!doctype html>"
