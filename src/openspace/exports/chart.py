"""The attendance chart of the proceedings: head counts per session as a plain SVG bar chart.

It stands in the HTML and the PDF (the Markdown has a table instead), so it must be valid as a file
of its own, inline in HTML under the proceedings page's CSP, and in WeasyPrint alike: SVG 1.1 with
no script, no style sheet and no external reference, and every typed text escaped. Its bars are
numbered in the book's own chapter order (:func:`agenda`), which the book takes from here.
"""

from __future__ import annotations

import math
import re
from xml.sax.saxutils import escape

from openspace import i18n
from openspace.domain.model import Board, Slot, Space, Topic
from openspace.i18n import gettext as _

CHART_WIDTH = 800
_BAR_COLOUR = "#2f6690"
_INK = "#222222"
_GRID = "#d0d0d0"


def agenda(board: Board) -> list[tuple[Topic, Slot, Space]]:
    """The open sessions on the agenda, by slot (day, start) and then by the spaces' order: the
    order of the chart's bars and of the book's chapters, which share their numbers."""
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


def attendance_chart(board: Board) -> str:
    """Attendance as an SVG bar chart: a group of bars per time slot, a bar per session.

    Bar height is the session's head count at its end, written above the bar; under it stands the
    session's chapter number, which the legend below the chart resolves to its title (titles are far
    too long to stand under a bar). Plain SVG 1.1 with no script, no style sheet and no external
    reference, so the same text is valid as a file of its own, inline in HTML, and in WeasyPrint.
    Pure and deterministic: the same board (and language) gives the same bytes.
    """
    sessions = agenda(board)
    title = _("People here at the end of each session")
    if not sessions:
        empty = _x(_("No sessions on the agenda yet."))
        return _svg(70, title, [f'<text x="{CHART_WIDTH // 2}" y="45" text-anchor="middle">{empty}</text>'])
    groups: list[tuple[Slot, list[tuple[int, Topic, Space]]]] = []
    for number, (topic, slot, space) in enumerate(sessions, start=1):
        if not groups or groups[-1][0].id != slot.id:
            groups.append((slot, []))
        groups[-1][1].append((number, topic, space))
    many_days = len({slot.day for slot, _bars in groups}) > 1

    peak = max(topic.headcount for topic, _slot, _space in sessions)
    step = _nice_step(peak)
    scale_top = max(step, math.ceil(peak / step) * step)

    left, right, plot_height = 60, 16, 240
    plot_width = CHART_WIDTH - left - right
    units = len(sessions) + (len(groups) - 1)  # a bar per session, one bar's width between slots
    unit = plot_width / units
    bar_width = min(unit * 0.78, 56.0)
    # Numbers that do not fit across a bar (many sessions) are turned upright instead of overlapping.
    upright_counts = unit < len(str(peak)) * 7.5 + 4
    upright_numbers = unit < len(str(len(sessions))) * 7.5 + 4
    top = 48 + (14 if upright_counts else 0)
    axis_y = top + plot_height
    numbers_height = 8 + 7 * len(str(len(sessions))) if upright_numbers else 16

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

    columns = 1 if len(sessions) <= 10 else 2
    rows = math.ceil(len(sessions) / columns)
    column_width = plot_width / columns
    fit = max(12, int((column_width - 34) / 7.4))  # characters of DejaVu Sans at 13px that fit a column
    legend_top = slot_y + (40 if many_days else 24)
    for index, (topic, _slot, _space) in enumerate(sessions):
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
