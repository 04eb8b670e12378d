"""Geometry of the monthly bar chart of one metering point, drawn as inline SVG by the template.

No script and no external resource: the chart is plain SVG rectangles with a `<title>` each (the
browser shows it on hover) and `data-` attributes carrying the exact monthly sum, so the chart can
be checked against the data. Consumption and production stand side by side in each month.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 44
DIRECTIONS = ("consumption", "production")
MAX_BAR = 36.0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    month: str
    direction: str
    kwh: str  # exact decimal text
    label: str  # localised text for the tooltip


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class MonthLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    months: list[MonthLabel]
    baseline: float
    left: int
    right: int


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 × 10^n at or above `value` (a readable top of the axis)."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        candidate = step.scaleb(exponent)
        if candidate >= value:
            return candidate
    return Decimal(10).scaleb(exponent)


def build_chart(series: dict[str, dict[str, Decimal]], months: list[str], format_kwh: Callable[[Decimal], str],
                format_month: Callable[[str], str], format_axis: Callable[[Decimal], str] | None = None) -> Chart:
    """Bars for `series` (direction -> month -> kWh) over `months` (sorted `YYYY-MM`)."""
    directions = [d for d in DIRECTIONS if d in series] + [d for d in series if d not in DIRECTIONS]
    peak = max((v for s in series.values() for v in s.values()), default=Decimal(0))
    top = _nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(months), 1)
    bar_w = min(max(slot * 0.8 / max(len(directions), 1), 0.5), MAX_BAR)
    bars = []
    for i, month in enumerate(months):
        for j, direction in enumerate(directions):
            value = series[direction].get(month)
            if value is None:
                continue
            height = float(max(value, Decimal(0)) / top) * plot_h
            x = LEFT + i * slot + (slot - bar_w * len(directions)) / 2 + j * bar_w
            bars.append(Bar(round(x, 2), round(TOP + plot_h - height, 2), round(bar_w, 2), round(height, 2), month,
                            direction, format(value, "f"), f"{format_month(month)}: {format_kwh(value)} kWh"))
    axis = format_axis or format_kwh
    ticks = [Tick(round(TOP + plot_h - plot_h * k / 4, 2), axis(top * k / 4)) for k in range(5)]
    every = max(1, -(-len(months) // 12))
    labels = [MonthLabel(round(LEFT + i * slot + slot / 2, 2), m) for i, m in enumerate(months) if i % every == 0]
    return Chart(WIDTH, HEIGHT, bars, ticks, labels, TOP + plot_h, LEFT, WIDTH - RIGHT)
