"""Seam and drift metrics, measured on the assembled frames as they stream past.

A seam's *jump ratio* is the largest frame-to-frame change across the join (the whole crossfade,
if any) over the median change between frames inside the two segments it joins: 1 means the join
moves like the footage around it. A segment's *colour drift* is the CIELAB distance (CIE76 dE)
between the mean colour of its last frame and of its anchor keyframe; mean colours, so camera
motion does not count as drift. Memory per segment is a list of floats and one frame.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from stages.color import SAMPLE, to_lab


def mean_lab(frame: np.ndarray) -> np.ndarray:
    return to_lab(np.ascontiguousarray(frame[::SAMPLE, ::SAMPLE])).reshape(-1, 3).mean(axis=0)


def delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """CIE76 colour difference of two CIELAB colours."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference in 0..255 levels (every 2nd pixel each way)."""
    x = a[::SAMPLE, ::SAMPLE].astype(np.int16)
    return float(np.abs(x - b[::SAMPLE, ::SAMPLE]).mean())


def ratio(step: float, steps: list[float]) -> float | None:
    """`step` over the median of `steps`; None without steps to compare with."""
    if not steps:
        return None
    return round(step / max(statistics.median(steps), 1e-3), 3)


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

    def __post_init__(self) -> None:
        self.internal = [[] for _ in range(self.segments)]

    def add(self, frame: np.ndarray, label: int, pure: bool) -> None:
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
