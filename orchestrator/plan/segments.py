"""Shots -> clips of the video model: lengths, shared heads, dropped frames."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from orchestrator.plan.timeline import SegmentPlan, ShotPlan, derive_seed

MIN_CLIP_FRAMES = 5
# A backend's clip length for (frames the planner would render, chained, context frames).
Fit = Callable[[int, bool, int], int]


def clip_length(frames: int, step: int = 4) -> int:
    """The smallest `step`k+1 frame count that holds `frames`: the video VAE compresses time by
    `step` (Wan 4, LTX-2 8), and a clip is one frame plus whole latents."""
    return max(MIN_CLIP_FRAMES, step + 1, step * math.ceil((frames - 1) / step) + 1)


def plan_segments(
    shots: Sequence[ShotPlan],
    transition: str,
    loop: str,
    overlap: int,
    clip: int,
    seed: int,
    grid: int = 1,
    fit: Fit | None = None,
    context: int = 1,
    step: int = 4,
) -> tuple[SegmentPlan, ...]:
    """`grid`: a chained clip starts on a frame that is a multiple of it (continuation=latent
    hands over whole latents); the extra frames it then shares join its head. `fit`: the video
    backend's length for a clip (not one that ends on a keyframe), given whether it is chained
    and the frames of context it gets (at most `context`, continuation=motion). `step`: clips
    are `step`k+1 frames (`clip_length`)."""
    chained_head = max(overlap, 1)
    segments: list[SegmentPlan] = []
    for shot in shots:
        chains_from_previous = transition == "continue" and shot.index > 0
        end = None
        if transition == "morph" and shot.index + 1 < len(shots):
            end = shot.index + 1
        if loop == "closure" and shot.index == len(shots) - 1:
            end = 0
        remaining = shot.frames - shot.lead
        index = 0
        while remaining > 0:
            chained = index > 0 or chains_from_previous
            previous = segments[-1] if chained else None
            start_frame = 0
            head = 0
            if previous is not None:
                start_frame = (previous.keep - chained_head) // grid * grid
                head = previous.keep - start_frame
            if shot.lead and index == 0:
                # Starts on the included clip's last frame, which has been played: drop it.
                head = 1
            need = remaining + head
            # A clip that must end on a keyframe emits all but that last frame: the keyframe
            # itself is the next shot's (or the loop's) first frame.
            ends_here = end is not None and need + 1 <= clip
            if ends_here:
                num_frames = clip_length(need + 1, step)
                keep = num_frames - 1
            elif end is not None:
                # Leave the clip that ends on the keyframe a good half clip of its own.
                num_frames = clip
                keep = min(clip, need - (clip - 1) // 2)
            else:
                num_frames = min(clip, clip_length(need, step))
                if fit is not None:
                    history = min(context, start_frame + 1) if previous is not None else 1
                    fitted = fit(num_frames, previous is not None, history)
                    # A clip must add a frame of its own, or the shot never ends.
                    num_frames = fitted if fitted > head else num_frames
                keep = min(num_frames, need)
            drop = _spread(keep - need, head + 1, keep - 1) if keep > need else ()
            segments.append(
                SegmentPlan(
                    number=len(segments),
                    shot=shot.index,
                    index=index,
                    prompt=shot.motion,
                    negative_prompt=shot.negative_prompt,
                    num_frames=num_frames,
                    keep=keep,
                    head=head,
                    drop=drop,
                    start_keyframe=None if previous else shot.index,
                    start_segment=previous.number if previous else None,
                    start_frame=start_frame,
                    end_keyframe=end if ends_here else None,
                    seed=derive_seed(shot.seed, "segment", index),
                    motion_scale=shot.motion_scale,
                )
            )
            remaining -= segments[-1].contributes
            index += 1
    return tuple(segments)


def _spread(count: int, lo: int, hi: int) -> tuple[int, ...]:
    """`count` indices spread evenly over [lo, hi): frames a clip drops to keep a shot's length."""
    if count <= 0:
        return ()
    step = (hi - lo) / (count + 1)
    return tuple(sorted({lo + round(step * (k + 1)) for k in range(count)}))
