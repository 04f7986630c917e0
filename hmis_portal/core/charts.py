"""A monthly share against the CoC's target, drawn on the server as plain SVG
(no script, no CDN). The page's table carries the same figures for screen
readers.

One row per month, a horizontal bar each: a phone shows it at a readable
size (a vertical chart of twelve months scaled its text to about 5 px at
390 px wide). The target, a policy row of the app that draws the chart, is a
dashed line, and each month says in words whether it met it, so nothing is
told by colour alone. Months read as months ("Aug 2026", not "Aug 26")."""

import datetime as dt
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join

WIDTH, ROW, TOP, LABEL_W, VALUE_W, FONT = 380, 26, 24, 76, 64, 13
BAR_X, BAR_W = LABEL_W, WIDTH - LABEL_W - VALUE_W


@dataclass(frozen=True)
class MonthShare:
    month: dt.date
    share: float | None  # None: nothing counted that month
    counted: int


def _n(value: float) -> str:
    return f"{value:.1f}"


def monthly_share_chart(months: list[MonthShare], *, target_percent: int, title: str, counted: str,
                        none_text: str) -> str:
    """`title` names the share (the chart's accessible name, before "by month,
    against the target of N%"); `counted` what each month's count counts
    ("changes within standard"); `none_text` what a month without any says."""
    if not months:
        return ""
    height = TOP + ROW * len(months) + 4
    target_x = BAR_X + BAR_W * target_percent / 100
    rows = []
    for i, figure in enumerate(months):
        y = TOP + i * ROW
        label = figure.month.strftime("%b %Y")
        rows.append(format_html('<text x="{}" y="{}" font-size="{}" text-anchor="end">{}</text>',
                                LABEL_W - 6, _n(y + ROW / 2 + 4), FONT, label))
        if figure.share is None:
            rows.append(format_html('<text x="{}" y="{}" font-size="{}" fill="#495057">– {}</text>',
                                    BAR_X + 4, _n(y + ROW / 2 + 4), FONT, none_text))
            continue
        percent = round(figure.share * 100)
        met = percent >= target_percent
        rows.append(format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}% of {} {}, '
            'target {}%: {}</title></rect><text x="{}" y="{}" font-size="{}">{}% {}</text>',
            BAR_X, _n(y + 4), _n(max(BAR_W * figure.share, 1)), ROW - 8, "#198754" if met else "#b02a37",
            label, percent, figure.counted, counted, target_percent, "met" if met else "not met",
            _n(BAR_X + BAR_W + 6), _n(y + ROW / 2 + 4), FONT, percent, "✓" if met else "✗"))
    target = format_html(
        '<line x1="{x}" x2="{x}" y1="{}" y2="{}" stroke="#212529" stroke-width="1.5" stroke-dasharray="4 3"/>'
        '<text x="{x}" y="{}" font-size="{}" text-anchor="middle">Target {}%</text>',
        TOP - 2, height - 2, TOP - 8, FONT, target_percent, x=_n(target_x))
    return format_html(
        '<svg role="img" aria-labelledby="chart-title" viewBox="0 0 {} {}" class="month-chart" '
        'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{}, by month, against the target of {}%'
        '</title>{}{}</svg>',
        WIDTH, height, title, target_percent, format_html_join("", "{}", ((r,) for r in rows)), target)
