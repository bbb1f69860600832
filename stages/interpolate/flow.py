"""Frame interpolation (`interpolate=flow`): OpenCV DIS optical flow, both ways, and an
occlusion-aware blend of the two warped neighbours.

For every pair of frames the flow is computed forward and backward; the flow from an in-between
time to either neighbour is approximated from both (the quadratic model of Jiang et al.'s Super
SloMo), each neighbour is warped there, and the two are blended by time, dropping a neighbour
where the forward-backward check says the picture it would contribute is hidden in the other
frame (Baker et al.'s rule: a pixel seen in one frame only comes from that frame). Frames
stream: two decoded frames and their flows are all that is held.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from orchestrator.engine.errors import UserError
from orchestrator.plan.timeline import Timeline
from stages.interpolate.stream import Interpolator

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowInterpolator(Interpolator):
    def __init__(self, factor: int = 2, preset: str = "fast", occlusion: float = 2.0) -> None:
        self.factor = factor
        self.preset = preset
        self.occlusion = occlusion
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._dis: cv2.DISOpticalFlow | None = None

    def validate(self, timeline: Timeline) -> None:
        super().validate(timeline)
        if self.preset not in PRESETS:
            raise UserError("interpolate.preset", f"unknown value {self.preset!r}; expected one "
                            f"of {', '.join(PRESETS)}")  # fmt: skip
        if self.occlusion <= 0:
            raise UserError("interpolate.occlusion", f"must be positive, got {self.occlusion}")

    def between(self, a: np.ndarray, b: np.ndarray) -> Iterator[np.ndarray]:
        """The factor-1 frames at equal steps strictly between `a` and `b`."""
        dis = self._flow_engine()
        gray_a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
        gray_b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        ab = dis.calc(gray_a, gray_b, None)
        ba = dis.calc(gray_b, gray_a, None)
        gx, gy = self._coords(a.shape[:2])
        fa, fb = a.astype(np.float32), b.astype(np.float32)
        for j in range(1, self.factor):
            t = j / self.factor
            to_a = -(1 - t) * t * ab + t * t * ba
            to_b = (1 - t) * (1 - t) * ab - t * (1 - t) * ba
            warped_a = _warp(fa, to_a, gx, gy)
            warped_b = _warp(fb, to_b, gx, gy)
            # A sample is trusted as far as its own motion brings it here at time t: where the
            # picture is hidden in one frame, that frame's sample belongs to something else.
            weight_a = (1 - t) * self._arrives(to_a + t * _warp(ab, to_a, gx, gy))
            weight_b = t * self._arrives(to_b + (1 - t) * _warp(ba, to_b, gx, gy))
            share = (weight_b / (weight_a + weight_b))[..., None]
            mixed = warped_a + share * (warped_b - warped_a)
            yield np.clip(mixed + 0.5, 0, 255).astype(np.uint8)

    def _arrives(self, miss: np.ndarray) -> np.ndarray:
        """1 for a sample whose trajectory lands on the pixel, toward 0 as it misses."""
        squared = np.einsum("ijk,ijk->ij", miss, miss)
        return 1 / (1 + squared * np.float32(1 / self.occlusion**2)) + np.float32(1e-3)

    def _flow_engine(self) -> cv2.DISOpticalFlow:
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(PRESETS[self.preset])
        return self._dis

    def _coords(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        if self._grid is None or self._grid[0].shape != shape:
            ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
            self._grid = xs, ys
        return self._grid


def _warp(image: np.ndarray, flow: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """`image` sampled at each pixel plus `flow` (backward warping, edges clamped)."""
    return cv2.remap(
        image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
