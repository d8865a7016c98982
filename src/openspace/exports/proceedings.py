"""The proceedings: "the book" of an event, as Markdown, one self-contained HTML file, and a PDF.

Organisers want the book in their hands before the closing circle, so it is made from the board as it
is, with no editing step. :func:`build` turns a board into a :class:`Book` and is pure, so the three
formats can never disagree about what is in the book; the writers only lay it out, each in a module
of its own: :mod:`openspace.proceedings_markdown`, and :mod:`openspace.proceedings_html` for the HTML
and the PDF (one template). The attendance chart they all show is :mod:`openspace.proceedings_chart`.
The words every format shares (headings, dates, the facts under a chapter's title) are here, so that
the Markdown and the template say the same thing.

Every user-facing string is marked for translation. The caller sets the language first
(``i18n.set_language(event.language)``), as :mod:`openspace.exporting` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openspace import i18n
from openspace.domain.markup import report_html
from openspace.domain.model import ActionItem, Board, Event, Photo, Report, Slot, Space, Topic
from openspace.exports.chart import agenda, attendance_chart
from openspace.i18n import gettext as _
from openspace.i18n import ngettext

REPORT_FIELDS = ("participants", "discussion", "insights", "recommendations")
HTML_FIELDS = ("discussion", "insights", "recommendations")  # "participants" is a plain list of names


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
    online: int = 0  # followed from elsewhere, counted apart from `headcount` in the room (#18)

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
    also_proposed: list[Topic]  # open topics neither placed nor reported on: listed, so no idea disappears
    breaks: list[Slot] = field(default_factory=list)  # labelled slots (lunch, coffee), in time order (#15)
    downloads: tuple[tuple[str, str], ...] = ()  # (label, link): the published page's own, not a file's

    @property
    def agenda(self) -> list[tuple[Chapter | None, Slot | None]]:
        """The day as the contents read it: each session `(chapter, None)` and each break
        `(None, slot)`, in time order, so a lunch is where it was and not a silent gap (#15)."""
        rows: list[tuple[tuple[str, str, int], Chapter | None, Slot | None]] = [
            ((c.slot.day, c.slot.start, c.number), c, None) for c in self.sessions if c.slot is not None
        ]
        rows += [((s.day, s.start, 0), None, s) for s in self.breaks]
        return [(c, s) for _key, c, s in sorted(rows, key=lambda row: row[0])]

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
    a place but did get a report follow as "Other topics", so no group's work is lost. The open
    topics left, proposed but never placed nor written up, are listed as "Also proposed", so that
    nobody's idea disappears from the record (#19). Hidden and merged topics are left out, as
    everywhere people look.
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
            online=topic.online,
        )

    sessions = agenda(board)
    chapters = [chapter(n, topic, slot, space) for n, (topic, slot, space) in enumerate(sessions, start=1)]
    placed = {topic.id for topic, _slot, _space in sessions}
    also_proposed = []
    for topic in board.ordered_topics():
        if topic.status == "open" and topic.id not in placed:
            extra = chapter(len(chapters) + 1, topic, None, None)
            if extra.has_report:
                chapters.append(extra)
            else:
                also_proposed.append(topic)
    convergence = sorted(chapters, key=lambda c: (-c.dots, c.number)) if any(c.dots for c in chapters) else []
    return Book(
        event=board.event,
        chapters=chapters,
        convergence=convergence,
        actions=[(item, c) for c in chapters for item in c.actions],
        chart_svg=attendance_chart(board),
        days=board.days(),
        also_proposed=also_proposed,
        breaks=[s for s in board.ordered_slots() if s.label],
    )


def _report_html(report: Report | None) -> dict[str, str]:
    """The sanitised HTML saved with the report; a field saved without it is rendered by the same code."""
    return {name: value for name, value in report_html(report).items() if value}


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


def here_text(chapter: Chapter) -> str:
    """The attendance table's count: the room's, and those online apart ("12 + 5 online")."""
    if not chapter.online:
        return str(chapter.headcount)
    return f"{chapter.headcount} + " + _("%(num)s online") % {"num": chapter.online}


def short_time(slot: Slot | None) -> str:
    return f"{i18n.format_day(slot.day, pattern='EEE d MMM')} {slot.start}–{slot.end}" if slot else ""


def proposer(topic: Topic) -> str:
    """Who proposed a topic listed under "Also proposed": its convener and co-conveners."""
    return ", ".join(name for name in (topic.convener_name, topic.co_conveners) if name)


def facts(chapter: Chapter) -> list[str]:
    """The lines under a chapter's title: who convened it, when and where, how many came."""
    lines: list[str] = []
    if chapter.conveners:
        lines.append(_("Convened by %(names)s") % {"names": chapter.conveners})
    if chapter.placed:
        lines.append(when_text(chapter))
        count = _("%(num)s here at the end") % {"num": chapter.headcount}
        if chapter.online:
            count += " + " + _("%(num)s online") % {"num": chapter.online}
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
