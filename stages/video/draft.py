"""Ken-Burns motion: slow zoom and pan from the start frame, easing onto the end frame if given.

The first frame is the start frame exactly, so chained segments continue for real, and every
transition and loop mode can be checked on a CPU before spending GPU hours.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from orchestrator.plan import Timeline
from orchestrator.stage import NodeContext, SegmentRequest


class DraftVideo:
    version = "1"
    model_group = None
    supports_last_image = True

    def __init__(
        self,
        frames: int = 81,
        fps: float = 16.0,
        size_multiple: int = 16,
        zoom: float = 0.08,
        pan: float = 0.05,
    ) -> None:
        self.clip_frames = frames
        self.fps = fps
        self.size_multiple = size_multiple
        self.zoom = zoom
        self.pan = pan

    def validate(self, timeline: Timeline) -> None:
        return None

    def generate(
        self,
        request: SegmentRequest,
        start: np.ndarray,
        end: np.ndarray | None,
        ctx: NodeContext,
    ) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(request.seed)
        angle = rng.random() * 2 * math.pi
        direction = np.array([math.cos(angle), math.sin(angle)])
        n = request.num_frames
        zoom = self.zoom * request.motion_scale
        for t in range(n):
            u = t / (n - 1) if n > 1 else 1.0
            if t == 0:
                frame = start.copy()
            elif end is not None and t == n - 1:
                frame = end.copy()
            else:
                frame = self._view(start, 1.0 + zoom * u, direction)
                if end is not None:
                    ease = u * u * (3 - 2 * u)
                    arrive = self._view(end, 1.0 + zoom * (1 - u), -direction)
                    mixed = (1 - ease) * frame.astype(np.float32) + ease * arrive
                    frame = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
            ctx.steps(t + 1, n)
            yield frame

    def _view(self, image: np.ndarray, scale: float, direction: np.ndarray) -> np.ndarray:
        """The image seen through a window `scale` times smaller, shifted along `direction`."""
        height, width = image.shape[:2]
        reach = min(1.0, self.pan / self.zoom) if self.zoom > 0 else 0.0
        slack = (1 - 1 / scale) / 2
        cx = width / 2 + direction[0] * slack * reach * width
        cy = height / 2 + direction[1] * slack * reach * height
        matrix = np.array(
            [[scale, 0, width / 2 - scale * cx], [0, scale, height / 2 - scale * cy]],
            dtype=np.float64,
        )
        return cv2.warpAffine(
            image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
