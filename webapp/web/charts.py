"""Charts drawn on the server as SVG: the geometry here in plain Python, the drawing in
templates/charts.html. No JavaScript, no inline style: the CSP of every page holds.

A view builds a chart with one of these functions and hands it to its template, which draws
it with one line, `{% from "charts.html" import chart %}{{ chart(the_chart) }}`:

    stacked_columns(chart_id, title, labels, series, values)   values[i][j]: label i, series j
    columns(chart_id, title, labels, values, series=...)       one value a label (over time)
    line(chart_id, title, labels, values, ...)                 a value a label, None = no point
    bars(chart_id, title, labels, values, series=...)          horizontal, one row a label
    histogram(chart_id, title, edges, counts, ...)             counts per bin, bins touching

Common keywords: `summary` (a sentence for screen readers, the SVG's <desc>), `short_labels`
(used where the full labels do not fit, as on a phone), `suffix` and `decimals` (how numbers
are written: suffix="%" decimals=1 gives "72.5%"), `empty_text` (said in the picture when
there is nothing to draw) and `label_heading` (the head of the table's first column).

Each returns a Chart: two layouts of the same numbers, `wide` (screens wider than 760 px) and
`narrow` (phones), of which CSS shows one (each SVG is 100 % wide with its own viewBox, so
its text stays readable); the series for the legend; and a Table with the same numbers, shown
under the picture, so a number is never only in a picture. Series carry a tone (good, bad,
warn, wait, mute, brand): a colour with 3:1 contrast and, but for good and brand, a texture,
so that colour is never the only thing telling series apart.
"""

import math
from bisect import bisect_right
from collections.abc import Sequence

from webapp.web.chart_parts import GLYPH
from webapp.web.chart_parts import NARROW
from webapp.web.chart_parts import WIDE
from webapp.web.chart_parts import Box
from webapp.web.chart_parts import Chart
from webapp.web.chart_parts import Dot
from webapp.web.chart_parts import Layout
from webapp.web.chart_parts import Rule
from webapp.web.chart_parts import Series
from webapp.web.chart_parts import Table
from webapp.web.chart_parts import Text
from webapp.web.chart_parts import nice_ticks
from webapp.web.chart_parts import number
from webapp.web.chart_parts import text_width

# The series of a histogram unless told otherwise.
COUNT = Series("count", "Count")


def _x_labels(frame, labels, short, centres, slot, y) -> list[Text]:
    """The labels under the columns: full ones if all fit, else the short ones, thinned."""
    if not labels:
        return []
    # A label needs its width and a little air (half a glyph each side) to stand apart.
    air = frame.font * 0.6
    for chosen in (labels, short):
        if chosen and max(text_width(t, frame.font) for t in chosen) + air <= slot:
            return [Text(x, y, t) for x, t in zip(centres, chosen, strict=True)]
    chosen = short or labels
    widest = max(text_width(t, frame.font) for t in chosen) + air
    every = math.ceil(widest / slot)
    return [
        Text(x, y, t)
        for i, (x, t) in enumerate(zip(centres, chosen, strict=True))
        if i % every == 0
    ]


def _y_axis(frame, top_value, integer, decimals, suffix, reserve_top):
    """The value axis: (ticks, tick labels, plot box (left, top, right, bottom))."""
    ticks = nice_ticks(top_value, integer=integer)
    tick_decimals = 0 if all(float(t).is_integer() for t in ticks) else max(decimals, 1)
    texts = [number(t, tick_decimals, suffix) for t in ticks]
    left = 8 + max(text_width(t, frame.font) for t in texts) + 6
    top = 8 + (frame.font + 4 if reserve_top else 0)
    bottom = frame.height - (frame.font + 12)
    return ticks, texts, (left, top, frame.width - 14, bottom)


def _vertical(frame, ticks, texts, plot, n) -> tuple[Layout, float, list[float]]:
    """A layout with its grid and tick labels; the slot width and each slot's centre."""
    left, top, right, bottom = plot
    grid, y_labels = [], []
    for tick, text in zip(ticks, texts, strict=True):
        y = bottom - (bottom - top) * tick / ticks[-1]
        grid.append(Rule(left, y, right, y))
        y_labels.append(Text(left - 6, y + frame.font * 0.35, text, "end"))
    slot = (right - left) / max(n, 1)
    centres = [left + slot * (i + 0.5) for i in range(n)]
    layout = Layout(
        frame.variant,
        frame.width,
        frame.height,
        frame.font,
        grid=grid,
        y_labels=y_labels,
        axis=Rule(left, bottom, right, bottom),
    )
    return layout, slot, centres


def _note(layout: Layout, plot, text: str) -> None:
    left, top, right, bottom = plot
    layout.note = Text((left + right) / 2, (top + bottom) / 2, text)


def _table(title, label_heading, labels, head, cells) -> Table:
    return Table(title, (label_heading, *head), list(zip(labels, cells, strict=True)))


def stacked_columns(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    values: Sequence[Sequence[float]],
    *,
    short_labels: Sequence[str] | None = None,
    summary: str | None = None,
    suffix: str = "",
    decimals: int = 0,
    empty_text: str = "Nothing to show yet",
    label_heading: str = "",
    total_heading: str | None = "Total",
) -> Chart:
    """Columns, one a label, each stacked from its series' values (bottom up, in order);
    the total is written above a column where it fits, and is the table's last column."""
    totals = [sum(row) for row in values]
    integer = decimals == 0
    layouts = []
    for frame in (WIDE, NARROW):
        ticks, texts, plot = _y_axis(frame, max(totals, default=0), integer, decimals, suffix, True)
        layout, slot, centres = _vertical(frame, ticks, texts, plot, len(labels))
        left, top, right, bottom = plot
        scale = (bottom - top) / ticks[-1]
        width = slot * 0.64
        total_texts = [number(t, decimals, suffix) for t in totals]
        fits = all(text_width(t, frame.font) <= slot * 1.02 for t in total_texts)
        for i, (label, row) in enumerate(zip(labels, values, strict=True)):
            base = bottom
            for s, value in zip(series, row, strict=True):
                if value <= 0:
                    continue
                height = value * scale
                base -= height
                layout.boxes.append(
                    Box(
                        centres[i] - width / 2,
                        base,
                        width,
                        height,
                        s.tone,
                        f"{label}, {s.label}: {number(value, decimals, suffix)}",
                    )
                )
            if fits and totals[i] > 0:
                layout.values.append(Text(centres[i], base - 5, total_texts[i]))
        layout.x_labels.extend(
            _x_labels(frame, labels, short_labels, centres, slot, bottom + frame.font + 5)
        )
        if not any(totals):
            _note(layout, plot, empty_text)
        layouts.append(layout)
    head = [s.label for s in series]
    cells = [[number(v, decimals, suffix) for v in row] for row in values]
    if total_heading:
        head.append(total_heading)
        for row, total in zip(cells, totals, strict=True):
            row.append(number(total, decimals, suffix))
    table = _table(title, label_heading, labels, head, [tuple(c) for c in cells])
    return Chart(
        chart_id,
        title,
        summary or title,
        list(series),
        *layouts,
        table,
        not any(totals),
    )


def columns(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    series: Series,
    **options,
) -> Chart:
    """One column a label (counts over time, say); the keywords of stacked_columns."""
    options.setdefault("total_heading", None)
    return stacked_columns(chart_id, title, labels, [series], [[v] for v in values], **options)


def line(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    series: Series,
    top: float | None = None,
    short_labels: Sequence[str] | None = None,
    summary: str | None = None,
    suffix: str = "",
    decimals: int = 0,
    empty_text: str = "Nothing to show yet",
    label_heading: str = "",
) -> Chart:
    """A line through the values, a dot at each; None (no value) breaks the line. `top`
    fixes the axis' end (100 for percents) instead of following the largest value."""
    known = [v for v in values if v is not None]
    integer = decimals == 0 and all(float(v).is_integer() for v in known)
    layouts = []
    for frame in (WIDE, NARROW):
        end = top if top is not None else max(known, default=0)
        ticks, texts, plot = _y_axis(frame, end, integer, decimals, suffix, True)
        layout, slot, centres = _vertical(frame, ticks, texts, plot, len(labels))
        left, upper, right, bottom = plot
        scale = (bottom - upper) / ticks[-1]
        written = [number(v, decimals, suffix) if v is not None else "" for v in values]
        fits = all(text_width(t, frame.font) <= slot * 1.02 for t in written)
        path: list[str] = []
        for i, value in enumerate(values):
            if value is None:
                if len(path) > 1:  # a lone point is its dot alone
                    layout.paths.append(" ".join(path))
                path = []
                continue
            x, y = centres[i], bottom - value * scale
            path.append(f"{'L' if path else 'M'}{x:.1f},{y:.1f}")
            layout.dots.append(Dot(x, y, f"{labels[i]}: {written[i]}"))
            if fits:
                layout.values.append(Text(x, y - 8, written[i]))
        if len(path) > 1:
            layout.paths.append(" ".join(path))
        layout.x_labels.extend(
            _x_labels(frame, labels, short_labels, centres, slot, bottom + frame.font + 5)
        )
        if not known:
            _note(layout, plot, empty_text)
        layouts.append(layout)
    cells = [
        (t or "—",) for t in (number(v, decimals, suffix) if v is not None else "" for v in values)
    ]
    table = _table(title, label_heading, labels, [series.label], cells)
    return Chart(chart_id, title, summary or title, [series], *layouts, table, not known)


def _clipped(text: str, room: float, font: float) -> str:
    """The text, cut with an ellipsis where it would be wider than `room`."""
    most = max(int(room / (font * GLYPH)), 1)
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def bars(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    series: Series | Sequence[Series],
    summary: str | None = None,
    suffix: str = "",
    decimals: int = 0,
    empty_text: str = "Nothing to show yet",
    label_heading: str = "",
    value_heading: str | None = None,
) -> Chart:
    """Horizontal bars, one a label, the largest value the longest, each value written at
    its bar's end. `series` is one Series for every row or one a row (its tone and legend):
    failed rows red, sent rows green. Labels sit left of the bars, above them on a phone."""
    row_series = [series] * len(labels) if isinstance(series, Series) else list(series)
    if len(row_series) != len(labels):
        raise ValueError("bars needs one series for every label, or one for all")
    top = max(values, default=0)
    written = [number(v, decimals, suffix) for v in values]
    layouts = []
    for frame in (WIDE, NARROW):
        font, bar = frame.font, frame.font + 4
        value_room = max((text_width(t, font) for t in written), default=0) + 8
        if frame is WIDE:
            label_room = min(
                max((text_width(t, font) for t in labels), default=0), 0.4 * frame.width
            )
            start, row, label_dy = 8 + label_room + 12, bar + 10, 0.0
        else:
            label_room = frame.width - 16
            start, row, label_dy = 8.0, font + bar + 14, font + 4
        length = frame.width - 8 - start - value_room
        height = 8 + row * max(len(labels), 1)
        layout = Layout(frame.variant, frame.width, height, font)
        for i, (label, value) in enumerate(zip(labels, values, strict=True)):
            y = 8 + i * row + label_dy
            shown = _clipped(label, label_room, font)
            if frame is WIDE:
                layout.x_labels.append(Text(start - 12, y + bar / 2 + font * 0.35, shown, "end"))
            else:
                layout.x_labels.append(Text(8, y - 5, shown, "start"))
            size = length * value / top if top > 0 else 0
            if size > 0:
                tip = f"{label}: {written[i]}"
                layout.boxes.append(Box(start, y, max(size, 1.5), bar, row_series[i].tone, tip))
            layout.values.append(
                Text(start + size + 6, y + bar / 2 + font * 0.35, written[i], "start")
            )
        layout.axis = Rule(start, 4, start, height - 4)
        if not labels:
            layout.note = Text(frame.width / 2, height / 2 + 4, empty_text)
        layouts.append(layout)
    legend = list({s.key: s for s in row_series}.values())
    head = [value_heading or title]
    table = _table(title, label_heading, labels, head, [(t,) for t in written])
    return Chart(chart_id, title, summary or title, legend, *layouts, table, not any(values))


def histogram(
    chart_id: str,
    title: str,
    edges: Sequence[float],
    counts: Sequence[int],
    *,
    series: Series = COUNT,
    suffix: str = "",
    summary: str | None = None,
    empty_text: str = "Nothing to show yet",
    label_heading: str = "Range",
) -> Chart:
    """Counts per bin, bins side by side; `edges` has one more item than `counts`, and bin
    i holds edges[i] <= value < edges[i + 1] (see bin_counts). Edges label the x axis."""
    if len(edges) != len(counts) + 1:
        raise ValueError("a histogram needs one edge more than it has bins")
    edge_texts = [number(e, 1 if not float(e).is_integer() else 0, suffix) for e in edges]
    layouts = []
    for frame in (WIDE, NARROW):
        ticks, texts, plot = _y_axis(frame, max(counts, default=0), True, 0, "", True)
        layout, slot, centres = _vertical(frame, ticks, texts, plot, len(counts))
        left, top, right, bottom = plot
        scale = (bottom - top) / ticks[-1]
        fits = all(text_width(number(c), frame.font) <= slot for c in counts)
        bin_texts = [f"{a}–{b}" for a, b in zip(edge_texts, edge_texts[1:], strict=False)]
        for i, count in enumerate(counts):
            if count > 0:
                x = left + slot * i
                layout.boxes.append(
                    Box(
                        x + 0.5,
                        bottom - count * scale,
                        slot - 1,
                        count * scale,
                        series.tone,
                        f"{bin_texts[i]}: {number(count)}",
                    )
                )
                if fits:
                    layout.values.append(
                        Text(centres[i], bottom - count * scale - 5, number(count))
                    )
        positions = [left + slot * i for i in range(len(edges))]
        layout.x_labels.extend(
            _x_labels(frame, edge_texts, None, positions, slot, bottom + frame.font + 5)
        )
        if not any(counts):
            _note(layout, plot, empty_text)
        layouts.append(layout)
    bins = [
        f"{a} to {'under ' if i < len(counts) - 1 else ''}{b}"
        for i, (a, b) in enumerate(zip(edge_texts, edge_texts[1:], strict=False))
    ]
    table = _table(title, label_heading, bins, [series.label], [(number(c),) for c in counts])
    return Chart(chart_id, title, summary or title, [series], *layouts, table, not any(counts))


def bin_counts(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """How many values fall in each bin of `edges`; the last bin includes its upper edge."""
    counts = [0] * (len(edges) - 1)
    for value in values:
        i = len(counts) - 1 if value == edges[-1] else bisect_right(edges, value) - 1
        if 0 <= i < len(counts):
            counts[i] += 1
    return counts
