"""Mastodon status HTML -> the plain text a resident typed.

Mastodon serves a status's ``content`` as sanitized HTML: paragraphs as
``<p>``, line breaks as ``<br>``, mentions as
``<span class="h-card"><a href="https://town.example/@jun" class="u-url mention">@<span>jun</span></a></span>``,
hashtags as ``<a class="mention hashtag">#<span>tag</span></a>``, and links
split into ``invisible``/``ellipsis`` spans whose texts joined give the full
URL. :func:`status_text` drops the bot's own mention (every DM to the bot
starts with it), keeps every other word, mention and link (the engine reads
map links itself), turns ``<br>`` into a newline and paragraphs into a blank
line, and unescapes entities.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from html.parser import HTMLParser

__all__ = ["status_text"]

_SPACES = re.compile(r"[ \t]{2,}")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextParser(HTMLParser):
    def __init__(self, own_urls: Collection[str], own_names: Collection[str]) -> None:
        super().__init__(convert_charrefs=True)
        self._own_urls = {url.rstrip("/").lower() for url in own_urls}
        self._own_names = {name.lower() for name in own_names}
        self.parts: list[str] = []
        self._anchor: tuple[str, str] | None = None  # (href, class) of the <a> we are inside
        self._anchor_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._emit("\n")
        elif tag == "p" and "".join(self.parts).strip():
            self._emit("\n\n")
        elif tag == "a" and self._anchor is None:
            values = dict(attrs)
            self._anchor = (values.get("href") or "", values.get("class") or "")
            self._anchor_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag != "a" or self._anchor is None:
            return
        href, classes = self._anchor
        text = "".join(self._anchor_text)
        self._anchor = None
        self.parts.append(self._anchor_as_text(href, classes.split(), text))

    def handle_data(self, data: str) -> None:
        self._emit(data)

    def _emit(self, text: str) -> None:
        (self._anchor_text if self._anchor is not None else self.parts).append(text)

    def _anchor_as_text(self, href: str, classes: list[str], text: str) -> str:
        visible = text.strip()
        if "mention" in classes and "hashtag" not in classes:
            if href.rstrip("/").lower() in self._own_urls or visible.lower() in self._own_names:
                return ""
            return visible
        if "hashtag" in classes or not href:
            return visible
        # A link: Mastodon shows a shortened URL; the href is the whole one.
        shown = visible.rstrip("…").split("://", 1)[-1]
        target = href.split("://", 1)[-1]
        return href if shown and target.startswith(shown) else visible


def status_text(content: str, *, own_urls: Collection[str] = (), own_names: Collection[str] = ()) -> str:
    """The text of a status's HTML ``content``, without the mention of the bot itself.

    ``own_urls`` are the bot account's profile URLs and ``own_names`` its
    mention texts (``@jun``, ``@jun@town.example``); a mention matching either
    is dropped.
    """
    parser = _TextParser(own_urls, own_names)
    parser.feed(content)
    parser.close()
    text = "".join(parser.parts).replace("\u00a0", " ")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
