"""A contact sheet: every keyframe of a run on one page, labelled, to pick from at a glance."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from orchestrator.plan.timeline import Timeline


class ContactSheet:
    version = "1"
    model_group = None

    def __init__(self, columns: int = 4, thumb_width: int = 416) -> None:
        self.columns = columns
        self.thumb_width = thumb_width

    def validate(self, timeline: Timeline) -> None:
        return None

    def render(self, images: Sequence[Image.Image], labels: Sequence[str]) -> Image.Image:
        columns = max(1, min(self.columns, len(images)))
        rows = math.ceil(len(images) / columns)
        width = self.thumb_width
        height = round(width * images[0].height / images[0].width)
        pad, caption = 12, 28
        sheet = Image.new(
            "RGB",
            (columns * (width + pad) + pad, rows * (height + caption + pad) + pad),
            (24, 24, 28),
        )
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=18)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            x = pad + (i % columns) * (width + pad)
            y = pad + (i // columns) * (height + caption + pad)
            sheet.paste(image.convert("RGB").resize((width, height), Image.LANCZOS), (x, y))
            draw.text((x, y + height + 4), label, font=font, fill=(230, 230, 230))
        return sheet
