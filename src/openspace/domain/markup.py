"""Session reports in Markdown, rendered to HTML that is safe to show to everyone.

Reports are written by participants and shown on every phone, on the projector and in exports, so
whatever someone types must never become script, styling, frames or remote images. Two walls stand
between the text and the page:

1. markdown-it-py parses with the CommonMark preset and ``html`` switched off, so raw HTML in a
   report is never passed through: it is escaped and shows up as the text that was typed. Its link
   validator also refuses ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` destinations.
2. nh3 (ammonia) then cleans the HTML against a short allow-list of tags, attributes and URL
   schemes. Anything that slips past the first wall, through a parser bug or a future change of
   options, is removed here rather than trusted.

Images are not part of reports (photos are uploaded separately, and a remote image would leak who
is reading): ``![alt](url)`` is shown as its alt text. Headings are shifted down two levels because
reports sit under the page's own headings: ``#`` becomes ``<h3>``, ``##`` becomes ``<h4>``.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import nh3
import orjson
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

if TYPE_CHECKING:  # a report is read, not made, here
    from openspace.domain.model import Report

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p",
        "br",
        "strong",
        "em",
        "del",
        "s",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "h3",
        "h4",
        "h5",
        "h6",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "hr",
    }
)
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {"a": frozenset({"href", "title"})}
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"

HEADING_SHIFT = 2
_WHITESPACE = re.compile(r"\s+")


def _alt_text(tokens: Sequence[Token] | None) -> str:
    """The plain text of an image's alt, as CommonMark defines it (markup stripped)."""
    parts: list[str] = []
    for token in tokens or ():
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type == "image":
            parts.append(_alt_text(token.children))
        elif token.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)


def _report_tokens(state: StateCore) -> None:
    """Shift headings down two levels and turn images into their alt text.

    Done on tokens rather than on the HTML so no regex ever has to understand markup.
    """
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            level = int(token.tag[1:])
            token.tag = f"h{min(level + HEADING_SHIFT, 6)}"
        elif token.type == "inline" and token.children:
            for index, child in enumerate(token.children):
                if child.type == "image":
                    text = Token("text", "", 0)
                    text.content = _alt_text(child.children)
                    token.children[index] = text


def _parser() -> MarkdownIt:
    """CommonMark without raw HTML, linkify or typographer, plus tables and strikethrough."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"], ignoreInvalid=True)
    md.core.ruler.push("openspace_report", _report_tokens)
    return md


_MD = _parser()


def _sanitise(markup: str) -> str:
    """The second wall: only the allow-listed tags, attributes and URL schemes survive."""
    return nh3.clean(
        markup,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        strip_comments=True,
        link_rel=LINK_REL,
        url_schemes=set(URL_SCHEMES),
    )


CACHE_SIZE = 64
_rendered: OrderedDict[str, str] = OrderedDict()  # the last few texts, as `render` made them


def render(text: str) -> str:
    """Markdown to HTML that is safe to insert into any page; "" for empty or blank input.

    markdown-it escapes raw HTML and refuses dangerous link schemes; nh3 then removes anything
    outside the allow-list, so a mistake in either one alone does not open a hole.

    Remembered for the last few texts: the service renders a report's texts in a job pool worker
    before the save reaches the writer and hands them to `remember`, so the writer's transaction
    finds them here instead of spending the writer's time on Markdown (issue #21, case 7).
    """
    if not text or not text.strip():
        return ""
    found = _rendered.get(text)
    if found is None:
        found = _sanitise(_MD.render(text)).strip()
        remember({text: found})
    return found


def rendered(texts: Sequence[str]) -> dict[str, str]:
    """Each text rendered (in a job pool worker): hand the answer to `remember` where it is needed."""
    return {text: render(text) for text in texts}


def remember(pairs: dict[str, str]) -> None:
    """Keep rendered texts (a worker's answer) so a later `render` of the same text is a lookup."""
    for text, html_text in pairs.items():
        _rendered[text] = html_text
        with contextlib.suppress(KeyError):  # the writer's thread and the loop may trim at once
            _rendered.move_to_end(text)
    while len(_rendered) > CACHE_SIZE:
        with contextlib.suppress(KeyError):
            _rendered.popitem(last=False)


def forget() -> None:
    """Drop every remembered text (tests)."""
    _rendered.clear()


def excerpt(text: str, limit: int = 280) -> str:
    """Plain text of the start of a report, at most `limit` characters, for previews and CSV.

    Derived from the rendered and sanitised HTML, so it is exactly the text a reader of the report
    sees, without Markdown syntax: nh3 strips every tag, entities are unescaped and whitespace is
    collapsed. Longer text is cut at a word boundary and ends with "…". The result is plain text,
    not HTML: a `<` the author typed comes back as `<`, so escape it when putting it in a page.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    plain = html.unescape(nh3.clean(render(text), tags=set()))
    plain = _WHITESPACE.sub(" ", plain).strip()
    if len(plain) <= limit:
        return plain
    head = plain[: limit - 1]
    if not plain[limit - 1].isspace():
        cut = head.rfind(" ")
        if cut > 0:
            head = head[:cut]
    return head.rstrip(" ,;:.-–—") + "…"


HTML_FIELDS = ("discussion", "insights", "recommendations")  # "participants" is a plain list of names


def stored_html(texts: dict[str, str]) -> str:
    """The stored HTML of a report's texts (JSON, by field), all rendered."""
    return orjson.dumps({f: render(texts[f]) for f in HTML_FIELDS}).decode()


def report_html(report: Report | None) -> dict[str, str]:
    """A report's texts as sanitised HTML, by field: as its row keeps them, and rendered here for a
    field typed since the last checkpoint. Typing drops the changed field's HTML rather than render
    Markdown on the writer at every keystroke; the checkpoint renders it again (cowriting.py)."""
    if report is None:
        return {}
    try:
        saved = orjson.loads(report.html or "{}")
    except orjson.JSONDecodeError:
        saved = {}
    if not isinstance(saved, dict):
        saved = {}
    html = {f: v for f in HTML_FIELDS if isinstance(v := saved.get(f), str)}
    return html | {f: render(getattr(report, f)) for f in HTML_FIELDS if f not in html and getattr(report, f)}
