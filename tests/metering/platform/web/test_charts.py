"""Axis labels of the server-drawn bar chart: drawn for a 390px screen, where portal.css sets
them to PHONE_FONT drawing units, they stay inside the drawing and readable."""

from __future__ import annotations

import re

from metering.platform.web.charts import PHONE_FONT, Point, bar_chart


def labels(chart: str) -> list[tuple[str, float, str, list[str]]]:
    """Each axis label: its class, x, anchor and lines."""
    found = re.findall(
        r'<text class="(label(?:-minor)?)" x="([\d.]+)" y="[\d.]+" '
        r'text-anchor="(\w+)">(.*?)</text>',
        chart,
    )
    return [
        (kind, float(x), anchor, re.findall(r"<tspan[^>]*>(.*?)</tspan>", spans))
        for kind, x, anchor, spans in found
    ]


def test_the_top_value_label_has_room_above_it_at_phone_size() -> None:
    chart = str(bar_chart([Point("Nov 1", 7)], title="Outcomes"))
    tops = [float(y) for y in re.findall(r'<text class="tick" x="8" y="([\d.]+)"', chart)]
    # the label's baseline is low enough for the ascent of a PHONE_FONT glyph (about 0.75 em)
    assert min(tops) >= PHONE_FONT * 0.75
    assert 'viewBox="0 0 960 280"' in chart


def test_a_long_label_takes_two_lines_and_an_edge_label_stays_inside() -> None:
    chart = str(
        bar_chart(
            [Point("Resolved conversation", 3), Point("Unbilled", 1), Point("Qualified lead", 2)],
            title="Revenue",
        )
    )
    shown = labels(chart)
    assert [lines for _, _, _, lines in shown] == [
        ["Resolved", "conversation"],
        ["Unbilled"],
        ["Qualified lead"],
    ]
    assert all(kind == "label" for kind, _, _, _ in shown)  # few labels: none hidden on a phone

    edges = labels(str(bar_chart([Point(f"Sept {n:02}", n) for n in range(1, 11)], title="x")))
    assert (edges[0][1], edges[0][2]) == (2.0, "start")
    assert (edges[-1][1], edges[-1][2]) == (958.0, "end")


def test_many_days_label_every_few_bars_and_a_phone_hides_every_other_one() -> None:
    days = [Point(f"Nov {day}", day % 4) for day in range(1, 31)]
    shown = labels(str(bar_chart(days, title="Outcomes per day")))
    assert [lines[0] for _, _, _, lines in shown] == [f"Nov {d}" for d in range(1, 31, 3)]
    assert [kind for kind, _, _, _ in shown][:4] == ["label", "label-minor", "label", "label-minor"]
    first_x, last_x = shown[0][1], shown[-1][1]
    assert first_x >= len("Nov 1") * 0.3 * PHONE_FONT or shown[0][2] == "start"
    assert last_x <= 960 - len("Nov 28") * 0.3 * PHONE_FONT or shown[-1][2] == "end"
