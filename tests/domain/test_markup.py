"""Report Markdown renders to harmless HTML: a corpus of hostile input, then the features people use."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from openspace.domain import markup
from openspace.domain.markup import excerpt, render

ALLOWED_TAGS = {
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
A_ATTRIBUTES = {"href", "title", "rel"}
SAFE_SCHEMES = {"", "http", "https", "mailto"}
FORBIDDEN_TAGS = ("<script", "<img", "<svg", "<iframe", "<style", "<math", "<object", "<embed", "<form", "<input")

HOSTILE = [
    pytest.param("<script>alert(1)</script>", id="script"),
    pytest.param("<SCRIPT SRC=//evil.example/x.js></SCRIPT>", id="script-src-upper"),
    pytest.param("text <script>alert(1)</script> inline", id="script-inline"),
    pytest.param("<img src=x onerror=alert(1)>", id="img-onerror"),
    pytest.param("<svg onload=alert(1)>", id="svg-onload"),
    pytest.param("<svg><script>alert(1)</script></svg>", id="svg-script"),
    pytest.param('<iframe src="https://evil.example/"></iframe>', id="iframe"),
    pytest.param('<object data="x.swf"></object><embed src="x.swf">', id="object-embed"),
    pytest.param('<form action="https://evil.example"><input name=x autofocus onfocus=alert(1)></form>', id="form"),
    pytest.param("[x](javascript:alert(1))", id="link-javascript"),
    pytest.param("[x](JaVaScRiPt:alert(1))", id="link-javascript-mixed-case"),
    pytest.param("[x](  javascript:alert(1))", id="link-javascript-leading-space"),
    pytest.param("[x](<javascript:alert(1)>)", id="link-javascript-angle"),
    pytest.param("[x](&#106;avascript:alert(1))", id="link-javascript-entity"),
    pytest.param("[x](&#x6A;&#x61;vascript&colon;alert(1))", id="link-javascript-hex-entities"),
    pytest.param("[x](java\tscript:alert(1))", id="link-javascript-tab"),
    pytest.param("[x](%6Aavascript:alert(1))", id="link-javascript-percent"),
    pytest.param("[x](vbscript:msgbox(1))", id="link-vbscript"),
    pytest.param("[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", id="link-data"),
    pytest.param("[x](file:///etc/passwd)", id="link-file"),
    pytest.param("![x](javascript:alert(1))", id="image-javascript"),
    pytest.param("![x](http://evil.example/x.png)", id="image-remote"),
    pytest.param("![x](data:image/png;base64,iVBORw0KGgo=)", id="image-data"),
    pytest.param('![x" onerror="alert(1)](http://evil.example/x.png)', id="image-alt-breakout"),
    pytest.param('<a href="javascript:alert(1)">x</a>', id="raw-anchor-javascript"),
    pytest.param('[x](http://ok.example "title\\" onmouseover=\\"alert(1)")', id="link-title-breakout"),
    pytest.param("[x](http://ok.example 'a' onmouseover='alert(1)')", id="link-title-single-quotes"),
    pytest.param("<javascript:alert(1)>", id="autolink-javascript"),
    pytest.param("<JAVASCRIPT:alert(1)>", id="autolink-javascript-upper"),
    pytest.param("<vbscript:msgbox(1)>", id="autolink-vbscript"),
    pytest.param("<data:text/html,<script>alert(1)</script>>", id="autolink-data"),
    pytest.param("[x][evil]\n\n[evil]: javascript:alert(1)", id="reference-javascript"),
    pytest.param('[x][evil]\n\n[evil]: <javascript:alert(1)> "t"', id="reference-javascript-angle"),
    pytest.param("[evil]\n\n[evil]: data:text/html;base64,PHNjcmlwdD4=", id="reference-data-shortcut"),
    pytest.param("<style>body{display:none}</style>", id="style-block"),
    pytest.param('<p style="position:fixed;inset:0" class="x">covered</p>', id="style-attribute"),
    pytest.param("<!-- hidden --> visible <!-- <script>alert(1)</script> -->", id="comments"),
    pytest.param("<!--><script>alert(1)</script>-->", id="comment-breakout"),
    pytest.param("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", id="mxss-math-style"),
    pytest.param('<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">', id="mxss-svg-style"),
    pytest.param('<noscript><p title="</noscript><img src=x onerror=alert(1)>">', id="mxss-noscript"),
    pytest.param("&lt;script&gt;alert(1)&lt;/script&gt;", id="entities"),
    pytest.param("&#60;img src=x onerror=alert(1)&#62;", id="numeric-entities"),
    pytest.param("<details open ontoggle=alert(1)>", id="details-ontoggle"),
    pytest.param("<body onload=alert(1)>", id="body-onload"),
    pytest.param("<div><b>unclosed <i>tags <a href='javascript:alert(1)'", id="nested-broken"),
    pytest.param("<<script>script>alert(1)<</script>/script>", id="doubled-brackets"),
    pytest.param("<scr<script>ipt>alert(1)</script>", id="split-script"),
    pytest.param("**<img src=x onerror=alert(1)>**\n\n> <script>alert(1)</script>", id="inside-markup"),
    pytest.param("| a |\n|---|\n| <img src=x onerror=alert(1)> |", id="inside-table"),
    pytest.param("```html\n<script>alert(1)</script>\n```", id="inside-fence"),
    pytest.param("`<script>alert(1)</script>`", id="inside-code-span"),
    pytest.param("[<img src=x onerror=alert(1)>](https://ok.example)", id="inside-link-text"),
    pytest.param('<base href="https://evil.example/"><meta http-equiv="refresh" content="0">', id="base-meta"),
    pytest.param('<link rel="stylesheet" href="https://evil.example/x.css">', id="link-stylesheet"),
    pytest.param("before\x00<script>alert(1)</script>\x00after", id="nul-bytes"),
    pytest.param("<scr\x00ipt>alert(1)</scr\x00ipt>", id="nul-inside-tag"),
    pytest.param("Åsa, Örjan och Ärla: <script>alert('åäö')</script>", id="unicode-script"),
    pytest.param("\u202e<script>alert(1)</script>\ufeff", id="bidi-bom"),
]

LONG = [
    pytest.param("*a" * 100_000, id="emphasis-openers"),
    pytest.param("*" * 100_000 + "a" + "*" * 100_000, id="emphasis-nest"),
    pytest.param("[" * 200_000, id="brackets"),
    pytest.param("[a](" * 50_000, id="open-links"),
    pytest.param("> " * 100_000 + "x", id="blockquote-nest"),
    pytest.param("- " * 100_000 + "x", id="list-nest"),
    pytest.param("`" * 200_000, id="backticks"),
    pytest.param("<" * 200_000, id="angle-brackets"),
    pytest.param("<img src=x onerror=alert(1)>\n" * 7_000, id="repeated-img"),
    pytest.param("|a|b|\n|-|-|\n" + "|x|[y](javascript:alert(1))|\n" * 7_000, id="table"),
]


class _Tags(HTMLParser):
    """Collects every start tag with its (unescaped) attributes and its source text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self.sources.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        self.tags.append((tag, []))


class _Text(HTMLParser):
    """Collects the text a browser would show for a fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _tags(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def assert_harmless(html: str) -> None:
    """Fail unless `html` has only allow-listed tags, a/href/title/rel attributes and safe link schemes.

    Escaped text such as `&lt;img onerror=alert(1)&gt;` is harmless, so the attribute checks look at
    the tags themselves (with quoted attribute values blanked) rather than at the whole string.
    """
    lowered = html.lower()
    for needle in FORBIDDEN_TAGS:
        assert needle not in lowered, needle
    assert "<!--" not in html

    parsed = _tags(html)
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert tag == "a" and name in A_ATTRIBUTES, (tag, name)
            if name == "href":
                assert value is not None
                assert urlsplit(value.strip()).scheme.lower() in SAFE_SCHEMES, value
                assert not re.match(r"\s*(javascript|vbscript|data|file):", value, re.IGNORECASE), value

    raw_tags = "".join(parsed.sources)
    assert not re.search(r"href\s*=\s*[\"']?\s*(javascript|vbscript|data|file):", raw_tags, re.IGNORECASE)
    tag_source = re.sub(r'"[^"]*"', '""', raw_tags)
    assert not re.search(r"\son\w+\s*=", tag_source, re.IGNORECASE), tag_source
    assert "style=" not in tag_source.lower()
    assert "class=" not in tag_source.lower()
    assert "src=" not in tag_source.lower()


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_renders_harmless(source: str) -> None:
    """Hostile Markdown renders to allow-listed HTML only."""
    assert_harmless(render(source))


@pytest.mark.parametrize("source", HOSTILE)
def test_sanitiser_alone_removes_hostile_html(source: str) -> None:
    """The nh3 wall holds on its own, even if raw HTML got past markdown-it."""
    assert_harmless(markup._sanitise(source))


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_excerpt_is_the_visible_text(source: str) -> None:
    """An excerpt is exactly the text a reader sees in the rendered report, so it adds nothing new."""
    parsed = _Text()
    parsed.feed(render(source))
    parsed.close()
    assert excerpt(source, limit=10_000) == " ".join("".join(parsed.text).split())


@pytest.mark.parametrize("source", LONG)
def test_long_input_returns_harmless(source: str) -> None:
    """About 200 kB of pathological input renders (in bounded time) to harmless HTML."""
    assert len(source) >= 195_000
    assert_harmless(render(source))


def test_image_is_never_rendered() -> None:
    """Images become their alt text: no img tag and no remote request."""
    html = render("Look: ![a *diagram* of `x`](http://evil.example/x.png)")
    assert "<img" not in html
    assert "evil.example" not in html
    assert "a diagram of x" in html


def test_raw_html_is_shown_as_text() -> None:
    """markdown-it escapes raw HTML, so what was typed stays visible."""
    assert render("<b>bold?</b>") == "<p>&lt;b&gt;bold?&lt;/b&gt;</p>"


def test_javascript_link_stays_text() -> None:
    """A javascript: link is not a link at all."""
    html = render("[click](javascript:alert(1))")
    assert "<a" not in html
    assert "[click](javascript:alert(1))" in html


def test_title_breakout_stays_inside_title() -> None:
    """A quote in a link title is escaped and cannot open a new attribute."""
    parsed = _tags(render('[x](http://ok.example "t\\" onmouseover=\\"alert(1)")'))
    tag, attrs = parsed.tags[1]
    assert tag == "a"
    assert dict(attrs) == {
        "href": "http://ok.example",
        "title": 't" onmouseover="alert(1)',
        "rel": "nofollow noopener noreferrer",
    }


def test_comments_are_not_html_comments() -> None:
    """HTML comments are shown as text, never hidden in the page."""
    html = render("a <!-- secret --> b")
    assert "<!--" not in html
    assert markup._sanitise("a <!-- secret --> b") == "a  b"


def test_nul_bytes_are_replaced() -> None:
    """NUL bytes never reach the output."""
    html = render("a\x00b")
    assert "\x00" not in html
    assert html == "<p>a\ufffdb</p>"


@pytest.mark.parametrize("source", ["", " ", "\n\n\t  \n"])
def test_blank_input_renders_empty(source: str) -> None:
    """Empty or whitespace-only input renders to the empty string."""
    assert render(source) == ""
    assert excerpt(source) == ""


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        ("# Title", "h3"),
        ("## Title", "h4"),
        ("### Title", "h5"),
        ("#### Title", "h6"),
        ("##### Title", "h6"),
        ("###### Title", "h6"),
        ("Title\n=====", "h3"),
        ("Title\n-----", "h4"),
    ],
)
def test_headings_shift_two_levels(source: str, tag: str) -> None:
    """Report headings sit under the page's own headings: # becomes h3."""
    assert render(source) == f"<{tag}>Title</{tag}>"


def test_lists() -> None:
    """Bullet and ordered lists render."""
    assert render("- a\n- b") == "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"
    assert render("1. a\n2. b") == "<ol>\n<li>a</li>\n<li>b</li>\n</ol>"


def test_emphasis_and_strikethrough() -> None:
    """Emphasis, strong and strikethrough render."""
    assert render("*a* **b** ~~c~~") == "<p><em>a</em> <strong>b</strong> <s>c</s></p>"


def test_code() -> None:
    """Inline code and fenced blocks render, escaped, without a class attribute."""
    assert render("`a < b`") == "<p><code>a &lt; b</code></p>"
    assert render("```python\nif a < b:\n    pass\n```") == "<pre><code>if a &lt; b:\n    pass\n</code></pre>"


def test_blockquote_and_rule() -> None:
    """Blockquotes and horizontal rules render."""
    assert render("> quoted\n\n---") == "<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr>"


def test_hard_break() -> None:
    """Two trailing spaces make a line break."""
    assert render("a  \nb") == "<p>a<br>\nb</p>"


def test_table() -> None:
    """Tables render; alignment styles are dropped."""
    html = render("| Vad | Antal |\n|:----|------:|\n| Kaffe | 3 |")
    assert_harmless(html)
    assert "<table>" in html
    assert "<th>Vad</th>" in html
    assert "<td>Kaffe</td>" in html
    assert "<td>3</td>" in html


@pytest.mark.parametrize(
    "source",
    ["[site](https://ok.example/a?b=1&c=2)", "<https://ok.example/a?b=1&c=2>"],
)
def test_https_link_keeps_href_and_gets_rel(source: str) -> None:
    """A normal https link keeps its href and gets rel=nofollow noopener noreferrer."""
    tag, attrs = _tags(render(source)).tags[1]
    assert tag == "a"
    assert dict(attrs) == {"href": "https://ok.example/a?b=1&c=2", "rel": "nofollow noopener noreferrer"}


def test_mailto_link() -> None:
    """Email autolinks become mailto: links."""
    tag, attrs = _tags(render("<anna@example.se>")).tags[1]
    assert tag == "a"
    assert dict(attrs)["href"] == "mailto:anna@example.se"


def test_swedish_text_survives() -> None:
    """Swedish letters pass through unchanged, not as entities."""
    text = "Räksmörgås på Ön: åäö ÅÄÖ é ü — “citat”"
    assert render(text) == f"<p>{text}</p>"
    assert render(f"# {text}") == f"<h3>{text}</h3>"
    assert excerpt(text) == text


def test_excerpt_is_plain_text() -> None:
    """Excerpts drop Markdown syntax and tags, unescape entities and collapse whitespace."""
    source = "# Rubrik\n\nVi pratade om *kaffe* & [te](https://ok.example).\n\n- ett\n- två\n\n`x < y`"
    assert excerpt(source) == "Rubrik Vi pratade om kaffe & te. ett två x < y"


def test_excerpt_short_text_is_whole() -> None:
    """Text within the limit is returned whole, without an ellipsis."""
    assert excerpt("Kort text.", limit=10) == "Kort text."


def test_excerpt_cuts_at_word_boundary() -> None:
    """Long text is cut between words, ends with an ellipsis and stays within the limit."""
    words = " ".join(f"ord{i}" for i in range(200))
    text = excerpt(f"**{words}**", limit=50)
    assert text.endswith("…")
    assert len(text) <= 50
    body = text[:-1]
    assert words.startswith(body)
    assert words[len(body)] == " "
    assert "<" not in text
    assert "*" not in text


def test_excerpt_default_limit() -> None:
    """The default limit is 280 characters."""
    text = excerpt("ordet " * 500)
    assert 250 < len(text) <= 280
    assert text.endswith("ordet…")


def test_excerpt_without_spaces_cuts_hard() -> None:
    """A single long word is cut at the limit."""
    assert excerpt("å" * 100, limit=10) == "å" * 9 + "…"


def test_excerpt_rejects_non_positive_limit() -> None:
    """A limit below one is a programming error."""
    with pytest.raises(ValueError):
        excerpt("text", limit=0)
