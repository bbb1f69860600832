"""Assemble segments into one video: trim, drop or crossfade the frames chained clips share,
then add the way back for a ping-pong loop. Frames stream; memory does not grow with length."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from itertools import chain, islice
from pathlib import Path

import numpy as np

from orchestrator import media
from orchestrator.plan import SegmentPlan, Timeline
from orchestrator.stage import NodeContext


def crossfade_weights(n: int, kind: str) -> np.ndarray:
    """Weights of the incoming clip over `n` shared frames, strictly between 0 and 1."""
    u = np.arange(1, n + 1) / (n + 1)
    return 0.5 - 0.5 * np.cos(math.pi * u) if kind == "cosine" else u


class Assembler:
    version = "1"
    model_group = None

    def __init__(self, overlap_frames: int = 0, crossfade: str = "cosine") -> None:
        self.overlap_frames = overlap_frames
        self.crossfade = crossfade

    def validate(self, timeline: Timeline) -> None:
        return None

    def run(self, clips: Sequence[Path], timeline: Timeline, out: Path, ctx: NodeContext) -> None:
        total = timeline.frames
        progress = lambda n: ctx.steps(n, total)  # noqa: E731
        forward = self.frames(clips, timeline)
        if timeline.loop == "pingpong" and timeline.frames != timeline.forward_frames:
            there = out.with_name(".forward.mkv")
            media.write_video(there, forward, fps=timeline.fps, codec=media.LOSSLESS)
            back = islice(media.read_frames_reversed(there), 1, timeline.forward_frames - 1)
            frames: Iterator[np.ndarray] = chain(media.read_frames(there), back)
            written = media.write_video(
                out, frames, fps=timeline.fps, codec=media.LOSSLESS, progress=progress
            )
            there.unlink()
        else:
            written = media.write_video(
                out, forward, fps=timeline.fps, codec=media.LOSSLESS, progress=progress
            )
        if written != total:
            raise ValueError(f"assembled {written} frames, the plan says {total}")
        ctx.metrics["frames"] = written

    def frames(self, clips: Sequence[Path], timeline: Timeline) -> Iterator[np.ndarray]:
        """The forward video: each clip's kept frames, shared frames crossfaded or dropped."""
        overlap = timeline.overlap
        weights = crossfade_weights(overlap, timeline.crossfade)
        segments = timeline.segments
        tail: deque[np.ndarray] = deque()
        for k, (clip, segment) in enumerate(zip(clips, segments, strict=True)):
            following = segments[k + 1] if k + 1 < len(segments) else None
            hold = overlap if following is not None and following.head > 0 else 0
            previous_tail = list(tail)
            tail = deque()
            for i, frame in enumerate(_kept(clip, segment)):
                if i < segment.head:
                    if overlap:
                        w = weights[i]
                        mixed = (1 - w) * previous_tail[i].astype(np.float32) + w * frame
                        yield np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
                    continue
                if hold:
                    tail.append(frame)
                    if len(tail) > hold:
                        yield tail.popleft()
                else:
                    yield frame


def _kept(clip: Path, segment: SegmentPlan) -> Iterator[np.ndarray]:
    drop = set(segment.drop)
    for i, frame in enumerate(media.read_frames(clip, 0, segment.keep)):
        if i not in drop:
            yield frame
