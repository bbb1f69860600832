"""Music video planning: a window of the soundtrack cut on its beats into shots.

Cuts land every N bars or beats of the analysed track, snapped to the video frame grid; shots
shorter than `cut.min_seconds` merge into a neighbour (every remaining cut is still a beat), and
the shots add up to exactly round(window x fps) frames so picture and sound end together.
Shots longer than one clip are chained by the ordinary segment planner.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from orchestrator.engine.errors import UserError
from orchestrator.media.audio import probe_audio
from orchestrator.plan.beats import TRACKERS, BeatAnalysis, params, region
from orchestrator.schema.job import MAX_JOB_SECONDS, MusicConfig

if TYPE_CHECKING:
    from orchestrator.plan.timeline import Timeline
from orchestrator.plan.timeline import Cut, MusicPlan

UNITS = ("bars", "beats")


def plan_music(
    job: DictConfig, soundtrack: Path | None, fps: Fraction, beats: BeatAnalysis
) -> MusicPlan:
    music = job.music
    if soundtrack is None:
        raise UserError("job.soundtrack", "a music video needs a soundtrack")
    _check(job)
    # The probed length bounds the window before anything is decoded; the analysis then gives
    # the exact end when it reaches it (a compressed file's probed length is an estimate).
    start, window = _window(music, probe_audio(soundtrack).duration)
    if window > MAX_JOB_SECONDS:
        raise UserError(
            "job.music.max_seconds",
            f"the window from {start:g} s to the track's end is {window:.0f} s, more than "
            f"the {MAX_JOB_SECONDS:.0f} s a job may last; set job.music.max_seconds",
        )
    begin, stop = region(start, music.max_seconds, fps)
    settings = params(music.tracker, music.beats_per_bar, fps, music.bpm, begin, stop)
    analysis = beats(soundtrack, settings)
    start, window = _window(music, analysis.duration)
    total = round(window * fps)
    if total < 1:
        raise UserError("job.music.max_seconds", f"{window:g} s is less than one frame")
    grid = analysis.bars if music.cut.unit == "bars" else analysis.beats
    bounds = cut_frames(grid, start, total, fps, music.cut.every)
    bounds = merge_short(bounds, max(1, round(music.cut.min_seconds * fps)))
    first = round((start - analysis.offset) * fps)
    average = float(np.mean(analysis.onset)) if analysis.onset else 0.0
    cuts = []
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        energy = _energy(analysis.onset[first + a : first + b], average)
        cuts.append(_cut(job, k, b - a, start + a / fps, energy))
    return MusicPlan(start, total, tuple(cuts), analysis, settings)


def check_unused(music: DictConfig) -> None:
    """Music settings on a job that is not a music video would be ignored: say so instead."""
    given = OmegaConf.to_container(music, resolve=True)
    defaults = OmegaConf.to_container(OmegaConf.structured(MusicConfig), resolve=True)
    if given != defaults:
        raise UserError(
            "job.music.enabled",
            "false, but job.music has settings; set job.music.enabled=true for a music video",
        )


def _check(job: DictConfig) -> None:
    music = job.music
    if music.cut.unit not in UNITS:
        raise UserError(
            "job.music.cut.unit", f"unknown value {music.cut.unit!r}; expected bars or beats"
        )
    if music.tracker not in TRACKERS:
        raise UserError(
            "job.music.tracker", f"unknown value {music.tracker!r}; expected beats or plp"
        )
    positive = {
        "job.music.cut.every": music.cut.every,
        "job.music.beats_per_bar": music.beats_per_bar,
    }
    for key, value in positive.items():
        if value < 1:
            raise UserError(key, f"must be at least 1, got {value}")
    if music.cut.min_seconds < 0:
        raise UserError("job.music.cut.min_seconds", f"must be >= 0, got {music.cut.min_seconds}")
    if music.bpm is not None and not 20 <= music.bpm <= 400:
        raise UserError("job.music.bpm", f"must be between 20 and 400, got {music.bpm}")
    if job.loop == "pingpong":
        raise UserError(
            "job.loop", "pingpong plays the video twice; a music video follows the song"
        )
    if not music.sections and not job.shots:
        raise UserError("job.shots", "empty: a music video needs prompts (shots or sections)")
    for i, shot in enumerate(job.shots):
        for name in ("seconds", "frames"):
            if shot[name] is not None:
                raise UserError(
                    f"job.shots[{i}].{name}",
                    "a music video takes shot lengths from the beats; remove it",
                )
        if not shot.prompt.strip() and shot.image is None:
            raise UserError(f"job.shots[{i}].prompt", "empty: a shot needs a prompt or an image")
    for i, section in enumerate(music.sections):
        if section.start < 0:
            raise UserError(f"job.music.sections[{i}].start", f"must be >= 0, got {section.start}")
        if not section.prompt.strip() and section.image is None:
            raise UserError(f"job.music.sections[{i}].prompt", "empty: needs a prompt or an image")
    energy = music.energy
    if energy.enabled and not energy.phrases:
        raise UserError("job.music.energy.phrases", "empty: energy needs at least one phrase")
    if energy.min_scale < 0 or energy.max_scale < energy.min_scale:
        raise UserError("job.music.energy", "needs 0 <= min_scale <= max_scale")


def _window(music: DictConfig, duration: float) -> tuple[float, float]:
    if not 0 <= music.start < duration:
        raise UserError(
            "job.music.start", f"must be between 0 and the track's {duration:.2f} s, got "
            f"{music.start}"
        )  # fmt: skip
    window = duration - music.start
    if music.max_seconds is not None:
        if music.max_seconds <= 0:
            raise UserError("job.music.max_seconds", f"must be positive, got {music.max_seconds}")
        window = min(window, music.max_seconds)
    return float(music.start), float(window)


def cut_frames(
    grid: Sequence[float], start: float, total: int, fps: Fraction, every: int
) -> list[int]:
    """Shot boundaries in frames of the window: 0, every `every`-th grid time inside it, total."""
    inside = [t for t in grid if start <= t < start + total / fps]
    frames = sorted({round((t - start) * fps) for t in inside[::every]})
    return [0, *(f for f in frames if 0 < f < total), total]


def merge_short(bounds: list[int], min_frames: int) -> list[int]:
    """Drop boundaries until no shot is shorter than `min_frames` (or one shot is left): the
    shortest shot joins its shorter neighbour."""
    bounds = list(bounds)
    while len(bounds) > 2:
        lengths = np.diff(bounds)
        shortest = int(np.argmin(lengths))
        if lengths[shortest] >= min_frames:
            break
        if shortest == 0:
            drop = 1
        elif shortest == len(lengths) - 1:
            drop = shortest
        else:
            drop = shortest if lengths[shortest - 1] <= lengths[shortest + 1] else shortest + 1
        del bounds[drop]
    return bounds


def _energy(onset: Sequence[float], average: float) -> float:
    """0..1, where 0.5 is the average onset strength of the analysed audio (the window and
    its context) and 1 twice that."""
    if not len(onset) or average <= 0:
        return 0.0
    return float(np.clip(0.5 * np.mean(onset) / average, 0.0, 1.0))


def _cut(job: DictConfig, k: int, frames: int, at: float, energy: float) -> Cut:
    music = job.music
    if music.sections:
        index = max((i for i, s in enumerate(music.sections) if s.start <= at + 1e-6), default=0)
        source, entry, seed = f"job.music.sections[{index}]", music.sections[index], None
    else:
        index = k % len(job.shots)
        source, entry = f"job.shots[{index}]", job.shots[index]
        seed = entry.seed
    motion = entry.motion or entry.prompt
    scale = 1.0
    if music.energy.enabled:
        phrases = music.energy.phrases
        phrase = phrases[min(len(phrases) - 1, int(energy * len(phrases)))]
        motion = f"{motion.strip()}, {phrase}" if motion.strip() else phrase
        scale = music.energy.min_scale + (music.energy.max_scale - music.energy.min_scale) * energy
    return Cut(
        source=source, frames=frames, prompt=entry.prompt, motion=motion, image=entry.image,
        seed=seed, energy=round(energy, 4), motion_scale=round(scale, 4),
    )  # fmt: skip


def music_summary(timeline: Timeline) -> dict[str, Any]:
    """run.json's `music` entry: the window, the tempo and where every cut landed."""
    plan: MusicPlan | None = timeline.music
    if plan is None:
        return {}
    cuts, at = [], 0
    for cut in plan.cuts:
        cuts.append({"frame": at, "seconds": round(plan.start + float(at / timeline.fps), 4),
                     "frames": cut.frames, "source": cut.source, "energy": cut.energy})  # fmt: skip
        at += cut.frames
    return {
        "music": {
            "start": plan.start,
            "seconds": round(float(plan.frames / timeline.fps), 4),
            "tempo": round(plan.analysis.tempo, 3),
            "beats_per_bar": plan.analysis.beats_per_bar,
            "shots": cuts,
        }
    }
