"""The charts' geometry (webapp/web/charts.py): axis ticks, stacks, lines, bars and bins."""

import pytest

from webapp.web import charts
from webapp.web.charts import Series

SENT = Series("sent", "Sent", "good")
FAILED = Series("failed", "Failed", "bad")
SKIPPED = Series("skipped", "Skipped", "warn")


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (0, [0, 1]),
        (-3, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (10, [0, 2, 4, 6, 8, 10]),
        (200, [0, 50, 100, 150, 200]),
        (201, [0, 50, 100, 150, 200, 250]),
        (9_999, [0, 2_000, 4_000, 6_000, 8_000, 10_000]),
    ],
)
def test_integer_ticks_are_round_and_reach_the_top(top, ticks):
    assert charts.nice_ticks(top) == ticks


def test_ticks_of_fractions_and_percents():
    assert charts.nice_ticks(100, integer=False) == [0, 20, 40, 60, 80, 100]
    assert charts.nice_ticks(1.2, integer=False) == [0, 0.25, 0.5, 0.75, 1, 1.25]
    # Counts never step by a fraction, however few there are.
    assert charts.nice_ticks(2) == [0, 1, 2]


def test_numbers_are_written_with_separators_and_only_needed_decimals():
    assert charts.number(1234) == "1,234"
    assert charts.number(72.0, 1, "%") == "72%"
    assert charts.number(72.46, 1, "%") == "72.5%"


def _months(n):
    return [f"Month {i + 1}" for i in range(n)], [f"M{i + 1}" for i in range(n)]


def test_stacked_columns_stack_each_series_on_the_last_and_total_them():
    labels, short = _months(3)
    values = [[5, 1, 0], [0, 0, 0], [8, 0, 2]]
    chart = charts.stacked_columns(
        "c", "Reports", labels, [SENT, FAILED, SKIPPED], values, short_labels=short
    )
    assert not chart.empty
    for layout in chart.layouts:
        # Zero parts draw nothing: 2 parts in the first column, none in the second, 2 in the last.
        assert [b.title for b in layout.boxes] == [
            "Month 1, Sent: 5",
            "Month 1, Failed: 1",
            "Month 3, Sent: 8",
            "Month 3, Skipped: 2",
        ]
        first, second = layout.boxes[:2]
        assert first.y == pytest.approx(second.y + second.height)  # stacked, touching
        axis_y = layout.axis.y1
        assert first.y + first.height == pytest.approx(axis_y)
        # The column of 10 reaches the top tick (10) exactly; the column of 6 reaches 6/10.
        last = layout.boxes[2:]
        top_y = min(r.y1 for r in layout.grid)
        assert last[1].y == pytest.approx(top_y)
        assert second.y == pytest.approx(axis_y - (axis_y - top_y) * 6 / 10)
        assert [t.text for t in layout.y_labels] == ["0", "2", "4", "6", "8", "10"]
    assert [t.text for t in chart.wide.values] == ["6", "10"]  # totals of the columns with any
    assert chart.table.head == ("", "Sent", "Failed", "Skipped", "Total")
    assert chart.table.rows == [
        ("Month 1", ("5", "1", "0", "6")),
        ("Month 2", ("0", "0", "0", "0")),
        ("Month 3", ("8", "0", "2", "10")),
    ]


def test_zero_data_still_draws_an_axis_and_says_so():
    labels, _short = _months(12)
    chart = charts.stacked_columns(
        "c", "Reports", labels, [SENT, FAILED], [[0, 0]] * 12, empty_text="No reports yet"
    )
    assert chart.empty
    for layout in chart.layouts:
        assert layout.boxes == [] and layout.values == []
        assert [t.text for t in layout.y_labels] == ["0", "1"]
        assert layout.note.text == "No reports yet"
    assert len(chart.table.rows) == 12


def test_one_month_is_one_centred_column():
    chart = charts.columns("c", "Sends", ["October 2026"], [200], series=SENT)
    for layout in chart.layouts:
        (box,) = layout.boxes
        middle = (layout.axis.x1 + layout.axis.x2) / 2
        assert box.x + box.width / 2 == pytest.approx(middle)
        assert [t.text for t in layout.x_labels] == ["October 2026"]
    assert chart.table.rows == [("October 2026", ("200",))]
    assert chart.table.head == ("", "Sent")  # no total column for a single series


def test_labels_that_do_not_fit_a_phone_become_short_then_thinned():
    labels = [f"Sep {2000 + i}" for i in range(12)]
    short = [str(i) for i in range(12)]
    chart = charts.columns("c", "x", labels, [1] * 12, series=SENT, short_labels=short)
    assert [
        t.text for t in chart.wide.x_labels
    ] == labels  # 77 units a month: room for 8 characters
    assert [t.text for t in chart.narrow.x_labels] == short
    thin = charts.columns("c", "x", labels, [1] * 12, series=SENT)
    shown = [t.text for t in thin.narrow.x_labels]
    assert 1 < len(shown) < 12 and shown[0] == labels[0]
    widths = [charts.text_width(t, thin.narrow.font) for t in shown]
    gaps = [b.x - a.x for a, b in zip(thin.narrow.x_labels, thin.narrow.x_labels[1:], strict=False)]
    assert all(
        gap > width for gap, width in zip(gaps, widths, strict=False)
    )  # no two labels overlap


def test_a_line_breaks_where_a_month_has_no_value():
    labels, _ = _months(5)
    chart = charts.line(
        "c", "Average", labels, [50, 75, None, 80, None], series=SENT, top=100, suffix="%"
    )
    for layout in chart.layouts:
        assert len(layout.dots) == 3
        assert len(layout.paths) == 1  # 50 -> 75; 80 stands alone as a dot
        assert layout.paths[0].startswith("M") and layout.paths[0].count("L") == 1
        assert [t.text for t in layout.y_labels][-1] == "100%"
    assert chart.table.rows[2] == ("Month 3", ("—",))
    assert chart.table.rows[3] == ("Month 4", ("80%",))
    assert charts.line("c", "Average", labels, [None] * 5, series=SENT).empty


def test_bars_are_as_long_as_their_values_and_take_a_tone_each():
    chart = charts.bars(
        "c",
        "Outcomes",
        ["Sent", "Failed: 550", "Skipped"],
        [100, 25, 0],
        series=[SENT, FAILED, SKIPPED],
    )
    for layout in chart.layouts:
        sent, failed = layout.boxes  # nothing drawn for 0, but its number is written
        assert failed.width == pytest.approx(sent.width / 4)
        assert (sent.tone, failed.tone) == ("good", "bad")
        assert [t.text for t in layout.values] == ["100", "25", "0"]
        assert all(
            t.x + charts.text_width(t.text, layout.font) <= layout.width for t in layout.values
        )
    assert [s.key for s in chart.series] == ["sent", "failed", "skipped"]
    assert chart.table.rows == [("Sent", ("100",)), ("Failed: 550", ("25",)), ("Skipped", ("0",))]
    with pytest.raises(ValueError):
        charts.bars("c", "x", ["a", "b"], [1, 2], series=[SENT])


def test_a_histogram_counts_its_bins_and_labels_their_edges():
    edges = [0, 25, 50, 75, 100]
    counts = charts.bin_counts([0, 10, 25, 99.9, 100, 100, -1, 101], edges)
    assert counts == [2, 1, 0, 3]  # 100 belongs to the last bin; out of range counts nowhere
    chart = charts.histogram("h", "Scores", edges, counts, suffix="%")
    for layout in chart.layouts:
        assert len(layout.boxes) == 3
        assert [t.text for t in layout.x_labels] == ["0%", "25%", "50%", "75%", "100%"]
    assert chart.table.rows[0] == ("0% to under 25%", ("2",))
    assert chart.table.rows[-1] == ("75% to 100%", ("3",))
    with pytest.raises(ValueError):
        charts.histogram("h", "x", [0, 1], [1, 2])


def test_everything_drawn_stays_inside_the_viewbox():
    labels, short = _months(12)
    values = [[i * 97, i * 3, i] for i in range(12)]
    chart = charts.stacked_columns(
        "c", "x", labels, [SENT, FAILED, SKIPPED], values, short_labels=short
    )
    for layout in chart.layouts:
        for box in layout.boxes:
            assert box.x >= 0 and box.x + box.width <= layout.width
            assert box.y >= 0 and box.y + box.height <= layout.height
        for text in layout.x_labels + layout.y_labels + layout.values:
            assert 0 <= text.y <= layout.height
