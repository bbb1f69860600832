"""User-supplied keyframes: each shot's own image, resized and centre-cropped to the job size."""

from __future__ import annotations

from PIL import Image

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.images import fit_image
from orchestrator.plan.timeline import Timeline
from orchestrator.stage import KeyframeRequest


class ImageKeyframes:
    version = "1"
    model_group = None

    def validate(self, timeline: Timeline) -> None:
        for index in timeline.keyframes:
            shot = timeline.shots[index]
            if shot.image is None and shot.footage is None:
                raise UserError(
                    f"job.shots[{index}].image",
                    "missing: keyframes=images needs an image (or a video) per shot",
                )

    def render(
        self, request: KeyframeRequest, image: Image.Image | None, ctx: NodeContext
    ) -> Image.Image:
        assert image is not None
        return fit_image(image, request.width, request.height)
