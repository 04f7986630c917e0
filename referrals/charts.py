"""The monthly timeliness chart, drawn on the server as plain SVG (no script,
no CDN). The table beside it carries the same figures for screen readers."""

from django.utils.html import format_html, format_html_join

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 240, 40, 30, 10


def _n(value: float) -> str:
    return f"{value:.1f}"


def timeliness_chart(figures) -> str:
    if not figures:
        return ""
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = (WIDTH - PAD_LEFT) / len(figures)
    bar_w = slot * 0.6
    grid = format_html_join(
        "", '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#dee2e6"/><text x="{}" y="{}" font-size="10" '
            'text-anchor="end" fill="#6c757d">{}%</text>',
        ((PAD_LEFT, WIDTH, _n(PAD_TOP + plot_h * (1 - p / 100)), _n(PAD_TOP + plot_h * (1 - p / 100)), PAD_LEFT - 4,
          _n(PAD_TOP + plot_h * (1 - p / 100) + 3), p) for p in (0, 25, 50, 75, 100)),
    )
    bars = []
    for i, figure in enumerate(figures):
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        label = figure.month.strftime("%b %y")
        if figure.share is None:
            bars.append(format_html(
                '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="#6c757d">–</text>',
                _n(x + bar_w / 2), PAD_TOP + plot_h - 4))
        else:
            h = plot_h * figure.share
            bars.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}% of {} '
                'changes within standard</title></rect>',
                _n(x), _n(PAD_TOP + plot_h - h), _n(bar_w), _n(h), "#198754" if figure.share >= 0.8 else "#dc3545", label,
                round(figure.share * 100), figure.changes))
        bars.append(format_html('<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>',
                                _n(x + bar_w / 2), HEIGHT - 10, label))
    return format_html(
        '<svg role="img" aria-labelledby="chart-title" viewBox="0 0 {} {}" class="w-100" '
        'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">Share of need-status changes made within '
        'the timeliness standard, by month</title>{}{}</svg>',
        WIDTH, HEIGHT, grid, format_html_join("", "{}", ((b,) for b in bars)))
