"""Lesson Markdown to HTML: markdown-it (CommonMark, raw HTML off) and then nh3, so a
lesson can never put script or event handlers into the page."""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt

TAGS = {"p", "em", "strong", "code", "pre", "ul", "ol", "li", "a", "blockquote", "h3", "h4",
        "table", "thead", "tbody", "tr", "th", "td", "br", "hr", "span"}


@cache
def _md() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def to_html(markdown: str) -> str:
    html = _md().render(markdown)
    return nh3.clean(html, tags=TAGS, attributes={"a": {"href", "title"}, "span": {"class"}},
                     url_schemes={"http", "https"}, link_rel="noopener noreferrer")
