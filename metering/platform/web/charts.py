"""Charts drawn on the server as inline SVG: no JavaScript library, no external asset.

Each chart carries its own text alternative: the SVG has a title and a summary, and the
numbers it draws sit beside it in a table (inside a `<details>`), so a screen reader or a
keyboard user gets the same figures as a sighted mouse user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import count

from markupsafe import Markup, escape

_ids = count(1)


@dataclass(frozen=True, slots=True)
class Point:
    """One bar: its axis label and its value."""

    label: str
    value: Decimal | int


def _nice_top(largest: Decimal) -> Decimal:
    """A round axis maximum at or above `largest` (1, 2, 5 times a power of ten)."""
    if largest <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(largest))) - 1)
    for step in (1, 2, 5, 10):
        if largest <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


# Labels are drawn for the narrowest screen: below 40rem portal.css sets chart text to
# PHONE_FONT drawing units, which a 960-unit drawing scaled into a 390px screen shows at
# about 12px. Pads leave room for that size, so no label is cut off at the edges.
PHONE_FONT = 32
LONG_LABEL = 14  # characters: a longer axis label is broken into two lines


def _label_lines(label: str) -> list[str]:
    """An axis label as one line, or two (split at the space nearest its middle) if long."""
    if len(label) <= LONG_LABEL or " " not in label:
        return [label]
    spaces = [i for i, char in enumerate(label) if char == " "]
    cut = min(spaces, key=lambda i: abs(i - len(label) / 2))
    return [label[:cut], label[cut + 1 :]]


def _axis_label(kind: str, x: float, width: int, baseline: float, label: str) -> str:
    """An axis label centred on `x`, kept inside the drawing at the phone's font size."""
    lines = _label_lines(label)
    half = max(len(line) for line in lines) * 0.3 * PHONE_FONT
    anchor, at = "middle", x
    if x - half < 0:
        anchor, at = "start", 2.0
    elif x + half > width:
        anchor, at = "end", width - 2.0
    spans = "".join(
        f'<tspan x="{at:.1f}" dy="{0 if n == 0 else 1.1:.1f}em">{escape(line)}</tspan>'
        for n, line in enumerate(lines)
    )
    return (
        f'<text class="{kind}" x="{at:.1f}" y="{baseline:.1f}" text-anchor="{anchor}">'
        f"{spans}</text>"
    )


def bar_chart(
    points: Sequence[Point],
    *,
    title: str,
    value_label: str = "Value",
    label_heading: str = "Day",
    show: Callable[[Decimal | int], str] = str,
    width: int = 960,
    height: int = 280,
) -> Markup:
    """A bar per point with its value axis, plus the same figures as a table.

    `show` formats a value for people (the customer's locale); labels are shown as given,
    every few bars when there are many.
    """
    chart_id = f"chart-{next(_ids)}"
    largest = max((Decimal(p.value) for p in points), default=Decimal(0))
    top = _nice_top(largest)
    # Value labels sit inside the plot, above their grid line: however long a formatted
    # amount ("€12,000.00") and however the drawing is scaled, it is never cut off.
    two_lines = any(len(_label_lines(p.label)) > 1 for p in points)
    bottom = round(PHONE_FONT * (2.4 if two_lines else 1.3))
    left, right, top_pad = 8, 8, round(PHONE_FONT * 1.1)
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    slot = plot_w / max(len(points), 1)
    bar_w = max(slot * 0.7, 1)
    every = max(1, len(points) // 10 + (1 if len(points) % 10 else 0))
    labelled = -(-len(points) // every)
    parts: list[str] = []
    tick_labels: list[str] = []
    middle = top / 2
    ticks = (Decimal(0), middle, top) if middle == middle.to_integral_value() else (Decimal(0), top)
    for tick in ticks:
        y = top_pad + plot_h - float(tick / top) * plot_h
        parts.append(
            f'<line class="axis" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        tick_labels.append(
            f'<text class="tick" x="{left}" y="{y - 4:.1f}" text-anchor="start">'
            f"{escape(show(tick))}</text>"
        )
    baseline = top_pad + plot_h + PHONE_FONT + 2
    for index, point in enumerate(points):
        value = Decimal(point.value)
        bar_h = float(value / top) * plot_h if top else 0
        x = left + index * slot + (slot - bar_w) / 2
        y = top_pad + plot_h - bar_h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
            f'height="{bar_h:.1f}"><title>{escape(point.label)}: '
            f"{escape(show(point.value))}</title></rect>"
        )
        if index % every == 0:
            # With many labels every other one is minor: a narrow screen hides those.
            minor = labelled > 5 and (index // every) % 2
            kind = "label-minor" if minor else "label"
            parts.append(_axis_label(kind, x + bar_w / 2, width, baseline, point.label))
    parts.extend(tick_labels)  # over the bars, haloed (portal.css)
    total = sum((Decimal(p.value) for p in points), Decimal(0))
    bars = "1 bar" if len(points) == 1 else f"{len(points)} bars"
    summary = f"{bars}, total {show(total)}, highest {show(largest)}" if points else "No data yet."
    rows = "".join(
        f'<tr><th scope="row">{escape(p.label)}</th>'
        f'<td class="num">{escape(show(p.value))}</td></tr>'
        for p in points
    )
    return Markup(
        f'<figure class="chart" aria-labelledby="{chart_id}-title">'
        f'<svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title" aria-describedby="{chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(summary)}</desc>{"".join(parts)}</svg>'
        f'<figcaption id="{chart_id}-caption" class="muted">{escape(title)}: '
        f"{escape(summary)}</figcaption>"
        f"<details><summary>Show the figures as a table</summary>"
        f'<div class="table-scroll"><table><caption class="visually-hidden">{escape(title)}'
        f'</caption><thead><tr><th scope="col">{escape(label_heading)}'
        f'</th><th scope="col" class="num">{escape(value_label)}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></details></figure>"
    )
