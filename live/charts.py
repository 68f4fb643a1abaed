"""Line charts as server-rendered SVG: no JavaScript, no CDN, nothing the CSP has to allow.

Only presentation attributes (``fill``, ``stroke``), never ``style``: the Content-Security-Policy
allows no inline style.
"""

from __future__ import annotations

import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 440, 190
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30
COLORS = {"json": "#1f77b4", "database": "#d95f02"}


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times 10^n at or above ``value`` (an axis' top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop ends at 10


def _number(value: float) -> str:
    return f"{value:g}" if value < 10000 else f"{value:.3g}"


def line_chart(title: str, unit: str, series: dict[str, list], minutes: int) -> SafeString:
    """One chart of ``minutes`` per-minute points per series (None: no data that minute)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for points in series.values() for v in points if v is not None]
    top = nice_ceiling(max(values, default=0))

    def x(index: int) -> float:
        return LEFT + plot_w * index / max(minutes - 1, 1)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(value, top) / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" class="chart" '
        f'aria-label="{escape(title)}" data-chart="{escape(title)}">',
        f"<title>{escape(title)} ({escape(unit)}), last {minutes} minutes</title>",
    ]
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        level = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{LEFT}" y1="{level:.1f}" x2="{WIDTH - RIGHT}" y2="{level:.1f}" '
            f'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{level + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{_number(top * fraction)}</text>'
        )
    for index, label in (
        (0, f"-{minutes} min"),
        (minutes // 2, f"-{minutes // 2}"),
        (minutes - 1, "now"),
    ):
        parts.append(
            f'<text x="{x(index):.1f}" y="{HEIGHT - 10}" text-anchor="middle" font-size="11" '
            f'fill="#555">{label}</text>'
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.1f}" font-size="11" fill="#555" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})" text-anchor="middle">'
        f"{escape(unit)}</text>"
    )
    for position, (name, points) in enumerate(series.items()):
        color = COLORS.get(name, "#333")
        # A minute without data breaks the line (no invented zero latency).
        run: list[str] = []
        runs: list[list[str]] = []
        for index, value in enumerate(points):
            if value is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(f"{x(index):.1f},{y(value):.1f}")
        if run:
            runs.append(run)
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            else:
                parts.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" '
                    f'stroke-width="2" data-series="{escape(name)}"/>'
                )
        legend_x = LEFT + 10 + position * 110
        parts.append(
            f'<rect x="{legend_x}" y="{TOP + 2}" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14}" y="{TOP + 11}" font-size="11" fill="#333">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only
