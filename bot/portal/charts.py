"""Charts drawn by the portal itself: inline SVG built in code, every label escaped, colours as
presentation attributes (the CSP forbids inline style). Each chart comes with a table for screen
readers and for exact numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Colour-blind-safe palette (Okabe-Ito); series also differ by marker shape.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARKERS = ("circle", "square", "diamond", "triangle", "circle", "square", "diamond")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if shape == "diamond":
        points = f"{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}"
        return f'<polygon points="{points}" fill="{colour}"/>'
    if shape == "triangle":
        points = f"{x:.1f},{y - 5:.1f} {x + 5:.1f},{y + 4:.1f} {x - 5:.1f},{y + 4:.1f}"
        return f'<polygon points="{points}" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'


def line_chart(title: str, x_labels: Sequence[str], series: Sequence[Series],
               y_label: str = "") -> str:
    """An SVG line chart (one line per series, a legend below) plus a data table. The SVG
    scales with its container (viewBox), so it works on a phone, a tablet and on paper."""
    width, height, left, right, top, bottom = 640, 260, 44, 16, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max([v for s in series for v in s.values] + [1])
    step = max(1, round(top_value / 4))
    y_max = step * -(-top_value // step)
    n = len(x_labels)

    def x_at(i: int) -> float:
        return left + (plot_w * (i / (n - 1)) if n > 1 else plot_w / 2)

    def y_at(value: float) -> float:
        return top + plot_h - plot_h * value / y_max

    parts = [f'<svg class="grafiek" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">']
    for tick in range(0, int(y_max) + 1, int(step)):
        y = y_at(tick)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#d0d0d0" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="12" fill="#333">{tick}</text>')
    label_every = max(1, -(-n // 8))  # at most 8 labels on the x axis
    for i, label in enumerate(x_labels):
        if i % label_every == 0 or i == n - 1:
            parts.append(f'<text x="{x_at(i):.1f}" y="{height - bottom + 18}" '
                         f'text-anchor="middle" font-size="12" fill="#333">{escape(label)}</text>')
    for index, s in enumerate(series):
        colour, shape = PALETTE[index % len(PALETTE)], MARKERS[index % len(MARKERS)]
        points = [(x_at(i), y_at(v)) for i, v in enumerate(s.values)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         'stroke-width="2.5"/>')
        parts.extend(_marker(shape, x, y, colour) for x, y in points)
    parts.append("</svg>")
    legend = "".join(
        f'<li><svg viewBox="0 0 12 12" width="12" height="12" aria-hidden="true">'
        f'{_marker(MARKERS[i % len(MARKERS)], 6, 6, PALETTE[i % len(PALETTE)])}</svg> '
        f"{escape(s.label)}</li>" for i, s in enumerate(series))
    head = "".join(f"<th>{escape(x)}</th>" for x in x_labels)
    rows = "".join(
        f"<tr><th>{escape(s.label)}</th>"
        + "".join(f"<td>{v:g}</td>" for v in s.values) + "</tr>" for s in series)
    caption = escape(title + (f" ({y_label})" if y_label else ""))
    return (f'<figure class="grafiek">{"".join(parts)}<ul class="legenda">{legend}</ul>'
            f'<details class="cijfers"><summary>Cijfers</summary><table><caption>{caption}'
            f"</caption><thead><tr><th></th>{head}</tr></thead><tbody>{rows}</tbody></table>"
            "</details></figure>")


def cumulative(values: Sequence[float]) -> list[float]:
    total, result = 0.0, []
    for value in values:
        total += value
        result.append(total)
    return result


def bar_chart(title: str, bars: Sequence[tuple[str, float]], unit: str = "") -> str:
    """Horizontal bars (one per label) with their values written beside them, plus the
    table. Horizontal, so that long Dutch labels stay readable on a phone."""
    row_h, width = 26, 640
    # Room for the longest label (about 7 px per character at 13 px), within bounds.
    label_w = min(360, max(120, 7 * max([len(label) for label, _ in bars] + [0]) + 16))
    height = row_h * max(1, len(bars)) + 8
    top_value = max([v for _, v in bars] + [1])
    parts = [f'<svg class="grafiek staaf" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(bars):
        y = 4 + i * row_h
        bar_w = (width - label_w - 60) * value / top_value
        parts.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" font-size="13" '
                     f'fill="#333">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{bar_w:.1f}" height="18" '
                     f'fill="{PALETTE[0]}"/>')
        parts.append(f'<text x="{label_w + bar_w + 6:.1f}" y="{y + 17}" font-size="13" '
                     f'fill="#333">{value:g}{escape(unit)}</text>')
    parts.append("</svg>")
    rows = "".join(f"<tr><th>{escape(label)}</th><td>{value:g}{escape(unit)}</td></tr>"
                   for label, value in bars)
    return (f'<figure class="grafiek">{"".join(parts)}<details class="cijfers"><summary>'
            f"Cijfers</summary><table><caption>{escape(title)}</caption><tbody>{rows}</tbody>"
            "</table></details></figure>")
