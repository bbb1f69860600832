"""The seams section: per-seam metrics (colour jump, motion, drift) as inline SVG line
charts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.report.html import esc, fmt_number, is_number, section_html
from orchestrator.report.timeline import BEAT_KEYS

# Series shorter than this are drawn as bars (a one-join video has one seam).
BAR_CHART_BELOW = 3


def seams_section(records: Mapping[str, Any]) -> str:
    metrics = records.get("assemble", {}).get("metrics", {})
    series = metric_series(metrics)
    if not series:
        body = '<p class="note">no per-seam metrics were recorded for this run.</p>'
    else:
        body = '<div class="charts">' + "".join(_chart(n, v) for n, v in series.items()) + "</div>"
    scalars = {k: v for k, v in metrics.items() if is_number(v)}
    if scalars:
        items = "".join(
            f"<div><dt>{esc(k)}</dt><dd>{fmt_number(v)}</dd></div>" for k, v in scalars.items()
        )
        body += f'<h3>assemble metrics</h3><dl class="facts">{items}</dl>'
    return section_html("Seams and drift", body)


def metric_series(metrics: Mapping[str, Any]) -> dict[str, list[float]]:
    """Every numeric series in a node's metrics: a list of numbers, a list of records (one series
    per numeric field) or a mapping of such lists."""
    series: dict[str, list[float]] = {}

    def visit(name: str, value: Any) -> None:
        if isinstance(value, list) and value and all(is_number(v) for v in value):
            series[name] = [float(v) for v in value]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            fields = [k for k in value[0] if all(is_number(v.get(k)) for v in value)]
            for field in fields:
                series[f"{name}.{field}"] = [float(v[field]) for v in value]
        elif isinstance(value, Mapping):
            for key, inner in value.items():
                visit(f"{name}.{key}", inner)

    for key, value in metrics.items():
        if key not in BEAT_KEYS:
            visit(key, value)
    return {k: v for k, v in series.items() if not k.endswith((".index", ".seam"))}


def _chart(name: str, values: Sequence[float]) -> str:
    width, height, left, bottom, top = 440, 170, 52, 26, 14
    # From zero (ratios and colour distances are not negative): a bar's height is its value.
    lo, hi = min(0.0, min(values)), max(values)
    if math.isclose(lo, hi):
        lo, hi = lo - 1, hi + 1
    span_x = width - left - 12
    span_y = height - top - bottom
    n = len(values)

    def px(i: int) -> float:
        return left + (span_x * (i + 0.5) / n)

    def py(v: float) -> float:
        return top + span_y * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<line x1="{left}" x2="{width - 12}" y1="{height - bottom}" y2="{height - bottom}" '
        'class="axis"/>',
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 4}" class="lab" text-anchor="end">{fmt_number(hi)}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" class="lab" text-anchor="end">{fmt_number(lo)}'
        "</text>",
    ]
    if n < BAR_CHART_BELOW:
        # A line through one or two points says nothing: bars, each labelled with its value.
        bar = span_x / n * 0.4
        for i, v in enumerate(values):
            y0, y1 = sorted((py(0.0), py(v)))
            parts.append(
                f'<rect x="{px(i) - bar / 2:.1f}" y="{y0:.1f}" width="{bar:.1f}" '
                f'height="{max(y1 - y0, 1.0):.1f}" class="vbar"/>'
                f'<text x="{px(i):.1f}" y="{y0 - 5:.1f}" class="lab" text-anchor="middle">'
                f"{fmt_number(v)}</text>"
            )
    else:
        points = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline points="{points}" class="series"/>')
    label_every = max(1, math.ceil(n / 12))
    for i, v in enumerate(values):
        parts.append(
            f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="3.5" class="dot">'
            f"<title>{esc(name)} [{i}] = {fmt_number(v)}</title></circle>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{px(i):.1f}" y="{height - bottom + 15}" class="lab" '
                f'text-anchor="middle">{i}</text>'
            )
    svg = f'<svg viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    return f'<figure class="chart"><figcaption>{esc(name)}</figcaption>{svg}</figure>'
