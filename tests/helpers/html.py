"""HTML compared as documents: the same elements, attributes, text and comments, in order,
whatever the order of attributes and the way characters are escaped."""

from html.parser import HTMLParser


class _Events(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []

    def handle_starttag(self, tag, attrs):
        self.events.append(("start", tag, tuple(sorted(attrs))))

    def handle_endtag(self, tag):
        self.events.append(("end", tag))

    def handle_data(self, data):
        self.events.append(("data", data))

    def handle_comment(self, data):
        self.events.append(("comment", data))


def document_events(html: str) -> list[tuple]:
    """The document as a list of parse events, for comparing two serializations of it."""
    parser = _Events()
    parser.feed(html)
    parser.close()
    return parser.events
