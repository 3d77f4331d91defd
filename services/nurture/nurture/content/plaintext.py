"""The plain-text part of an email, written from its rendered HTML. Pure, no I/O.

Readable as a person reads mail without HTML: paragraphs separated by a blank line, headings
underlined, list items as "- item" (or "1. item"), links as "text (URL)", line breaks kept;
images, styles and scripts left out. Lines are not wrapped: a wrapped URL stops working.
"""

import re
from html.parser import HTMLParser

_BLOCKS = frozenset({"p", "div", "section", "article", "header", "footer", "table", "tr",
                     "blockquote", "address", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                     "hr", "pre", "li", "dl", "dt", "dd", "center", "main", "aside", "nav"})
_HIDDEN = frozenset({"style", "script", "head", "title", "template"})
_UNDERLINE = {"h1": "=", "h2": "-"}


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []  # finished blocks; "" is a paragraph break
        self.line = ""
        self.hidden = 0
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.links: list[tuple[str, int]] = []  # open <a>: (href, where its text starts)
        self.heading: str | None = None
        self.pre = 0

    # --- structure ---
    def _break(self, blank: bool) -> None:
        text = self.line.rstrip()
        self.line = ""
        if text.strip():
            self.lines.append(text)
            if self.heading in _UNDERLINE:
                self.lines.append(_UNDERLINE[self.heading] * min(len(text.strip()), 72))
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
            return
        if tag == "br":
            self._break(blank=False)
        elif tag in ("ul", "ol"):
            self._break(blank=not self.lists)
            self.lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            self._break(blank=False)
            marker = "-"
            if self.lists and self.lists[-1]:
                marker = f"{self.lists[-1][0]}."
                self.lists[-1][0] += 1
            self.line = "  " * max(len(self.lists) - 1, 0) + marker + " "
        elif tag in _BLOCKS:
            self._break(blank=True)
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self.heading = tag
            if tag == "hr":
                self.lines += ["-" * 20, ""]
            if tag == "pre":
                self.pre += 1
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.line)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            text = self.line[start:].strip()
            if href and not href.startswith(("#", "javascript:")):
                shown = href.removeprefix("mailto:").removeprefix("tel:")
                same_number = href.startswith("tel:") and \
                    re.sub(r"\D", "", text) == re.sub(r"\D", "", shown)
                if not text:
                    self.line += shown
                elif text != shown and not same_number:
                    self.line += f" ({shown})"
        elif tag in ("ul", "ol"):
            self._break(blank=False)
            if self.lists:
                self.lists.pop()
            if not self.lists:
                self._break(blank=True)
        elif tag == "li":
            self._break(blank=False)
        elif tag in _BLOCKS:
            self._break(blank=True)
            if tag == self.heading:
                self.heading = None
            if tag == "pre":
                self.pre = max(self.pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.pre:
            parts = data.split("\n")
            self.line += parts[0]
            for part in parts[1:]:
                self._break(blank=False)
                self.line = part
            return
        text = re.sub(r"\s+", " ", data)
        if not self.line.strip():
            text = text.lstrip()
        self.line += text

    def text(self) -> str:
        self._break(blank=False)
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""


def html_to_text(html: str) -> str:
    """The plain-text version of an HTML message."""
    writer = _TextWriter()
    writer.feed(html)
    writer.close()
    return writer.text()
