"""Small HTML pieces every section of the report uses: escaping, sections, embedded images,
numbers, shot colours."""

from __future__ import annotations

import base64
import html
import math
from typing import Any

SHOT_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759")


def section_html(title: str, body: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{body}</section>"


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def img_tag(jpeg: bytes, alt: str) -> str:
    return f'<img src="{data_uri(jpeg)}" alt="{esc(alt)}">'


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_number(value: float) -> str:
    return f"{value:.4g}"
