"""The proceedings as one Markdown document, for wikis, e-mail and version control.

Reports are Markdown already and keep their groups' formatting, made inert by `inert` (raw HTML
shown as text, no unsafe links, headings shifted below the chapter's); everything else people
typed (titles, names, action items) is escaped so that it shows as typed and can neither format
the page nor slip in raw HTML.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from openspace.domain.model import Photo
from openspace.exports.inert import inert
from openspace.exports.proceedings import (
    REPORT_FIELDS,
    Book,
    Chapter,
    dates_text,
    due_text,
    facts,
    field_label,
    here_text,
    licence_text,
    photo_alt,
    proposer,
    short_time,
)
from openspace.i18n import gettext as _

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


def _md_words() -> dict[str, str]:
    """The Markdown's own words, translated and escaped; written out so that Babel extracts each one."""
    words = {
        "Action items": _("Action items"),
        "Action list": _("Action list"),
        "Also proposed": _("Also proposed"),
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

    Reports keep their own Markdown formatting but are made inert; everything else that people
    typed is escaped. `photo_link` names each photo's file, e.g. its name in the archive;
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
    for c, pause in book.agenda:
        if pause is not None:  # a break, where it is in the day (#15)
            out.append(f"- *{_md(pause.label)}* · {_md(short_time(pause))}")
        elif c is not None:
            out.append(f"- [{c.number}. {_md(c.title)}](#{c.anchor}) · {_md(short_time(c.slot))} · {_md(c.space_name)}")
    if book.others:
        out.append(f"- [{w['Other topics']}](#other-topics)")
        out += [f"  - [{c.number}. {_md(c.title)}](#{c.anchor})" for c in book.others]
    if book.also_proposed:
        out.append(f"- [{w['Also proposed']}](#also-proposed)")
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

    if book.also_proposed:
        out += ['<a id="also-proposed"></a>', "", f"## {w['Also proposed']}", ""]
        out += [_md(_("Proposed in the marketplace, but not held as a session.")), ""]
        out += ["- " + " · ".join(_md(part) for part in (t.title, proposer(t)) if part) for t in book.also_proposed]
        out.append("")
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
            out.append(f"| {' | '.join(cells)} | {_md(here_text(c))} | {c.arrived} | {c.left} |")
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
            body = inert(text)
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
