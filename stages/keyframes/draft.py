"""Storyboard cards: a background made from the seed with the shot's prompt written on it.

A draft timeline shows at a glance which shot is which and what it asks for, in milliseconds
and with no weights.
"""

from __future__ import annotations

import colorsys
import math
import re

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from orchestrator.engine.context import NodeContext
from orchestrator.media.images import fit_image
from orchestrator.plan.timeline import Timeline
from orchestrator.stage import KeyframeRequest

# Text stays this far (a fraction of the card) from every edge: the draft video's pan and zoom
# crop less than this (stages/video/draft.py, MAX_CROP), so the card stays readable in motion.
SAFE_MARGIN = 0.08


class DraftKeyframes:
    version = "2"
    model_group = None

    def __init__(self, font_size: int = 0) -> None:
        self.font_size = font_size

    def validate(self, timeline: Timeline) -> None:
        return None

    def render(
        self, request: KeyframeRequest, image: Image.Image | None, ctx: NodeContext
    ) -> Image.Image:
        if image is not None:
            return fit_image(image, request.width, request.height)
        card = _background(request.width, request.height, request.seed)
        _write_prompt(card, request, self.font_size or max(12, request.height // 20))
        return card


def _background(width: int, height: int, seed: int) -> Image.Image:
    """A two-colour gradient with soft blobs, so pan and zoom are visible on the card."""
    rng = np.random.default_rng(seed)
    hue = rng.random()
    top = np.array(colorsys.hsv_to_rgb(hue, 0.55, 0.85)) * 255
    bottom = np.array(colorsys.hsv_to_rgb((hue + 0.12) % 1.0, 0.7, 0.35)) * 255
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    pixels = (top * (1 - ramp) + bottom * ramp).repeat(width, axis=1)
    card = Image.fromarray(pixels.astype(np.uint8), "RGB")
    blobs = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(blobs)
    for _ in range(12):
        x, y = rng.random(2) * (width, height)
        r = (0.05 + 0.15 * rng.random()) * min(width, height)
        shade = tuple(int(v) for v in colorsys.hsv_to_rgb(rng.random(), 0.5, 1.0 * 255))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=shade)
    blobs = blobs.filter(ImageFilter.GaussianBlur(min(width, height) / 30))
    return Image.blend(card, blobs, 0.25)


def _write_prompt(card: Image.Image, request: KeyframeRequest, size: int) -> None:
    draw = ImageDraw.Draw(card)
    small = ImageFont.load_default(size=max(10, size * 2 // 3))
    font = ImageFont.load_default(size=size)
    left = max(size, math.ceil(SAFE_MARGIN * card.width))
    top = max(size // 2, math.ceil(SAFE_MARGIN * card.height))
    draw.text(
        (left, top),
        f"SHOT {request.shot + 1}/{request.shots}   seed {request.seed}",
        font=small,
        fill=(255, 255, 255),
        stroke_width=max(1, size // 12),
        stroke_fill=(0, 0, 0),
    )
    lines = _wrap(_plain(request.prompt), font, card.width - 2 * left)
    y = top + size * 3 // 2
    for line in lines:
        if y + size > card.height - top:
            break
        draw.text(
            (left, y), line, font=font, fill=(255, 255, 255),
            stroke_width=max(1, size // 10), stroke_fill=(0, 0, 0),
        )  # fmt: skip
        y += int(size * 1.3)


def _plain(prompt: str) -> list[str]:
    """Markdown prompt lines without their heading and list markers."""
    lines = [re.sub(r"^\s*(#+|[-*+]|\d+\.)\s+", "", line) for line in prompt.splitlines()]
    return [line.strip() for line in lines if line.strip()]


def _wrap(paragraphs: list[str], font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in paragraphs:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines
