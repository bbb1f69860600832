"""Long audio from a model trained on 8-s clips: overlapping windows joined by crossfades.

MMAudio cannot hold context much longer than its 8-s training length, so a long video is cut
into equal windows of at most `window` seconds that overlap by at least `overlap` seconds;
each window is generated on its own and neighbours are joined with an equal-power crossfade
(the windows are independent renders, so their powers add, not their amplitudes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestrator.media.audio import read_audio
from orchestrator.plan.timeline import Timeline


@dataclass(frozen=True)
class AudioWindow:
    """Samples [start, start + length) of the track at `rate`."""

    index: int
    start: int
    length: int
    rate: int

    @property
    def seconds(self) -> float:
        return self.length / self.rate

    @property
    def start_seconds(self) -> float:
        return self.start / self.rate

    @property
    def end(self) -> int:
        return self.start + self.length


def plan_windows(total: int, rate: int, window: float, overlap: float) -> list[AudioWindow]:
    """The fewest equal windows of at most `window` s covering `total` samples, each pair
    overlapping by at least `overlap` s, the first starting at 0 and the last ending at `total`."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if not 0 <= overlap < window:
        raise ValueError(f"need 0 <= overlap < window, got overlap={overlap} window={window}")
    size, lap = math.floor(window * rate), math.ceil(overlap * rate)
    if total <= size:
        return [AudioWindow(0, 0, total, rate)]
    count = math.ceil((total - lap) / (size - lap))
    length = math.ceil((total + (count - 1) * lap) / count)
    starts = [round(i * (total - length) / (count - 1)) for i in range(count)]
    return [AudioWindow(i, start, length, rate) for i, start in enumerate(starts)]


def equal_power_join(
    windows: list[AudioWindow], blocks: Iterable[np.ndarray]
) -> Iterator[np.ndarray]:
    """Stream the joined track: each window's (channels, length) samples in order, overlaps
    crossfaded with cos/sin gains (cos² + sin² = 1). Holds one window at a time."""
    tail: np.ndarray | None = None
    for i, (window, block) in enumerate(zip(windows, blocks, strict=True)):
        if block.ndim != 2 or block.shape[1] != window.length:
            raise ValueError(f"window {i}: expected (channels, {window.length}), got {block.shape}")
        block = block.astype(np.float32, copy=True)
        if tail is not None:
            fade = tail.shape[1]
            angle = (np.arange(fade, dtype=np.float64) + 0.5) / fade * (np.pi / 2)
            block[:, :fade] = (
                tail * np.cos(angle).astype(np.float32) + block[:, :fade] * np.sin(angle)
            ).astype(np.float32)
        following = windows[i + 1].start if i + 1 < len(windows) else window.end
        keep = following - window.start
        yield block[:, :keep]
        tail = block[:, keep:] if keep < window.length else None


def read_windows(paths: list[Path], rate: int, channels: int) -> Iterator[np.ndarray]:
    for path in paths:
        yield read_audio(path, rate=rate, channels=channels)


def shot_at(timeline: Timeline, frame: int) -> int:
    for shot in timeline.shots:
        if shot.start <= frame < shot.start + shot.frames:
            return shot.index
    return timeline.shots[-1].index
