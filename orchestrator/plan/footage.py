"""Your own footage: a shot that continues a video the user already has (`shots[].video`).

The clip (trimmed to `trim`, if given) is resampled to the job's rate by timestamps and each
frame fitted to the job's size as images are (cover, centre-crop). Its last frame is the shot's
keyframe, so everything that starts from a keyframe (segments, colour anchors, morphs, loops)
continues it unchanged; with `include` the fitted clip itself plays before the new frames.

Continuation from the last frame is the only mode today. A motion-conditioned mode
(`video.continuation=motion`: the model sees the last N frames) would hang off `context`: the
footage node then also writes those N fitted frames beside the keyframe, and a segment request
carries them instead of one start frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from omegaconf import DictConfig

from orchestrator.engine.errors import UserError
from orchestrator.media.audio import probe_audio
from orchestrator.media.container import MediaError
from orchestrator.media.video import probe_video
from orchestrator.plan.timeline import Footage

# Frames of the user's clip a continuation is conditioned on: its last one.
CONTEXT_FRAMES = 1


def _seconds(value: float) -> Fraction:
    return Fraction(value).limit_denominator(10**6)


def check_unused(shot: DictConfig, key: str) -> None:
    """The footage options on a shot without `video` are a mistake, not a no-op."""
    for option, unset in (("include", False), ("trim", None), ("keep_audio", False)):
        if shot[option] != unset:
            raise UserError(f"{key}.{option}", "needs a `video` on the shot")


def plan_footage(path: Path, shot: DictConfig, key: str, fps: Fraction) -> Footage:
    """Check a shot's `video` and its options at plan time: the file decodes, has a video
    stream, and holds what `trim` asks for."""
    if shot.image is not None:
        raise UserError(f"{key}.video", "give either image or video, not both")
    try:
        info = probe_video(path)
    except MediaError as exc:
        raise UserError(f"{key}.video", str(exc)) from None
    duration = _seconds(info.duration)
    start, end = Fraction(0), duration
    if shot.trim is not None:
        if len(shot.trim) != 2:
            raise UserError(
                f"{key}.trim", f"must be [start, end] in seconds, got {list(shot.trim)}"
            )
        start, end = (_seconds(v) for v in shot.trim)
        if not 0 <= start < end:
            raise UserError(f"{key}.trim", f"needs 0 <= start < end, got {list(shot.trim)}")
        if end > duration + Fraction(1, 2) / info.fps:
            raise UserError(
                f"{key}.trim",
                f"ends at {float(end):g} s but {path.name} lasts {info.duration:.3f} s",
            )
        end = min(end, duration)
    frames = math.ceil((end - start) * fps)
    if frames < CONTEXT_FRAMES:
        raise UserError(f"{key}.trim", f"{float(end - start):g} s holds no frame at {fps} fps")
    if shot.keep_audio:
        if not shot.include:
            raise UserError(
                f"{key}.keep_audio", "needs include: true (the clip's audio plays with it)"
            )
        try:
            probe_audio(path)
        except MediaError as exc:
            raise UserError(f"{key}.keep_audio", str(exc)) from None
    return Footage(path, start, end, frames, bool(shot.include), bool(shot.keep_audio))


def check_footage(shots: Sequence[tuple[int, Footage]], transition: str, loop: str) -> None:
    """Footage works wherever a shot's keyframe does; these ask for what it cannot give."""
    for index, footage in shots:
        key = f"job.shots[{index}]"
        if transition == "continue" and index > 0:
            raise UserError(f"{key}.video", "unused with transition=continue (only the first "
                            "shot starts the take); use transition=cut")  # fmt: skip
        if not footage.include:
            continue
        if transition == "morph" and index > 0:
            raise UserError(f"{key}.include", "with transition=morph the shot before morphs into "
                            "the clip's last frame, then the clip would restart; use "
                            "include: false or transition=cut")  # fmt: skip
        if loop == "closure" and index == 0:
            raise UserError(f"{key}.include", "with loop=closure the loop ends on the clip's "
                            "last frame and would jump to its first; use include: false "
                            "or loop=none")  # fmt: skip
        if loop == "pingpong" and footage.keep_audio:
            raise UserError(f"{key}.keep_audio", "pingpong would play the clip's audio "
                            "backwards; use loop=none")  # fmt: skip
