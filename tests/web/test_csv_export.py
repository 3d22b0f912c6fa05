"""The CSV download builder: an attachment in UTF-8, streamed, and safe in a spreadsheet."""

import csv
import io

from flask import Flask

from webapp.web.csv_export import BATCH
from webapp.web.csv_export import csv_response
from webapp.web.csv_export import safe_cell


def _download(rows, filename="plan.csv"):
    app = Flask(__name__)

    @app.get("/export")
    def export():
        return csv_response(filename, ["id", "name", "note"], rows)

    return app.test_client().get("/export")


def _read(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_an_attachment_in_utf8_that_is_never_cached():
    response = _download([(1, "Zoë Ødegård", "sent")], "october 2026.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="october 2026.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_data().startswith(b"\xef\xbb\xbfid,name,note\r\n")
    assert _read(response) == [["id", "name", "note"], ["1", "Zoë Ødegård", "sent"]]


def test_a_filename_beyond_ascii_is_offered_in_both_forms():
    response = _download([], "Zoë.csv")
    disposition = response.headers["Content-Disposition"]
    assert disposition == "attachment; filename=\"Zoe.csv\"; filename*=UTF-8''Zo%C3%AB.csv"


def test_text_that_starts_like_a_formula_is_quoted_numbers_are_not():
    rows = [
        (1, '=HYPERLINK("http://evil")', "+1"),
        (-2, "-3", "@SUM(A1)"),
        (3, "\tcmd", "plain = fine"),
        (4, None, True),
    ]
    assert _read(_download(rows))[1:] == [
        ["1", '\'=HYPERLINK("http://evil")', "'+1"],
        ["-2", "'-3", "'@SUM(A1)"],
        ["3", "'\tcmd", "plain = fine"],
        ["4", "", "yes"],
    ]


def test_commas_quotes_and_line_breaks_stay_in_their_cell():
    rows = [(1, 'O\'Brien, "Bob"', "line one\nline two")]
    assert _read(_download(rows))[1] == ["1", 'O\'Brien, "Bob"', "line one\nline two"]


def test_rows_are_read_as_the_response_is_sent_in_batches():
    read = []

    def rows():
        for i in range(BATCH * 2 + 1):
            read.append(i)
            yield (i, f"learner {i}", "")

    response = _download(rows())
    assert not response.is_sequence  # streamed, not built in memory first
    assert read == []
    chunks = list(response.response)
    assert len(chunks) == 4  # the header, two full batches, the rest
    body = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    assert len(list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))) == BATCH * 2 + 2


def test_safe_cell_leaves_ordinary_values_alone():
    assert safe_cell("Ada") == "Ada"
    assert safe_cell(0) == 0
    assert safe_cell(2.5) == 2.5
    assert safe_cell(False) == "no"
