"""The frames MMAudio conditions on, sampled by timestamp from a window of any video.

CLIP sees 8 fps at 384x384 (bicubic, no crop) in [0, 1]; Synchformer sees 25 fps with the short
side resized to 224 and centre-cropped, in [-1, 1].

Which source frame fills each slot follows MMAudio's training features, read through torio with
`frame_rate=8` / `25`, i.e. FFmpeg's `fps` filter with its defaults (round to nearest): each
source timestamp is rounded to the nearest output tick, and each tick shows the latest frame
rounded onto or before it. So the output frame at time t (rate f) is the last source frame whose
timestamp is strictly before t + 1/(2f), the middle of the output frame's interval (a timestamp
exactly on the middle rounds up, to the next tick). The tests check this against libavfilter.
Windows start anywhere: slot k of a window at `start` is time start + k/f, as if the training
clip began there. Against the frame on screen at t (renga's rule before) this moves 28% of the
25 fps slots of a 16 fps source and 44% of a 24 fps one a frame later (mean 17-18 ms), and every
8 fps slot of a 24, 25 or 30 fps source one or two frames later (42-60 ms). MMAudio's inference
reader (`av_utils.read_frames`, the first frame at or after t) matches neither exactly.

Frames stream through `orchestrator.media.video.read_frames`: only the sampled, resized frames
are kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.media.container import MediaError
from orchestrator.media.video import probe_video, read_frames

if TYPE_CHECKING:
    import numpy as np
    import torch

CLIP_FPS = 8
CLIP_SIZE = 384
SYNC_FPS = 25
SYNC_SIZE = 224
SEGMENT_FRAMES = 16
SEGMENT_STEP = 8
_TIME_RESOLUTION = 10**6


@dataclass(frozen=True)
class WindowFrames:
    """CLIP frames (Nc, 3, S, S) in [0, 1] and Synchformer frames (Ns, 3, 224, 224) in [-1, 1]."""

    clip: torch.Tensor
    sync: torch.Tensor


def exact_time(value: float | Fraction) -> Fraction:
    """Seconds as a fraction, so 0.28 s at 25 fps is frame 7 and not 6.999..."""
    if isinstance(value, Fraction):
        return value
    return Fraction(value).limit_denominator(_TIME_RESOLUTION)


def slot_count(duration: float | Fraction, fps: int) -> int:
    """How many frames `duration` seconds hold at `fps` (8 s: 64 for CLIP, 200 for sync)."""
    return math.floor(exact_time(duration) * fps)


def source_indices(
    source_fps: Fraction, start: float | Fraction, duration: float | Fraction, fps: int
) -> list[int]:
    """For each output frame k (time start + k/fps), the source frame MMAudio's training reader
    would show: the last one whose timestamp i/source_fps is before start + (k + 1/2)/fps."""
    begin = exact_time(start)
    return [
        math.ceil((begin + Fraction(2 * k + 1, 2 * fps)) * source_fps) - 1
        for k in range(slot_count(duration, fps))
    ]


def segment_count(frames: int) -> int:
    """Synchformer segments of 16 frames with step 8 in `frames` (200 -> 24)."""
    if frames < SEGMENT_FRAMES:
        return 0
    return (frames - SEGMENT_FRAMES) // SEGMENT_STEP + 1


def sync_segments(frames: torch.Tensor) -> torch.Tensor:
    """(B, T, C, H, W) 25-fps frames -> (B, S, 16, C, H, W) overlapping segments (a view)."""
    if frames.shape[1] < SEGMENT_FRAMES:
        raise ValueError(
            f"Synchformer needs at least {SEGMENT_FRAMES} frames "
            f"({SEGMENT_FRAMES / SYNC_FPS:.2f} s at {SYNC_FPS} fps), got {frames.shape[1]}"
        )
    return frames.unfold(1, SEGMENT_FRAMES, SEGMENT_STEP).permute(0, 1, 5, 2, 3, 4)


def clip_transform(frame: np.ndarray, size: int = CLIP_SIZE) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, size, size) float in [0, 1]: bicubic antialiased resize, no crop."""
    import torch
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as tvf

    image = torch.from_numpy(frame).permute(2, 0, 1)
    image = tvf.resize(image, [size, size], InterpolationMode.BICUBIC, antialias=True)
    return tvf.to_dtype(image, torch.float32, scale=True)


def sync_transform(frame: np.ndarray, size: int = SYNC_SIZE) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, size, size) in [-1, 1]: short side to `size`, centre crop."""
    import torch
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as tvf

    image = torch.from_numpy(frame).permute(2, 0, 1)
    image = tvf.resize(image, [size], InterpolationMode.BICUBIC, antialias=True)
    image = tvf.center_crop(image, [size, size])
    return (tvf.to_dtype(image, torch.float32, scale=True) - 0.5) / 0.5


class _Sampler:
    """Collects the transformed frame for each output slot as source frames stream past."""

    def __init__(self, indices: list[int], transform: Callable[[np.ndarray], torch.Tensor]):
        self.indices = indices
        self.transform = transform
        self.out: list[torch.Tensor] = []

    def offer(self, index: int, frame: np.ndarray) -> None:
        taken = None
        while len(self.out) < len(self.indices) and self.indices[len(self.out)] <= index:
            taken = self.transform(frame) if taken is None else taken
            self.out.append(taken)

    def finish(self, last: np.ndarray) -> torch.Tensor:
        import torch

        if len(self.out) < len(self.indices):
            held = self.transform(last)
            self.out.extend(held for _ in range(len(self.indices) - len(self.out)))
        return torch.stack(self.out)


def window_frames(
    path: Path,
    start: float | Fraction,
    duration: float | Fraction,
    *,
    clip_size: int = CLIP_SIZE,
    sync_size: int = SYNC_SIZE,
) -> WindowFrames:
    """The CLIP (8 fps) and Synchformer (25 fps) frames of [start, start + duration), one pass.

    Output times past the last frame show the last frame (it stays on screen)."""
    begin, length = exact_time(start), exact_time(duration)
    if length <= 0:
        raise ValueError(f"window duration must be > 0, got {duration}")
    info = probe_video(path)
    end = Fraction(info.frames) / info.fps
    if begin < 0 or begin >= end:
        raise MediaError(
            f"{path}: window start {float(begin):.3f} s is outside the video "
            f"(0..{float(end):.3f} s)"
        )

    def indices(fps: int) -> list[int]:
        return [min(i, info.frames - 1) for i in source_indices(info.fps, begin, length, fps)]

    clip = _Sampler(indices(CLIP_FPS), lambda frame: clip_transform(frame, clip_size))
    sync = _Sampler(indices(SYNC_FPS), lambda frame: sync_transform(frame, sync_size))
    wanted = clip.indices + sync.indices
    if not clip.indices or not sync.indices:
        raise ValueError(f"window of {float(length):.3f} s holds no frame at {CLIP_FPS} fps")
    latest: np.ndarray | None = None
    with closing(read_frames(path, min(wanted), max(wanted) + 1)) as frames:
        for index, frame in enumerate(frames, start=min(wanted)):
            latest = frame
            clip.offer(index, frame)
            sync.offer(index, frame)
    if latest is None:
        raise MediaError(f"{path}: no frames decoded for the window at {float(begin):.3f} s")
    return WindowFrames(clip=clip.finish(latest), sync=sync.finish(latest))
