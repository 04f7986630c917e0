"""The monthly timeliness chart, drawn on the server as plain SVG (no script,
no CDN). The table beside it carries the same figures for screen readers.

One row per month, a horizontal bar each: a phone shows it at a readable
size (a vertical chart of twelve months scaled its text to about 5 px at
390 px wide). The CoC's target (`ReferralPolicy.timeliness_target_percent`)
is a dashed line, and each month says in words whether it met it, so
nothing is told by colour alone."""

from django.utils.html import format_html, format_html_join

WIDTH, ROW, TOP, LABEL_W, VALUE_W, FONT = 380, 26, 24, 76, 64, 13
BAR_X, BAR_W = LABEL_W, WIDTH - LABEL_W - VALUE_W


def _n(value: float) -> str:
    return f"{value:.1f}"


def timeliness_chart(figures, *, target_percent: int) -> str:
    if not figures:
        return ""
    height = TOP + ROW * len(figures) + 4
    target_x = BAR_X + BAR_W * target_percent / 100
    rows = []
    for i, figure in enumerate(figures):
        y = TOP + i * ROW
        label = figure.month.strftime("%b %Y")
        rows.append(format_html('<text x="{}" y="{}" font-size="{}" text-anchor="end">{}</text>',
                                LABEL_W - 6, _n(y + ROW / 2 + 4), FONT, label))
        if figure.share is None:
            rows.append(format_html('<text x="{}" y="{}" font-size="{}" fill="#495057">– no changes</text>',
                                    BAR_X + 4, _n(y + ROW / 2 + 4), FONT))
            continue
        percent = round(figure.share * 100)
        met = percent >= target_percent
        rows.append(format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}% of {} changes within standard, '
            'target {}%: {}</title></rect><text x="{}" y="{}" font-size="{}">{}% {}</text>',
            BAR_X, _n(y + 4), _n(max(BAR_W * figure.share, 1)), ROW - 8, "#198754" if met else "#b02a37",
            label, percent, figure.changes, target_percent, "met" if met else "not met",
            _n(BAR_X + BAR_W + 6), _n(y + ROW / 2 + 4), FONT, percent, "✓" if met else "✗"))
    target = format_html(
        '<line x1="{x}" x2="{x}" y1="{}" y2="{}" stroke="#212529" stroke-width="1.5" stroke-dasharray="4 3"/>'
        '<text x="{x}" y="{}" font-size="{}" text-anchor="middle">Target {}%</text>',
        TOP - 2, height - 2, TOP - 8, FONT, target_percent, x=_n(target_x))
    return format_html(
        '<svg role="img" aria-labelledby="chart-title" viewBox="0 0 {} {}" class="timeliness-chart" '
        'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">Share of need-status changes made within '
        'the timeliness standard, by month, against the target of {}%</title>{}{}</svg>',
        WIDTH, height, target_percent, format_html_join("", "{}", ((r,) for r in rows)), target)
