"""Ken-Burns motion: slow zoom and pan from the start frame, easing onto the end frame if given.

The first frame is the start frame exactly, so chained segments continue for real, and every
transition and loop mode can be checked on a CPU before spending GPU hours. Given one start
frame a clip restarts the camera (a direction of its own from the seed, as a video model fed one
still image does); given `context`, the last few frames of the clip before, it estimates the
camera's motion from them (`stages.motion.camera_step`) and carries it on at the same speed, as
a model conditioned on several frames does. Optional synthetic drift (`drift.color`,
`drift.brightness`, `drift.jump`) reproduces what chained Wan segments do to colour and seams,
so corrections can be measured without a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.plan.timeline import Timeline
from orchestrator.stage import CONTINUATION_KEYS, SegmentRequest
from stages import motion

# The most of the start frame a clip's pan may take a side to: less than the draft cards'
# title-safe margin (stages/keyframes/draft.py, 8 %), so the card's text stays in view for a
# shot's first clip at the default zoom and any music motion scale.
MAX_CROP = 0.07
# A warm cast: red up, blue down, the direction long chained renders tend to yellow in.
WARM = np.array([1.0, 0.25, -1.0], np.float32)
DRIFT_KEYS = ("color", "brightness", "jump")


class DraftVideo:
    version = "3"
    model_group = None
    supports_last_image = True
    continuations = ("frame", "motion")
    latent_anchor = False
    # Draws no prompt: no negative one either.
    negative_prompt = None
    # Only chained clips read them: the segment node keys them (orchestrator/render/segments.py).
    cache_exclude = CONTINUATION_KEYS

    def __init__(
        self,
        frames: int = 81,
        fps: float = 16.0,
        size_multiple: int = 16,
        zoom: float = 0.08,
        pan: float = 0.05,
        drift: dict[str, float] | None = None,
        continuation: str = "frame",
        motion_frames: int = 5,
    ) -> None:
        self.clip_frames = frames
        self.fps = fps
        self.size_multiple = size_multiple
        self.zoom = zoom
        self.pan = pan
        self.drift = {key: float((drift or {}).get(key, 0.0)) for key in DRIFT_KEYS}
        self.continuation = continuation
        self.motion_frames = motion_frames

    def validate(self, timeline: Timeline) -> None:
        for key in DRIFT_KEYS:
            if not 0.0 <= self.drift[key] <= 0.5:
                raise UserError(
                    f"video.drift.{key}", f"must be between 0 and 0.5, got {self.drift[key]}"
                )

    def generate(
        self,
        request: SegmentRequest,
        start: np.ndarray,
        end: np.ndarray | None,
        ctx: NodeContext,
        *,
        context: Sequence[np.ndarray] | None = None,
    ) -> Iterator[np.ndarray]:
        """`context`: the frames before the clip, oldest first, ending with `start`; with two or
        more the camera motion they show goes on, with one or none the clip starts afresh."""
        step = motion.camera_step(context) if context is not None and len(context) > 1 else None
        rng = np.random.default_rng(request.seed)
        angle = rng.random() * 2 * math.pi
        direction = np.array([math.cos(angle), math.sin(angle)])
        n = request.num_frames
        jump = self.drift["jump"] * np.array([math.sin(angle), -math.cos(angle)])
        # Motion and drift advance at the same rate per frame in clips of any length, so a
        # shortened last clip does not speed up; only the ease onto an end frame uses the clip.
        per_frame = 1 / max(self.clip_frames - 1, 1)
        zoom = self.zoom * request.motion_scale
        for t in range(n):
            u = t / (n - 1) if n > 1 else 1.0
            if t == 0:
                frame = start.copy()
            elif end is not None and t == n - 1:
                frame = end.copy()
            else:
                if step is not None:
                    frame = self._carried(start, step, t, jump)
                else:
                    frame = self._view(start, 1.0 + zoom * t * per_frame, direction, jump)
                ease = u * u * (3 - 2 * u) if end is not None else 0.0
                if end is not None:
                    arrive = self._view(end, 1.0 + zoom * (1 - u), -direction)
                    mixed = (1 - ease) * frame.astype(np.float32) + ease * arrive
                    frame = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
                frame = self._drifted(frame, t * per_frame * (1 - ease))
            ctx.steps(t + 1, n)
            yield frame

    def _drifted(self, frame: np.ndarray, amount: float) -> np.ndarray:
        """Colour cast and brightness creep grown to `amount` of one clip's worth. A chained
        clip starts from a frame that already carries the last clip's drift, so it compounds."""
        if amount <= 0 or not (self.drift["color"] or self.drift["brightness"]):
            return frame
        gain = (1 + self.drift["brightness"] * amount) * (1 + self.drift["color"] * amount * WARM)
        return np.clip(frame * gain + 0.5, 0, 255).astype(np.uint8)

    def _carried(
        self, image: np.ndarray, step: np.ndarray, t: int, shift: np.ndarray
    ) -> np.ndarray:
        """`image` moved on by `t` camera steps, then by `shift` (fractions of the frame)."""
        height, width = image.shape[:2]
        matrix = motion.power(step, t)
        matrix[:, 2] -= shift * (width, height)
        return cv2.warpAffine(
            image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )

    def _view(
        self,
        image: np.ndarray,
        scale: float,
        direction: np.ndarray,
        shift: np.ndarray | None = None,
    ) -> np.ndarray:
        """The image seen through a window `scale` times smaller, shifted along `direction`
        and then by `shift` (fractions of the frame: a synthetic seam jump)."""
        height, width = image.shape[:2]
        reach = min(1.0, self.pan / self.zoom) if self.zoom > 0 else 0.0
        # The pan never takes a side past MAX_CROP (the default zoom at the highest music energy
        # crops 6.9 %); a zoom set higher than that is the user's choice and is not held back.
        slack = (1 - 1 / scale) / 2
        room = max(0.0, MAX_CROP - slack)
        pan = np.clip(direction * slack * reach, -room, room)
        offset = np.zeros(2) if shift is None else shift
        cx = width / 2 + (pan[0] + offset[0]) * width
        cy = height / 2 + (pan[1] + offset[1]) * height
        matrix = np.array(
            [[scale, 0, width / 2 - scale * cx], [0, scale, height / 2 - scale * cy]],
            dtype=np.float64,
        )
        return cv2.warpAffine(
            image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
