"""CSV downloads: one response builder for every export (a dry run's list, a run's
deliveries, a teacher's view), so each is UTF-8, an attachment and safe to open in a
spreadsheet."""

import csv
import io
import unicodedata
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from urllib.parse import quote

from flask import Response
from flask import stream_with_context

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection");
# tab and carriage return too, since some spreadsheets strip them and then read what follows.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel reads a UTF-8 file as the local code page unless it starts with the byte order mark:
# without it, "Zoë" opens as "ZoÃ«". Python reads it back with encoding="utf-8-sig".
BOM = "\ufeff"
# Rows are written to the response in batches of this many, not all held in one string.
BATCH = 500


def safe_cell(value) -> str | int | float:
    """A cell as a spreadsheet will show it, never as a formula it would run.

    Numbers the product counted go out as they are; any text starting like a formula gets a
    leading apostrophe, which spreadsheets read as "this is text" and do not display.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """The CSV text in pieces: the BOM and header first, then batches of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    yield BOM + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(value) for value in row])
        if count % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _attachment(filename: str) -> str:
    # As Flask's send_file does: an ASCII name for old clients, the UTF-8 one (RFC 6266)
    # for the rest; a header cannot carry the name's own characters beyond Latin-1.
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    plain = plain.replace("\\", "_").replace('"', "_") or "export.csv"
    if plain == filename:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> Response:
    """A CSV download named filename, streamed from rows (any iterable, e.g. a query's result).

    The rows are read while the response is sent, inside the request's context, so a query
    may be passed unevaluated. Cells are made formula-safe (safe_cell); the file is UTF-8
    with a BOM, never cached, and offered as an attachment.
    """
    body = stream_with_context(csv_lines(header, rows))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = _attachment(filename)
    # Exports list learners and their addresses: no shared or disk cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    return response
