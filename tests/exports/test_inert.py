"""The Markdown proceedings are inert in renderers that pass raw HTML through (#19 point 2), and a
report keeps its own Markdown formatting there."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from starlette.testclient import TestClient

from openspace.exports.inert import inert
from tests.conftest import act, create_event, join, setup_grid, state

HOSTILE = [
    "Vi testade <script>alert(1)</script> och <img src=x onerror=alert(1)> på **skärmen**.",
    "<div onclick=alert(1)>\nhej\n</div>\n\nefter",
    "<!-- a comment --><iframe src=//evil.example></iframe>",
    "[klicka](javascript:alert(1)) [här](JaVaScRiPt&#58;alert(1)) <javascript:alert(1)>",
    "[ref][r] ![spår](https://tracker.example/pixel.png)\n\n[r]: vbscript:msgbox(1)",
    "[data](data:text/html;base64,PHNjcmlwdD4=) [fil](file:///etc/passwd) [pro](//evil.example/x)",
    "| a | b |\n|---|---|\n| <b onmouseover=alert(1)>x</b> | ok |",
    "> citat <svg onload=alert(1)>\n\n- punkt <a href=javascript:alert(1)>x</a>",
    "`<script>`{=html} and\n\n```{=html}\n<script>alert(1)</script>\n```",
]


def permissive() -> MarkdownIt:
    """A renderer as the file's readers use: raw HTML on, tables, strikethrough, any link scheme."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


def flat(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for token in tokens:
        out.append(token)
        out += flat(token.children or [])
    return out


def harm(markdown: str, allowed_html: re.Pattern[str] | None = None) -> list[str]:
    """Everything in `markdown` that a permissive renderer would turn into markup of its own."""
    found = []
    for token in flat(permissive().parse(markdown)):
        if token.type in ("html_block", "html_inline"):
            if not (allowed_html and allowed_html.fullmatch(token.content.strip())):
                found.append(token.content)
        elif token.type in ("link_open", "image"):
            href = str(token.attrs.get("href") or token.attrs.get("src") or "")
            if not re.match(r"(https?:|mailto:|#|photos/)", href):
                found.append(f"{token.type} {href}")
    if re.search(r"`\{=|\)\{|^(```|~~~)\s*\{", markdown, re.MULTILINE):  # pandoc's raw output and attributes
        found.append("pandoc raw attribute")
    return found


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_report_is_inert(text: str) -> None:
    """No raw HTML, no link or image to anywhere but the web, mail or the document itself."""
    assert harm(text), "the case must be harmful to begin with"
    assert harm(inert(text)) == []


def test_a_report_keeps_its_formatting() -> None:
    """Bold, lists, tables, quotes, code and safe links stay Markdown; headings sit two levels down."""
    text = (
        "# Viktigast\nAlla **måste** vara med, *helst* i tid.\n\n"
        "- ett\n- två med `kod`\n\n1. först\n2. sedan\n\n"
        "| Vem | Vad |\n|---|---|\n| Anna | ~~skriva~~ ringa |\n\n"
        "> Citat\n\n[Läs mer](https://example.org/sak) och <https://example.org>\n"
    )
    html = permissive().render(inert(text))
    for part in (
        "<h3>Viktigast</h3>",
        "<strong>måste</strong>",
        "<em>helst</em>",
        "<li>två med <code>kod</code></li>",
        "<ol>",
        "<li>sedan</li>",
        "<td><s>skriva</s> ringa</td>",
        "<blockquote>",
        '<a href="https://example.org/sak">Läs mer</a>',
        '<a href="https://example.org">https://example.org</a>',
    ):
        assert part in html, part


def test_hostile_text_is_shown_as_typed() -> None:
    """What was escaped reads as the group typed it, in the same renderer."""
    html = permissive().render(inert(HOSTILE[0]))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<strong>skärmen</strong>" in html


def test_the_markdown_download_and_the_archive_are_inert(client: TestClient) -> None:
    """Over HTTP, both the .md file and proceedings.md in the ZIP (#19 point 2)."""
    event = create_event(client, language="sv")
    spaces, slots = setup_grid(client, event, spaces=1, slots=1)
    act(event.facilitator, event, "topic.propose", "facilitate", title="Säkerhet", convener_name="Mallory")
    topic = state(client, event)["topics"][-1]["id"]
    act(event.facilitator, event, "topic.place", "facilitate", topic=topic, slot=slots[0], space=spaces[0])
    mallory = join(client, event, "Mallory")
    report = "\n\n".join(HOSTILE) + "\n\nVi **pratade** om policy."
    assert act(mallory, event, "report.save", "report", topic=topic, base="0", discussion=report).status_code == 303
    ours = re.compile(r'<a id="[\w-]+">|</a>')  # the document's own anchors
    md = event.facilitator.get(f"{event.path}/export/md").content.decode()
    archive = zipfile.ZipFile(io.BytesIO(event.facilitator.get(f"{event.path}/export/zip").content))
    for text in (md, archive.read("proceedings.md").decode()):
        assert "Vi **pratade** om policy." in text
        assert harm(text, ours) == []
