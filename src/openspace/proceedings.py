"""The proceedings: "the book" of an event, as Markdown, one self-contained HTML file, and a PDF.

Organisers want the book in their hands before the closing circle, so it is made from the board as it
is, with no editing step. :func:`build` turns a board into a :class:`Book` and is pure, so the three
formats can never disagree about what is in the book; the writers only lay it out.

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

Every user-facing string is marked for translation. The caller sets the language first
(``i18n.set_language(event.language)``), as :mod:`openspace.exporting` does.
"""

from __future__ import annotations

import base64
import math
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname
from xml.sax.saxutils import escape

import orjson
from jinja2 import Environment, FileSystemLoader
from markdown_it import MarkdownIt
from markupsafe import Markup
from PIL import ImageFile

from . import i18n, markup, media
from .i18n import gettext as _
from .i18n import ngettext
from .media import PhotoStore
from .model import ActionItem, Board, Event, Photo, Report, Slot, Space, Topic
from .rendering import asset_dir

TEMPLATE = "proceedings.html"
REPORT_FIELDS = ("participants", "discussion", "insights", "recommendations")
HTML_FIELDS = ("discussion", "insights", "recommendations")  # "participants" is a plain list of names

CHART_WIDTH = 800
_BAR_COLOUR = "#2f6690"
_INK = "#222222"
_GRID = "#d0d0d0"

# Photos are copied into the HTML in chunks of this many bytes: a multiple of 3, so the base64 of the
# chunks, written one after the other, is exactly the base64 of the whole file.
_PHOTO_CHUNK = 3 * 64 * 1024
_TEXT_BUFFER = 64 * 1024  # characters of HTML collected before each write to `out`


# --- the book --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chapter:
    """One session of the book, with everything the writers show about it.

    `report` is the Markdown as the group wrote it (the Markdown export prints it as written);
    `html` is the same text rendered and sanitised when it was saved (the HTML and the PDF show that).
    """

    number: int  # 1, 2, …: agenda order, then the other topics; also the bar's number in the chart
    topic: Topic
    slot: Slot | None
    space: Space | None
    conveners: str
    headcount: int
    arrived: int
    left: int
    dots: int
    report: dict[str, str]
    html: dict[str, str]
    photos: list[Photo]
    actions: list[ActionItem]

    @property
    def title(self) -> str:
        return self.topic.title

    @property
    def anchor(self) -> str:
        """The fragment the table of contents links to; made of the number only, never of typed text."""
        return f"session-{self.number}"

    @property
    def space_name(self) -> str:
        return self.space.name if self.space else ""

    @property
    def placed(self) -> bool:
        return self.slot is not None and self.space is not None

    @property
    def has_report(self) -> bool:
        return any(text.strip() for text in self.report.values())


@dataclass(frozen=True, slots=True)
class Book:
    """What the proceedings contain, in order; the same for Markdown, HTML and PDF."""

    event: Event
    chapters: list[Chapter]  # the sessions in agenda order, then "Other topics" (unplaced, with a report)
    convergence: list[Chapter]  # by dots, most first; empty when nobody gave a dot
    actions: list[tuple[ActionItem, Chapter]]  # every action item, with its session, in book order
    chart_svg: str
    days: list[str]

    @property
    def sessions(self) -> list[Chapter]:
        return [c for c in self.chapters if c.placed]

    @property
    def others(self) -> list[Chapter]:
        return [c for c in self.chapters if not c.placed]

    @property
    def ranking(self) -> list[tuple[int, Chapter]]:
        """The convergence table's rows: equal dots share a rank (1, 2, 2, 4)."""
        rows: list[tuple[int, Chapter]] = []
        for position, chapter in enumerate(self.convergence, start=1):
            tied = rows and rows[-1][1].dots == chapter.dots
            rows.append((rows[-1][0] if tied else position, chapter))
        return rows


def build(board: Board) -> Book:
    """The book of `board`: pure, so every format shows the same sessions in the same order.

    Chapters are the open sessions on the agenda, by day, start and space; open topics that never got
    a place but did get a report follow as "Other topics", so no group's work is lost. Hidden and
    merged topics are left out, as everywhere people look.
    """
    photos: dict[str, list[Photo]] = {}
    for photo in sorted(board.photos.values(), key=lambda p: (p.created_at, p.id)):
        photos.setdefault(photo.topic_id, []).append(photo)
    actions: dict[str, list[ActionItem]] = {}
    for item in board.actions.values():  # in the order they were added
        actions.setdefault(item.topic_id, []).append(item)

    def chapter(number: int, topic: Topic, slot: Slot | None, space: Space | None) -> Chapter:
        report = board.reports.get(topic.id)
        return Chapter(
            number=number,
            topic=topic,
            slot=slot,
            space=space,
            conveners=", ".join(name for name in (topic.convener_name, topic.co_conveners) if name),
            headcount=topic.headcount,
            arrived=topic.arrived,
            left=topic.left,
            dots=topic.dots,
            report={f: getattr(report, f) if report else "" for f in REPORT_FIELDS},
            html=_report_html(report),
            photos=photos.get(topic.id, []),
            actions=actions.get(topic.id, []),
        )

    agenda = _agenda(board)
    chapters = [chapter(n, topic, slot, space) for n, (topic, slot, space) in enumerate(agenda, start=1)]
    placed = {topic.id for topic, _slot, _space in agenda}
    for topic in board.ordered_topics():
        if topic.status == "open" and topic.id not in placed:
            extra = chapter(len(chapters) + 1, topic, None, None)
            if extra.has_report:
                chapters.append(extra)
    convergence = sorted(chapters, key=lambda c: (-c.dots, c.number)) if any(c.dots for c in chapters) else []
    return Book(
        event=board.event,
        chapters=chapters,
        convergence=convergence,
        actions=[(item, c) for c in chapters for item in c.actions],
        chart_svg=attendance_chart(board),
        days=board.days(),
    )


def _agenda(board: Board) -> list[tuple[Topic, Slot, Space]]:
    """The open sessions on the agenda, by slot (day, start) and then by the spaces' order."""
    slot_rank = {s.id: n for n, s in enumerate(board.ordered_slots())}
    space_rank = {s.id: n for n, s in enumerate(board.ordered_spaces())}
    rows: list[tuple[Topic, Slot, Space]] = []
    for topic in board.topics.values():
        slot = board.slots.get(topic.slot_id or "")
        space = board.spaces.get(topic.space_id or "")
        if topic.status == "open" and slot is not None and space is not None:
            rows.append((topic, slot, space))
    rows.sort(key=lambda row: (slot_rank[row[1].id], space_rank[row[2].id], row[0].created_seq, row[0].id))
    return rows


def _report_html(report: Report | None) -> dict[str, str]:
    """The sanitised HTML saved with the report; a field saved without it is rendered by the same code."""
    if report is None:
        return {}
    try:
        saved = orjson.loads(report.html or "{}")
    except orjson.JSONDecodeError:
        saved = {}
    if not isinstance(saved, dict):
        saved = {}
    html: dict[str, str] = {}
    for name in HTML_FIELDS:
        value = saved.get(name)
        if not isinstance(value, str):
            value = markup.render(getattr(report, name))
        if value:
            html[name] = value
    return html


# --- text shared by every format -----------------------------------------------------------------


def field_label(name: str) -> str:
    """A report section's heading: the report page's own labels, but no "(optional)" in a book."""
    labels = {
        "participants": _("Participants"),
        "discussion": _("Discussion"),
        "insights": _("Key insights"),
        "recommendations": _("Recommendations and next steps"),
    }
    return labels[name]


def dates_text(book: Book) -> str:
    """When the event was: its own dates, else the days of its agenda."""
    start = book.event.starts_on or (book.days[0] if book.days else "")
    end = book.event.ends_on or (book.days[-1] if book.days else "")
    if not start:
        return ""
    if not end or end == start:
        return i18n.format_day(start, pattern="EEEE d MMMM y")
    return f"{i18n.format_day(start, pattern='d MMMM y')} – {i18n.format_day(end, pattern='d MMMM y')}"


def licence_text(event: Event) -> str:
    return _("Licence: %(licence)s") % {"licence": event.licence} if event.licence else ""


def when_text(chapter: Chapter) -> str:
    """Day, time and space of a session, e.g. "Saturday 14 March, 10:00–11:00 · Room A"."""
    if chapter.slot is None or chapter.space is None:
        return ""
    slot = chapter.slot
    return f"{i18n.format_day(slot.day)}, {slot.start}–{slot.end} · {chapter.space.name}"


def short_time(slot: Slot | None) -> str:
    return f"{i18n.format_day(slot.day, pattern='EEE d MMM')} {slot.start}–{slot.end}" if slot else ""


def facts(chapter: Chapter) -> list[str]:
    """The lines under a chapter's title: who convened it, when and where, how many came."""
    lines: list[str] = []
    if chapter.conveners:
        lines.append(_("Convened by %(names)s") % {"names": chapter.conveners})
    if chapter.placed:
        lines.append(when_text(chapter))
        count = _("%(num)s here at the end") % {"num": chapter.headcount}
        if chapter.arrived or chapter.left:
            count += " · " + _("%(came)s came, %(left)s left") % {"came": chapter.arrived, "left": chapter.left}
        lines.append(count)
    if chapter.dots:
        lines.append(ngettext("%(num)s dot", "%(num)s dots", chapter.dots) % {"num": chapter.dots})
    return lines


def photo_alt(chapter: Chapter, index: int) -> str:
    return _("Photo %(num)s from “%(title)s”") % {"num": index, "title": chapter.title}


def due_text(item: ActionItem) -> str:
    return i18n.format_day(item.due, pattern="d MMMM y") if item.due else ""


# --- the attendance chart -------------------------------------------------------------------------


def attendance_chart(board: Board) -> str:
    """Attendance as an SVG bar chart: a group of bars per time slot, a bar per session.

    Bar height is the session's head count at its end, written above the bar; under it stands the
    session's chapter number, which the legend below the chart resolves to its title (titles are far
    too long to stand under a bar). Plain SVG 1.1 with no script, no style sheet and no external
    reference, so the same text is valid as a file of its own, inline in HTML, and in WeasyPrint.
    Pure and deterministic: the same board (and language) gives the same bytes.
    """
    agenda = _agenda(board)
    title = _("People here at the end of each session")
    if not agenda:
        empty = _x(_("No sessions on the agenda yet."))
        return _svg(70, title, [f'<text x="{CHART_WIDTH // 2}" y="45" text-anchor="middle">{empty}</text>'])
    groups: list[tuple[Slot, list[tuple[int, Topic, Space]]]] = []
    for number, (topic, slot, space) in enumerate(agenda, start=1):
        if not groups or groups[-1][0].id != slot.id:
            groups.append((slot, []))
        groups[-1][1].append((number, topic, space))
    many_days = len({slot.day for slot, _bars in groups}) > 1

    peak = max(topic.headcount for topic, _slot, _space in agenda)
    step = _nice_step(peak)
    scale_top = max(step, math.ceil(peak / step) * step)

    left, right, plot_height = 60, 16, 240
    plot_width = CHART_WIDTH - left - right
    units = len(agenda) + (len(groups) - 1)  # a bar per session, one bar's width between slots
    unit = plot_width / units
    bar_width = min(unit * 0.78, 56.0)
    # Numbers that do not fit across a bar (many sessions) are turned upright instead of overlapping.
    upright_counts = unit < len(str(peak)) * 7.5 + 4
    upright_numbers = unit < len(str(len(agenda))) * 7.5 + 4
    top = 48 + (14 if upright_counts else 0)
    axis_y = top + plot_height
    numbers_height = 8 + 7 * len(str(len(agenda))) if upright_numbers else 16

    parts: list[str] = [
        f'<text x="{left}" y="26" font-size="16" font-weight="bold">{_x(title)}</text>',
    ]
    for value in range(0, scale_top + 1, step):
        y = axis_y - value / scale_top * plot_height
        parts.append(
            f'<line x1="{left}" y1="{_n(y)}" x2="{left + plot_width}" y2="{_n(y)}" stroke="{_GRID}" stroke-width="1"/>'
        )
        parts.append(f'<text x="{left - 8}" y="{_n(y + 4)}" text-anchor="end">{value}</text>')
    middle = top + plot_height / 2
    people = _("People")
    parts.append(
        f'<text x="18" y="{_n(middle)}" text-anchor="middle" transform="rotate(-90 18 {_n(middle)})">'
        f"{_x(people)}</text>"
    )

    position = 0
    previous_day = ""
    slot_y = axis_y + numbers_height + 16
    for slot, bars in groups:
        group_start = position
        for number, topic, space in bars:
            centre = left + (position + 0.5) * unit
            height = topic.headcount / scale_top * plot_height
            tip = f"{number}. {topic.title} · {space.name}: {topic.headcount}"
            parts.append(
                f'<rect class="bar" x="{_n(centre - bar_width / 2)}" y="{_n(axis_y - height)}" '
                f'width="{_n(bar_width)}" height="{_n(height)}" fill="{_BAR_COLOUR}"><title>{_x(tip)}</title></rect>'
            )
            parts.append(_label(centre, axis_y - height - 4, str(topic.headcount), upright_counts, above=True))
            parts.append(_label(centre, axis_y + 5, str(number), upright_numbers, above=False))
            position += 1
        group_centre = left + (group_start + position) / 2 * unit
        group_width = (position - group_start) * unit
        label = f"{slot.start}–{slot.end}" if group_width >= 90 else slot.start
        parts.append(f'<text x="{_n(group_centre)}" y="{slot_y}" text-anchor="middle">{_x(label)}</text>')
        if many_days and slot.day != previous_day:
            day = i18n.format_day(slot.day, pattern="EEE d MMM")
            x = left + group_start * unit
            parts.append(f'<text x="{_n(x)}" y="{slot_y + 17}" font-weight="bold">{_x(day)}</text>')
        previous_day = slot.day
        position += 1  # the gap between slots
    parts.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_width}" y2="{axis_y}" stroke="{_INK}" stroke-width="1.5"/>'
    )

    columns = 1 if len(agenda) <= 10 else 2
    rows = math.ceil(len(agenda) / columns)
    column_width = plot_width / columns
    fit = max(12, int((column_width - 34) / 7.4))  # characters of DejaVu Sans at 13px that fit a column
    legend_top = slot_y + (40 if many_days else 24)
    for index, (topic, _slot, _space) in enumerate(agenda):
        column, row = divmod(index, rows)
        x = left + column * column_width
        y = legend_top + row * 18
        name = _truncate(topic.title, fit)
        parts.append(
            f'<text x="{_n(x)}" y="{_n(y)}"><tspan font-weight="bold">{index + 1}</tspan>'
            f'<tspan x="{_n(x + 30)}">{_x(name)}</tspan></text>'
        )
    return _svg(legend_top + rows * 18, title, parts)


def _label(x: float, y: float, text: str, upright: bool, *, above: bool) -> str:
    """A bar's number: across the bar when it fits, else upright, reading upwards from the bar or axis."""
    weight = ' font-weight="bold"' if above else ""
    if not upright:
        y = y if above else y + 10
        return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="middle" font-size="11"{weight}>{text}</text>'
    x += 4  # the glyphs of upright text hang to the left of its baseline
    anchor = "start" if above else "end"
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="11"{weight} '
        f'transform="rotate(-90 {_n(x)} {_n(y)})">{text}</text>'
    )


def _svg(height: int | float, title: str, parts: list[str]) -> str:
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{CHART_WIDTH}" height="{_n(height)}" '
        f'viewBox="0 0 {CHART_WIDTH} {_n(height)}" role="img" aria-labelledby="attendance-chart-title" '
        f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13" fill="{_INK}">'
        f'<title id="attendance-chart-title">{_x(title)}</title>{body}</svg>'
    )


def _nice_step(peak: int) -> int:
    """A round step (1, 2, 5, 10, 20, 50, …) giving at most five gridlines above zero."""
    for exponent in range(10):
        for base in (1, 2, 5):
            step: int = base * 10**exponent
            if peak <= step * 5:
                return step
    return 10**10


def _n(value: float) -> str:
    """A coordinate with at most one decimal: short, and the same bytes on every machine."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _x(text: str) -> str:
    """Text for an SVG text node: XML-escaped, and without control characters XML forbids."""
    return escape(_CONTROL.sub("", text))


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- Markdown -------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
_MD_LIST_START = re.compile(r"^(\d+)([.)])")


def _md(text: str) -> str:
    """Typed text (a title, a name) on one line of Markdown, showing exactly as typed.

    Markdown punctuation is backslash-escaped, so a title can neither format the page nor slip in
    raw HTML, and line breaks are folded so it stays inside its heading, list item or table cell.
    """
    line = " ".join(text.split())
    line = _MD_ENTITY.sub(r"\\&", _MD_SPECIAL.sub(r"\\\1", line))
    line = _MD_LIST_START.sub(r"\1\\\2", line)
    return "\\" + line if line[:1] in ("-", "+", "=") else line


def _md_url(url: str) -> str:
    """A link destination that survives spaces and parentheses (CommonMark's <…> form)."""
    if re.search(r"[\s()<>]", url):
        return "<" + url.replace("<", "%3C").replace(">", "%3E").replace("\n", "%0A") + ">"
    return url


_BLOCKS = MarkdownIt("commonmark")


def _shift_headings(text: str) -> str:
    """A report's own headings two levels down, as markup.render shows them ("#" becomes "###").

    Otherwise a report's "# Title" would outrank the chapter it belongs to. Only headings that
    markdown-it finds at the top level change (never a "#" in code or in a quote); the rest of the
    text stays exactly as written.
    """
    lines = re.sub(r"\r\n?", "\n", text).split("\n")
    headings = [t for t in _BLOCKS.parse("\n".join(lines)) if t.type == "heading_open" and t.level == 0 and t.map]
    for token in reversed(headings):
        start, end = token.map or (0, 0)
        hashes = "#" * min(int(token.tag[1:]) + 2, 6)
        if token.markup.startswith("#"):
            indent = len(lines[start]) - len(lines[start].lstrip(" "))
            lines[start] = lines[start][:indent] + hashes + lines[start][indent:].lstrip("#")
        else:  # a setext heading: its text lines, then a line of "=" or "-"
            lines[start:end] = [hashes + " " + " ".join(line.strip() for line in lines[start : end - 1])]
    return "\n".join(lines)


def _md_words() -> dict[str, str]:
    """The Markdown's own words, translated and escaped; written out so that Babel extracts each one."""
    words = {
        "Action items": _("Action items"),
        "Action list": _("Action list"),
        "Attendance": _("Attendance"),
        "Contents": _("Contents"),
        "Convergence": _("Convergence"),
        "Dots": _("Dots"),
        "Due": _("Due"),
        "Flip-chart photos": _("Flip-chart photos"),
        "No report yet": _("No report yet"),
        "Other topics": _("Other topics"),
        "Session": _("Session"),
        "What": _("What"),
        "Who": _("Who"),
    }
    return {key: _md(value) for key, value in words.items()}


def markdown(book: Book, photo_link: Callable[[Photo], str]) -> str:
    """The proceedings as one Markdown document, for wikis, e-mail and version control.

    Reports appear as their groups wrote them (they are Markdown already); everything else that
    people typed is escaped. `photo_link` names each photo's file, e.g. its name in the archive;
    a photo it gives no link for is left out. The attendance chart cannot be Markdown, so attendance
    is a table here.
    """
    event = book.event
    w = _md_words()
    out: list[str] = [f"# {_md(event.name)}", ""]
    if event.theme:
        out += [f"> {_md(event.theme)}", ""]
    cover = [_md(text) for text in (dates_text(book), event.venue, licence_text(event)) if text]
    if cover:
        out += [" \\\n".join(cover), ""]

    out += [f"## {w['Contents']}", ""]
    for c in book.sessions:
        out.append(f"- [{c.number}. {_md(c.title)}](#{c.anchor}) · {_md(short_time(c.slot))} · {_md(c.space_name)}")
    if book.others:
        out.append(f"- [{w['Other topics']}](#other-topics)")
        out += [f"  - [{c.number}. {_md(c.title)}](#{c.anchor})" for c in book.others]
    if book.convergence:
        out.append(f"- [{w['Convergence']}](#convergence)")
    if book.actions:
        out.append(f"- [{w['Action list']}](#action-list)")
    if book.sessions:
        out.append(f"- [{w['Attendance']}](#attendance)")
    out.append("")

    for c in book.chapters:
        if c.number == (book.others[0].number if book.others else 0):
            out += ['<a id="other-topics"></a>', "", f"## {w['Other topics']}", ""]
        out += _md_chapter(c, photo_link)

    if book.convergence:
        out += ['<a id="convergence"></a>', "", f"## {w['Convergence']}", ""]
        out += [f"| # | {w['Session']} | {w['Dots']} |", "|--:|---|--:|"]
        out += [f"| {rank} | [{_md(c.title)}](#{c.anchor}) | {c.dots} |" for rank, c in book.ranking]
        out.append("")
    if book.actions:
        out += ['<a id="action-list"></a>', "", f"## {w['Action list']}", ""]
        out += [f"| {w['What']} | {w['Who']} | {w['Due']} | {w['Session']} |", "|---|---|---|---|"]
        for item, c in book.actions:
            row = (_md(item.what), _md(item.who), _md(due_text(item)), f"[{_md(c.title)}](#{c.anchor})")
            out.append(f"| {' | '.join(row)} |")
        out.append("")
    if book.sessions:
        out += ['<a id="attendance"></a>', "", f"## {w['Attendance']}", ""]
        heads = (_("Session"), _("Time"), _("Space"), _("Here"), _("Came"), _("Left"))
        out += ["| " + " | ".join(_md(h) for h in heads) + " |", "|---|---|---|--:|--:|--:|"]
        for c in book.sessions:
            cells = (f"[{_md(c.title)}](#{c.anchor})", _md(short_time(c.slot)), _md(c.space_name))
            out.append(f"| {' | '.join(cells)} | {c.headcount} | {c.arrived} | {c.left} |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _md_chapter(c: Chapter, photo_link: Callable[[Photo], str]) -> list[str]:
    w = _md_words()
    out = [f'<a id="{c.anchor}"></a>', "", f"## {c.number}. {_md(c.title)}", ""]
    lines = [_md(line) for line in facts(c)]
    if lines:
        out += [" \\\n".join(lines), ""]
    written = [name for name in REPORT_FIELDS if c.report.get(name, "").strip()]
    for name in written:
        text = c.report[name]
        if name == "participants":  # plain text, as the report page shows it: a name per line
            body = " \\\n".join(_md(line) for line in text.splitlines() if line.strip())
        else:
            body = _shift_headings(text).strip("\n")
        out += [f"### {_md(field_label(name))}", "", body, ""]
    if not written:
        out += [f"*{w['No report yet']}*", ""]
    pictures = [(n, photo_link(photo)) for n, photo in enumerate(c.photos, start=1)]
    pictures = [(n, link) for n, link in pictures if link]
    if pictures:
        out += [f"### {w['Flip-chart photos']}", ""]
        out += [f"![{_md(photo_alt(c, n))}]({_md_url(link)})\n" for n, link in pictures]
    if c.actions:
        out += [f"### {w['Action items']}", ""]
        for item in c.actions:
            out.append("- " + " · ".join(_md(part) for part in (item.what, item.who, due_text(item)) if part))
        out.append("")
    return out


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

    With `embed`, each full photo becomes a ``data:`` URI, copied from disk a chunk at a time while
    the document is written, so memory stays bounded whatever the number of photos. Without it, photos
    are ``file://`` URLs of the photo store: only for a reader on this machine, such as WeasyPrint.
    A photo whose file is gone is left out.
    """
    nonce = secrets.token_hex(12)  # unguessable, so no text a person typed can pose as a photo's place
    marker = re.compile(re.escape(f"\ue000{nonce}:") + r"(\d+)\ue001")
    pending: list[Path] = []

    def photo_src(photo: Photo) -> str:
        path = photos.path(photo.name, thumb=False)
        if path is None:
            return ""
        if not embed:
            return path.as_uri()
        pending.append(path)
        return f"\ue000{nonce}:{len(pending) - 1}\ue001"

    writer = _Writer(out)
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

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.pieces: list[str] = []
        self.size = 0

    def text(self, piece: str) -> None:
        if piece:
            self.pieces.append(piece)
            self.size += len(piece)
            if self.size >= _TEXT_BUFFER:
                self.flush()

    def photo(self, path: Path) -> None:
        self.flush()
        try:
            file = path.open("rb")
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
        return path.as_uri() if path is not None else ""

    document = "".join(_render(book, photo_src))
    base_url = photos.root.resolve().as_uri() + "/"
    html_class(string=document, base_url=base_url, url_fetcher=fetcher_class(photos)).write_pdf(out)


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
            path = store_file(self.photos, url)
            if path is None:
                raise ValueError("only the event's own photos may be read")
            return URLFetcherResponse(path.as_uri(), body=path.open("rb"), headers={"Content-Type": "image/jpeg"})

    return HTML, StoreFetcher
