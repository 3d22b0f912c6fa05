"""An email linter: what Outlook on Windows (Word's engine) and Gmail drop or break in an HTML
email, checked on the HTML part as mailed.

`lint_email(html)` returns the problems found, each naming its rule and where it is. The rules
are the ones below, each with the clients that make it one; the product's report must pass all
of them, whatever its markup looks like.
"""

import re
from dataclasses import dataclass
from html.parser import HTMLParser

# --- The rules ----------------------------------------------------------------------------------

# Elements no mail client runs or shows: Gmail and Outlook strip scripts, forms, frames and
# media; Outlook's Word engine draws no SVG or canvas, and Gmail removes inline SVG.
FORBIDDEN_ELEMENTS = {
    "script": "no client runs scripts; Gmail and Outlook remove them",
    "svg": "Outlook (Word) and Gmail do not draw inline SVG",
    "canvas": "needs a script; no client draws it",
    "iframe": "Gmail and Outlook remove frames",
    "form": "Gmail and Outlook disable or strip forms",
    "video": "Gmail and Outlook show no video",
    "audio": "Gmail and Outlook play no audio",
    "object": "Gmail and Outlook drop embedded objects",
    "embed": "Gmail and Outlook drop embedded objects",
}

# CSS that Outlook's Word engine ignores, or for which Gmail drops the declaration (or, in a
# <style>, the whole block): one pattern per rule, matched on "property: value" lowercased.
CSS_RULES = {
    # Outlook lays out only tables: flex and grid containers collapse into a stack of blocks.
    "css-flex-or-grid": re.compile(r"^display\s*:\s*(inline-)?(flex|grid)\b"),
    # Gmail removes position; Outlook ignores it, so layered content lands elsewhere.
    "css-position": re.compile(r"^position\s*:"),
    # Outlook ignores float on most elements: columns built with it fall apart (avoid).
    "css-float": re.compile(r"^float\s*:"),
    # Custom properties: Outlook has none, and Gmail drops a declaration that uses var().
    "css-variable": re.compile(r"^--|var\(--"),
    # Outlook's Word engine has no calc(): the whole declaration is lost.
    "css-calc": re.compile(r"calc\("),
    # Outlook draws no CSS background images; Gmail drops url() in many places, and every
    # client blocks remote images by default (the report mails no images at all).
    "css-background-image": re.compile(r"^background-image\s*:|url\("),
}
# Gmail and Outlook ignore @import: nothing it would bring ever arrives.
CSS_IMPORT = re.compile(r"@import", re.IGNORECASE)
# !important in a style attribute locks the style against the head's media queries, whose own
# !important is how a phone's layout wins over inline styles in Gmail's and Apple's apps (in
# the head it is allowed); Outlook on Windows is also reported to drop such declarations.
CSS_IMPORTANT = re.compile(r"!\s*important", re.IGNORECASE)

# Reading panes (Outlook's, Gmail's beside its side panels) are some 600 to 650 px wide: an
# email set wider scrolls sideways there, so nothing in it may be wider than 640 px.
MAX_WIDTH_PX = 640
_WIDTH_PROPERTIES = ("width", "min-width")

# Links in an email go to a whole address: Gmail and Outlook have no page to resolve a
# relative one against, and both remove javascript: links.
_LINK_SCHEMES = ("https:", "http:", "mailto:", "tel:", "#")

# Image sources that travel inside the message; anything else is fetched, and Outlook and
# Gmail block fetched images until the reader allows them.
_EMBEDDED_IMAGE = ("data:", "cid:")


@dataclass(frozen=True)
class Problem:
    """One broken rule: its name, where it is (line and tag) and what is wrong."""

    rule: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule} at {self.where}: {self.detail}"


def lint_email(html: str) -> list[Problem]:
    """The problems Outlook and Gmail would have with this HTML email, in document order."""
    linter = _EmailLinter()
    linter.feed(html)
    linter.close()
    return linter.finish()


# --- How they are checked -----------------------------------------------------------------------

_BLOCK = re.compile(r"\{([^{}]*)\}")  # the innermost braces of a stylesheet: declarations
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_PIXELS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(px)?\s*$")


def _declarations(css: str) -> list[str]:
    """The "property: value" declarations of a style attribute or a declaration block."""
    return [d.strip().lower() for d in css.split(";") if ":" in d]


def _pixels(value: str) -> float | None:
    """A length in pixels ("640", "640px"), or None for anything else (percent, auto)."""
    match = _PIXELS.match(value)
    return float(match.group(1)) if match else None


@dataclass
class _Table:
    where: str
    presentation: bool
    has_header: bool = False


class _EmailLinter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[Problem] = []
        self.in_head = self.in_body = False
        self.style_where: str | None = None  # inside a <style>: where it began
        self.style = ""
        self.title_where: str | None = None  # inside the <title>
        self.title = ""
        self.has_charset = False
        self.has_title = False
        self.html_lang: str | None = None
        self.seen_html = False
        self.tables: list[_Table] = []

    def problem(self, rule: str, where: str, detail: str) -> None:
        self.problems.append(Problem(rule, where, detail))

    def where(self, tag: str, attrs: dict[str, str]) -> str:
        shown = " ".join(f'{k}="{v}"' for k, v in attrs.items() if k in ("class", "id", "role"))
        return f"line {self.getpos()[0]} <{tag}{' ' + shown if shown else ''}>"

    # Elements ---------------------------------------------------------------------------------

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        where = self.where(tag, attrs)
        if tag == "html":
            self.seen_html = True
            self.html_lang = attrs.get("lang", "").strip()
        elif tag == "head":
            self.in_head = True
        elif tag == "body":
            self.in_head, self.in_body = False, True
        elif tag == "meta":
            content_type = attrs.get("http-equiv", "").lower() == "content-type"
            if "charset" in attrs or (content_type and "charset=" in attrs.get("content", "")):
                self.has_charset = True
        elif tag == "title":
            self.has_title, self.title_where = True, where
        elif tag == "style":
            self.style_where = where
            if self.in_body:
                # Gmail keeps only the <style> of the <head>; Outlook.com drops one in the body.
                self.problem("style-in-body", where, "a stylesheet in the body is dropped")
        elif tag == "link":
            # Gmail and Outlook never load linked stylesheets, in the head or the body.
            self.problem("link-element", where, "linked stylesheets are never loaded")
        elif tag in FORBIDDEN_ELEMENTS:
            self.problem("forbidden-element", where, FORBIDDEN_ELEMENTS[tag])
        elif tag == "img":
            self.image(where, attrs)
        elif tag == "a":
            self.link(where, attrs)
        elif tag == "table":
            presentation = attrs.get("role", "").strip().lower() in ("presentation", "none")
            self.tables.append(_Table(where, presentation))
        elif tag == "th" and self.tables:
            self.tables[-1].has_header = True
        if "background" in attrs:
            self.problem("css-background-image", where, "a background attribute fetches an image")
        self.width_attribute(where, attrs.get("width", ""))
        if "style" in attrs:
            self.inline_style(where, attrs["style"])

    def handle_endtag(self, tag):
        if tag == "head":
            self.in_head = False
        elif tag == "style" and self.style_where is not None:
            self.stylesheet(self.style_where, self.style)
            self.style_where, self.style = None, ""
        elif tag == "title":
            self.title_where = None
        elif tag == "table" and self.tables:
            self.table(self.tables.pop())

    def handle_data(self, data):
        if self.style_where is not None:
            self.style += data  # the parser may hand a stylesheet over in pieces
        elif self.title_where is not None:
            self.title += data

    def finish(self) -> list[Problem]:
        """The problems of the whole document, once it has all been read."""
        if self.style_where is not None:  # a <style> never closed
            self.stylesheet(self.style_where, self.style)
        for table in reversed(self.tables):  # tables never closed
            self.table(table)
        self.tables = []
        head = "the document"
        # Screen readers (and Outlook's spelling and voice) read an email without a language
        # in the reader's own: set it on <html>.
        if not self.seen_html or not self.html_lang:
            self.problem("html-without-lang", head, "<html> has no lang")
        # Gmail and Outlook show the subject, but Apple Mail, webmail previews and screen
        # readers announce the <title>: an email without one reads as "untitled".
        if not self.has_title or not self.title.strip():
            self.problem("missing-title", head, "no <title>, or an empty one")
        # Without a charset, Outlook on Windows guesses one and shows "â€”" for a dash.
        if not self.has_charset:
            self.problem("missing-charset", head, 'no <meta charset="utf-8">')
        return self.problems

    def image(self, where: str, attrs: dict[str, str]) -> None:
        # The report mails no images: any <img> is a change to look at.
        self.problem("image", where, "the report mails no images")
        if "alt" not in attrs:
            # Outlook and Gmail block images by default and show the alt text in their place.
            self.problem("img-without-alt", where, "an image without alt text")
        if not attrs.get("src", "").strip().lower().startswith(_EMBEDDED_IMAGE):
            self.problem("remote-image", where, "a remote image is blocked until allowed")

    def link(self, where: str, attrs: dict[str, str]) -> None:
        href = attrs.get("href", "").strip()
        if not href:
            # Outlook and Gmail show a link without an address as plain text that goes nowhere.
            self.problem("link-without-href", where, "a link without an address")
        elif href.lower().startswith("javascript:"):
            self.problem("javascript-link", where, "Gmail and Outlook remove javascript: links")
        elif not href.lower().startswith(_LINK_SCHEMES):
            self.problem("relative-link", where, f"{href!r} has no page to be relative to")

    def table(self, table: _Table) -> None:
        # A table without headers is layout: screen readers (Outlook's and Gmail's readers
        # included) announce "table, 3 rows" unless it is marked role="presentation".
        if not table.presentation and not table.has_header:
            self.problem("layout-table-without-role", table.where, 'needs role="presentation"')
        # A data table marked presentation hides its headers from screen readers.
        if table.presentation and table.has_header:
            self.problem("data-table-as-presentation", table.where, "its <th> are not read")

    def width_attribute(self, where: str, width: str) -> None:
        pixels = _pixels(width)
        if pixels is not None and pixels > MAX_WIDTH_PX:
            self.problem("too-wide", where, f"width={width} is over {MAX_WIDTH_PX} px")

    def inline_style(self, where: str, style: str) -> None:
        self.css(where, style, inline=True)

    def stylesheet(self, where: str, css: str) -> None:
        css = _COMMENT.sub("", css)
        if CSS_IMPORT.search(css):
            self.problem("css-import", where, "@import is ignored")
        for block in _BLOCK.findall(css):
            self.css(where, block, inline=False)

    def css(self, where: str, css: str, *, inline: bool) -> None:
        if inline and CSS_IMPORT.search(css):
            self.problem("css-import", where, "@import is ignored")
        for declaration in _declarations(css):
            for rule, pattern in CSS_RULES.items():
                if pattern.search(declaration):
                    self.problem(rule, where, declaration)
            if inline and CSS_IMPORTANT.search(declaration):
                self.problem("inline-important", where, declaration)
            name, _, value = declaration.partition(":")
            pixels = _pixels(CSS_IMPORTANT.sub("", value))
            if name.strip() in _WIDTH_PROPERTIES and pixels and pixels > MAX_WIDTH_PX:
                self.problem("too-wide", where, declaration)
