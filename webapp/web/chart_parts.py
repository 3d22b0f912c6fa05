"""The parts charts are made of (webapp/web/charts.py lays them out): series, boxes, texts
and rules in a viewBox's coordinates, the two sizes drawn, nice axis ticks and numbers."""

import math
from dataclasses import dataclass
from dataclasses import field

TONES = ("brand", "good", "bad", "warn", "wait", "mute")
# Text is measured, not rendered: an average glyph of the system sans fonts is this wide.
GLYPH = 0.58


@dataclass(frozen=True)
class Series:
    """One kind of value: its key, its name in the legend and table, and its tone."""

    key: str
    label: str
    tone: str = "brand"


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"  # SVG text-anchor: start, middle or end


@dataclass(frozen=True)
class Rule:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Box:
    """A bar, or one series' part of a stacked column; title is its tooltip."""

    x: float
    y: float
    width: float
    height: float
    tone: str
    title: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    title: str


@dataclass
class Layout:
    """One drawing of a chart, in the coordinates of its viewBox (0 0 width height)."""

    variant: str  # "wide" or "narrow"
    width: float
    height: float
    font: float
    grid: list[Rule] = field(default_factory=list)
    y_labels: list[Text] = field(default_factory=list)
    x_labels: list[Text] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    values: list[Text] = field(default_factory=list)  # numbers written on the picture
    paths: list[str] = field(default_factory=list)  # line segments, SVG path data
    dots: list[Dot] = field(default_factory=list)
    axis: Rule | None = None
    note: Text | None = None  # says there is nothing to draw


@dataclass(frozen=True)
class Table:
    """The chart's numbers as a table: rows of (row label, cells)."""

    caption: str
    head: tuple[str, ...]
    rows: list[tuple[str, tuple[str, ...]]]


@dataclass(frozen=True)
class Chart:
    id: str  # unique in the page: the ids of the SVGs' parts begin with it
    title: str
    summary: str
    series: list[Series]
    wide: Layout
    narrow: Layout
    table: Table
    empty: bool

    @property
    def layouts(self) -> tuple[Layout, Layout]:
        return (self.wide, self.narrow)

    @property
    def tones(self) -> list[str]:
        """The tones the picture uses, each once, for the SVG's patterns."""
        return list(dict.fromkeys(s.tone for s in self.series))


@dataclass(frozen=True)
class Frame:
    """The size of a variant: its viewBox and its font, in the same units."""

    variant: str
    width: float
    height: float
    font: float


WIDE = Frame("wide", 960, 300, 13)
NARROW = Frame("narrow", 340, 270, 12)


def nice_ticks(top: float, count: int = 5, integer: bool = True) -> list[float]:
    """Axis ticks from 0 to at least `top`, about `count` steps of 1, 2, 2.5 or 5 × 10ⁿ.

    Nothing to show (top <= 0) gives [0, 1], so an empty chart still has an axis; integer
    ticks (counts) never step by less than 1.
    """
    if top <= 0 or not math.isfinite(top):
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in steps if m * magnitude >= raw * (1 - 1e-9))
    if integer:
        step = max(1, math.ceil(step))
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def number(value: float, decimals: int = 0, suffix: str = "") -> str:
    """1234 -> '1,234'; decimals only when the value needs them (72.5, not 72.0)."""
    text = f"{value:,.{decimals}f}"
    if decimals and "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}{suffix}"


def text_width(text: str, font: float) -> float:
    return len(text) * font * GLYPH
