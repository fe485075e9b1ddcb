"""Bar charts as geometry for server-rendered SVG (templates/ledgers/_charts.html): no
chart library and no script in the page. The numbers are also given as a table next to
each chart, for screen readers and for copying."""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | Decimal
    text: str  # the value as shown
    x: float
    y: float
    width: float
    height: float
    series: int = 0


@dataclass(frozen=True)
class Tick:
    value: str
    pos: float


@dataclass(frozen=True)
class HBarChart:
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[Bar]
    ticks: list[Tick]


@dataclass(frozen=True)
class ColumnGroup:
    label: str
    x: float  # centre of the group
    bars: list[Bar]


@dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    top: int
    plot_height: int
    left: int
    groups: list[ColumnGroup]
    ticks: list[Tick]
    series: list[str]


def nice_max(value: float) -> float:
    """A round upper end for an axis (1, 2, 2.5, 5 or 10 times a power of ten)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _fmt(value: float) -> str:
    return f"{value:g}"


def hbar(items: list[tuple[str, int | Decimal, str]], *, width: int = 640, label_width: int = 190,
         bar_height: int = 20, gap: int = 6) -> HBarChart:
    """Horizontal bars, one per (label, value, shown text), longest scale = nice maximum."""
    top = max((float(v) for _, v, _ in items), default=0)
    scale_max = nice_max(top)
    plot = width - label_width - 60  # room for the value after the longest bar
    bars = []
    for i, (label, value, text) in enumerate(items):
        w = plot * float(value) / scale_max if scale_max else 0
        bars.append(Bar(label=label, value=value, text=text, x=label_width, y=gap + i * (bar_height + gap),
                        width=round(w, 1), height=bar_height))
    height = gap + len(items) * (bar_height + gap) + 18
    ticks = [Tick(_fmt(scale_max * k / 4), round(label_width + plot * k / 4, 1)) for k in range(5)]
    return HBarChart(width=width, height=height, label_width=label_width, bar_height=bar_height, bars=bars,
                     ticks=ticks)


def columns(groups: list[tuple[str, list[int]]], series: list[str], *, width: int = 720, height: int = 260,
            left: int = 44, top: int = 12, bottom: int = 42) -> ColumnChart:
    """Grouped vertical bars: one group per label (a month), one bar per series."""
    top_value = max((v for _, values in groups for v in values), default=0)
    scale_max = nice_max(top_value)
    plot_h = height - top - bottom
    n = max(1, len(groups))
    slot = (width - left - 8) / n
    bar_w = max(2.0, (slot * 0.7) / max(1, len(series)))
    out = []
    for i, (label, values) in enumerate(groups):
        x0 = left + i * slot + slot * 0.15
        bars = []
        for s, value in enumerate(values):
            h = plot_h * value / scale_max if scale_max else 0
            bars.append(Bar(label=series[s], value=value, text=str(value), x=round(x0 + s * bar_w, 1),
                            y=round(top + plot_h - h, 1), width=round(bar_w - 1, 1), height=round(h, 1), series=s))
        out.append(ColumnGroup(label=label, x=round(left + i * slot + slot / 2, 1), bars=bars))
    ticks = [Tick(_fmt(scale_max * k / 4), round(top + plot_h - plot_h * k / 4, 1)) for k in range(5)]
    return ColumnChart(width=width, height=height, top=top, plot_height=plot_h, left=left, groups=out, ticks=ticks,
                       series=series)
