"""A report's Markdown made inert for the Markdown proceedings, keeping its own formatting (#19).

The Markdown file is opened in renderers that pass raw HTML through and follow any link (pandoc,
editors' previews, wikis), so what a group typed must reach them as the app shows it: bold stays
bold, a table stays a table, but `<script>` is text, `[x](javascript:…)` is no link and an image
is its alt text (the app never loads remote images either).

No regex has to understand Markdown here. markdown-it-py parses the report as the app does
(CommonMark with tables and strikethrough, raw HTML recognised so that it can be found); the
token stream is changed where it could do harm; and mdformat, which writes Markdown from
markdown-it's tokens, writes it back out, escaping every `<`, `[`, `` ` `` and `&` in plain text
so that no other renderer can read markup into it. Headings move two levels down on the way, as
markup.render shows them, so a report's "#" never outranks its chapter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import mdformat.plugins
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdformat.renderer import MDRenderer, RenderContext, RenderTreeNode

from openspace.domain.markup import HEADING_SHIFT, URL_SCHEMES

_FENCE_LANGUAGE = re.compile(r"[\w+#.-]{1,40}")


def _strikethrough(node: RenderTreeNode, context: RenderContext) -> str:
    return "~~" + "".join(child.render(context) for child in node.children) + "~~"


def _escape_text(text: str, node: RenderTreeNode, context: RenderContext) -> str:
    """Beyond mdformat's escapes: "~~" (strikethrough), and "{", which pandoc reads as raw output
    after a code span (`` `<script>`{=html} ``) or as attributes after a link."""
    return text.replace("~~", "\\~~").replace("{", "\\{")


class _Plugin:
    """An mdformat parser extension (the module-like shape mdformat expects), for strikethrough
    and the extra escapes."""

    RENDERERS: Mapping[str, Any] = {"s": _strikethrough}
    POSTPROCESSORS: Mapping[str, Any] = {"text": _escape_text}

    @staticmethod
    def update_mdit(mdit: MarkdownIt) -> None:
        mdit.enable("strikethrough")


def _parser() -> MarkdownIt:
    # MDRenderer.render takes an extra keyword, so it does not match markdown-it's protocol exactly
    md = MarkdownIt("commonmark", {"html": True}, renderer_cls=cast(Any, MDRenderer))
    tables = mdformat.plugins.PARSER_EXTENSIONS["tables"]
    md.options["mdformat"] = {"wrap": "keep", "number": True, "end_of_line": "lf"}
    md.options["parser_extension"] = [tables, _Plugin]
    md.options["codeformatters"] = {}
    for plugin in md.options["parser_extension"]:
        plugin.update_mdit(md)
    return md


_MD = _parser()


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _lines_as_inline(content: str) -> list[Token]:
    """Text, as many lines as it had, for an inline token's children."""
    children: list[Token] = []
    for n, line in enumerate(content.rstrip("\n").split("\n")):
        if n:
            children.append(Token("softbreak", "br", 0))
        children.append(_text(line))
    return children


def _safe_href(href: str) -> bool:
    """The schemes the app's sanitiser lets through, or a link within the document."""
    try:
        scheme = urlsplit(href).scheme.lower()
    except ValueError:
        return False
    return scheme in URL_SCHEMES if scheme else not href.startswith("//")


def _alt_text(tokens: list[Token] | None) -> str:
    return "".join(t.content if t.type != "image" else _alt_text(t.children) for t in tokens or ())


def _inline(children: list[Token]) -> list[Token]:
    """Raw HTML becomes its text, an image its alt text, a link to an unsafe place its label."""
    out: list[Token] = []
    kept: list[bool] = []  # for each open link: was it kept?
    for token in children:
        if token.type == "html_inline":
            out.append(_text(token.content))
        elif token.type == "image":
            out.append(_text(_alt_text(token.children)))
        elif token.type == "link_open":
            token.meta.pop("label", None)  # written inline: no reference definitions to vet
            kept.append(_safe_href(str(token.attrs.get("href", ""))))
            if kept[-1]:
                out.append(token)
        elif token.type == "link_close":
            if kept.pop() if kept else True:
                out.append(token)
        else:
            out.append(token)
    return out


def inert(text: str) -> str:
    """A report's Markdown, safe in any Markdown renderer, formatted as its group wrote it."""
    tokens = _MD.parse(text)
    out: list[Token] = []
    for token in tokens:
        if token.type == "html_block":
            paragraph = Token("paragraph_open", "p", 1)
            inline = Token("inline", "", 0)
            inline.children = _lines_as_inline(token.content)
            out += [paragraph, inline, Token("paragraph_close", "p", -1)]
            continue
        if token.type in ("heading_open", "heading_close"):
            level = min(int(token.tag[1:]) + HEADING_SHIFT, 6)
            token.tag, token.markup = f"h{level}", "#" * level
        elif token.type == "fence":
            language = token.info.split(maxsplit=1)[0] if token.info.strip() else ""
            token.info = language if _FENCE_LANGUAGE.fullmatch(language) else ""
        elif token.type == "inline" and token.children:
            token.children = _inline(token.children)
        out.append(token)
    rendered: str = _MD.renderer.render(out, _MD.options, {})
    return rendered.strip("\n")
