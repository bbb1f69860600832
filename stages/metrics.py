"""Seam and drift metrics, measured on the assembled frames as they stream past.

A seam's *jump ratio* is the largest frame-to-frame change across the join (the whole crossfade,
if any) over the median change between frames inside the two segments it joins: 1 means the join
moves like the footage around it. Its *motion ratio* asks the same of the motion: how much the
velocity of the picture (tracked points, `stages.motion.velocity_change`) over the `MOTION_SPAN`
frames after the join differs from that over the frames before it, over the median of the same
figure centred on frames inside the two segments. 1: the motion carries on across the join as
it does inside a clip; large: it stops, starts or turns there (a clip that restarts from a still
frame). Half a second each way at 16 fps: over single frames, tracking noise and the change of
sharpness a re-generated frame brings drown a camera move of a fraction of a pixel per frame. A
segment's *colour drift* is the CIELAB distance (CIE76 dE)
between the mean colour of its last frame and of its anchor keyframe; mean colours, so camera
motion does not count as drift. Memory per segment is lists of floats; besides, one frame and
2 * MOTION_SPAN + 1 small grey ones.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from stages import motion
from stages.color import SAMPLE, to_lab

MOTION_SPAN = 8  # frames each way a velocity is measured over
MOTION_STRIDE = 8  # inside clips, the figure is taken at every 8th frame
# Changes below this (pixels per frame on frames FLOW_WIDTH wide) are tracking noise.
MOTION_FLOOR = 0.002


def mean_lab(frame: np.ndarray) -> np.ndarray:
    return to_lab(np.ascontiguousarray(frame[::SAMPLE, ::SAMPLE])).reshape(-1, 3).mean(axis=0)


def delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """CIE76 colour difference of two CIELAB colours."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference in 0..255 levels (every 2nd pixel each way)."""
    x = a[::SAMPLE, ::SAMPLE].astype(np.int16)
    return float(np.abs(x - b[::SAMPLE, ::SAMPLE]).mean())


def ratio(step: float, steps: list[float], floor: float = 1e-3) -> float | None:
    """`step` over the median of `steps` (at least `floor`); None without steps to compare."""
    if not steps:
        return None
    return round(step / max(statistics.median(steps), floor), 3)


@dataclass
class MotionMeter:
    """Velocity changes centred on frames inside segments (every MOTION_STRIDE-th) and on each
    join: the last unblended frame before it and any blended frames (the worst is kept)."""

    segments: int
    internal: list[list[float]] = field(init=False)
    seams: dict[int, float] = field(default_factory=dict)
    count: int = 0
    _window: deque[tuple[np.ndarray, int, bool]] = field(init=False)

    def __post_init__(self) -> None:
        self.internal = [[] for _ in range(self.segments)]
        self._window = deque(maxlen=2 * MOTION_SPAN + 1)

    def add(self, frame: np.ndarray, label: int, pure: bool) -> None:
        window = self._window
        window.append((motion.grey(frame), label, pure))
        self.count += 1
        if len(window) < 2 * MOTION_SPAN + 1:
            return
        _, label, pure = window[MOTION_SPAN]
        following = window[MOTION_SPAN + 1][1]
        if all(p and lab == label for _, lab, p in window):
            if (self.count - 1 - MOTION_SPAN) % MOTION_STRIDE == 0:
                change = self._change()
                if change is not None:
                    self.internal[label].append(change)
        elif not pure or following != label:
            join = following if pure else label
            change = self._change()
            if change is not None:
                self.seams[join] = max(self.seams.get(join, 0.0), change)

    def _change(self) -> float | None:
        """The velocity change centred on the middle of the window."""
        images = [image for image, _, _ in self._window]
        return motion.velocity_change(images[0], images[MOTION_SPAN], images[-1], MOTION_SPAN)

    def ratio(self, label: int) -> float | None:
        """The join into `label` against inside the segments it joins (any, if they are too
        short to hold a window); None where nothing could be measured."""
        if label not in self.seams:
            return None
        inside = self.internal[label - 1] + self.internal[label]
        inside = inside or [change for changes in self.internal for change in changes]
        return ratio(self.seams[label], inside, MOTION_FLOOR)


@dataclass
class SeamMeter:
    """Fed every output frame with the segment it comes from and whether it is a blend of two."""

    segments: int
    internal: list[list[float]] = field(init=False)
    seams: dict[int, tuple[int, float]] = field(default_factory=dict)
    end_lab: dict[int, np.ndarray] = field(default_factory=dict)
    first: np.ndarray | None = None
    second: np.ndarray | None = None
    count: int = 0
    _prev: np.ndarray | None = None
    _prev_label: int = -1
    _prev_pure: bool = False
    motion: MotionMeter = field(init=False)

    def __post_init__(self) -> None:
        self.internal = [[] for _ in range(self.segments)]
        self.motion = MotionMeter(self.segments)

    def add(self, frame: np.ndarray, label: int, pure: bool) -> None:
        self.motion.add(frame, label, pure)
        if self._prev is None:
            self.first = frame
        else:
            if self.count == 1:
                self.second = frame
            step = frame_difference(self._prev, frame)
            if pure and self._prev_pure and label == self._prev_label:
                self.internal[label].append(step)
            else:
                at, worst = self.seams.get(label, (self.count, 0.0))
                self.seams[label] = (at, max(worst, step))
            if label != self._prev_label:
                self.end_lab[self._prev_label] = mean_lab(self._prev)
        self._prev, self._prev_label, self._prev_pure = frame, label, pure
        self.count += 1

    def finish(self) -> np.ndarray | None:
        """Close the last segment; returns the last frame."""
        if self._prev is not None:
            self.end_lab[self._prev_label] = mean_lab(self._prev)
        return self._prev

    def seam_ratio(self, label: int) -> tuple[int, float | None]:
        """Output frame where the join into segment `label` starts, and its jump ratio."""
        at, step = self.seams[label]
        return at, ratio(step, self._steps(label - 1, label))

    def loop_ratio(
        self, last: np.ndarray, first: np.ndarray, labels: tuple[int, int]
    ) -> float | None:
        return ratio(frame_difference(last, first), self._steps(*labels))

    def _steps(self, a: int, b: int) -> list[float]:
        """Steps inside segments `a` and `b`; inside any segment if crossfades fill both."""
        steps = self.internal[a] + self.internal[b]
        return steps or [step for inside in self.internal for step in inside]
