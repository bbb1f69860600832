"""Job config -> Timeline: shots, the segments that render them, and every check a job must pass.

Planning is cheap and loads no model, so every mistake in a job is reported here, before any
work starts, as one `UserError` naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from orchestrator.engine.errors import UserError, warn
from orchestrator.media.audio import probe_audio
from orchestrator.media.container import MediaError
from orchestrator.media.images import load_image
from orchestrator.plan.audio_content import check_samples
from orchestrator.plan.beats import BeatAnalysis, analyse_with
from orchestrator.plan.cast import compose_shot, with_style
from orchestrator.plan.footage import check_footage, plan_footage
from orchestrator.plan.footage import check_unused as check_no_footage
from orchestrator.plan.music import check_unused, plan_music
from orchestrator.plan.segments import MIN_CLIP_FRAMES, plan_segments
from orchestrator.plan.timeline import MusicPlan, ShotPlan, Timeline, derive_seed
from orchestrator.schema.job import MAX_JOB_SECONDS
from orchestrator.stage import LATENT_FRAMES, VideoBackend

TRANSITIONS = ("cut", "continue", "morph")
LOOPS = ("none", "pingpong", "closure")
MODES = ("video", "stills")
CROSSFADES = ("linear", "cosine")
# Clips in one job: planning and the graph stay within seconds (four hours of A14B is ~2,900).
MAX_SEGMENTS = 20000


def resolve_path(value: str, key: str, base: Path | None = None) -> Path:
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not path.exists():
        raise UserError(key, f"file not found: {path}")
    if not path.is_file():
        raise UserError(key, f"not a file: {path}")
    return path


def plan_job(
    cfg: DictConfig, video: VideoBackend | None, beats: BeatAnalysis = analyse_with
) -> Timeline:
    """Validate the job and lay out its shots and segments; a music video's soundtrack is
    analysed by `beats` (a run passes the store's `render.beats.StoredBeats`)."""
    job = cfg.job
    mode = _choice(cfg.mode, MODES, "mode")
    transition = _choice(job.transition, TRANSITIONS, "job.transition")
    loop = _choice(job.loop, LOOPS, "job.loop")
    crossfade = _choice(cfg.assemble.crossfade, CROSSFADES, "assemble.crossfade")
    if not job.shots:
        raise UserError("job.shots", "empty: a job needs at least one shot")
    if video is None and mode == "video":
        raise UserError("video", "mode=video needs a video backend")

    fps = _fps(job.fps if job.fps is not None else (video.fps if video else 1.0), "job.fps")
    width, height = _size(job.width, job.height, video.size_multiple if video else 2)
    soundtrack = _audio_file(job.soundtrack, "job.soundtrack")
    vocals = _audio_file(job.vocals, "job.vocals")

    music = None
    if job.music.enabled:
        for i, shot in enumerate(job.shots):
            for name in ("video", "cast"):
                if shot[name]:
                    raise UserError(f"job.shots[{i}].{name}", "not supported in a music video yet")
        music = plan_music(job, soundtrack, fps, beats)
        shots = _music_shots(music, job, cfg.seed)
    else:
        check_unused(job.music)
        shots = _shots(job, cfg.seed, fps, cfg.keyframes.get("loras") or ())
        total = sum(shot.frames for shot in shots) / fps
        if total > MAX_JOB_SECONDS:
            raise UserError(
                "job.shots", f"{float(total):.0f} s in all, more than the {MAX_JOB_SECONDS:.0f} s "
                "a job may last; split it into several jobs",
            )  # fmt: skip
    window = {"soundtrack_start": music.start if music else 0.0, "music": music}
    if mode == "stills":
        return Timeline(
            mode, width, height, fps, transition, loop, 0, crossfade, shots, (),
            tuple(range(len(shots))), soundtrack, vocals, **window,
        )  # fmt: skip

    assert video is not None
    _check_clip(video)
    _check_continuation(video)
    overlap = _overlap(cfg.assemble.overlap_frames, video.clip_frames)
    clips = sum(shot.frames for shot in shots) / max(1, video.clip_frames - 1 - overlap)
    if clips > MAX_SEGMENTS:
        raise UserError(
            "video.frames", f"{video.clip_frames}-frame clips make {clips:.0f} segments, more "
            f"than the {MAX_SEGMENTS} a job may have; use longer clips or a shorter job",
        )  # fmt: skip
    if (transition == "morph" or loop == "closure") and not video.supports_last_image:
        option = "job.transition=morph" if transition == "morph" else "job.loop=closure"
        raise UserError(
            option.split("=")[0],
            f"{option} needs a video backend that can end on a given frame; "
            f"{type(video).__name__} ignores last_image",
        )
    if transition == "continue":
        for shot in shots[1:]:
            if shot.image is not None:
                raise UserError(
                    f"job.shots[{shot.index}].image",
                    "unused with transition=continue (only the first shot's keyframe starts "
                    "the take); remove it or use transition=cut",
                )
    if loop == "pingpong" and (vocals or any(shot.speech for shot in shots)):
        raise UserError("job.loop", "pingpong would play speech backwards; use none or closure")
    check_footage([(s.index, s.footage) for s in shots if s.footage], transition, loop)
    if transition == "continue" and len(shots) > 1 and overlap > shots[0].frames - shots[0].lead:
        raise UserError(
            "assemble.overlap_frames",
            f"{overlap} shared frames need a first shot of at least {overlap} new frames to "
            f"crossfade from with transition=continue; job.shots[0] has "
            f"{shots[0].frames - shots[0].lead}",
        )
    grid = LATENT_FRAMES if video.continuation == "latent" else 1
    context = video.motion_frames if video.continuation == "motion" else 1
    segments = plan_segments(
        shots, transition, loop, overlap, video.clip_frames, cfg.seed, grid=grid,
        fit=getattr(video, "fit_frames", None), context=context,
        step=frame_step(video),
    )  # fmt: skip
    keyframes = sorted(
        {s.start_keyframe for s in segments if s.start_keyframe is not None}
        | {s.end_keyframe for s in segments if s.end_keyframe is not None}
    )
    return Timeline(
        mode, width, height, fps, transition, loop, overlap, crossfade, shots, segments,
        tuple(keyframes), soundtrack, vocals, **window, continuation=video.continuation,
    )  # fmt: skip


def _choice(value: str, allowed: Sequence[str], key: str) -> str:
    if value not in allowed:
        raise UserError(key, f"unknown value {value!r}; expected one of {', '.join(allowed)}")
    return value


def _fps(value: float, key: str) -> Fraction:
    if value is None or value <= 0:
        raise UserError(key, f"must be positive, got {value}")
    return Fraction(value).limit_denominator(1001)


def _size(width: int, height: int, multiple: int) -> tuple[int, int]:
    for key, value in (("job.width", width), ("job.height", height)):
        if value <= 0:
            raise UserError(key, f"must be positive, got {value}")
        if value % multiple:
            lower = max(multiple, value - value % multiple)
            raise UserError(
                key,
                f"{value} is not a multiple of {multiple}, which the video backend needs "
                f"(try {lower} or {lower + multiple})",
            )
    return width, height


def _audio_file(value: str | None, key: str) -> Path | None:
    return _probed_audio(value, key)[0] if value is not None else None


def _probed_audio(value: str, key: str) -> tuple[Path, float]:
    """A path that exists and decodes as non-empty audio, and its duration."""
    path = resolve_path(value, key)
    try:
        info = probe_audio(path)
    except MediaError as exc:
        raise UserError(key, str(exc)) from None
    if info.duration <= 0:
        raise UserError(key, f"no audio in {path}")
    check_samples(path, key)
    return path, info.duration


def _shots(job: DictConfig, seed: int, fps: Fraction, loras: Any) -> tuple[ShotPlan, ...]:
    shots = []
    start = 0
    for i, shot in enumerate(job.shots):
        key = f"job.shots[{i}]"
        frames = _shot_frames(shot, fps, key)
        composed = compose_shot(job, shot, i, loras)
        for warning in composed.warnings:
            warn(*warning)
        image = _image(shot.image, key)
        if composed.image is not None:
            image = _image(composed.image, str(composed.image_key).removesuffix(".image"))
        footage = None
        if shot.video is not None:
            footage = plan_footage(resolve_path(shot.video, f"{key}.video"), shot, key, fps)
            frames += footage.lead
        else:
            check_no_footage(shot, key)
        if image is None and footage is None and not (shot.prompt.strip() or shot.cast):
            raise UserError(f"{key}.prompt", "empty: a shot needs a prompt, an image or a video")
        speech = None
        if shot.speech is not None:
            speech, length = _probed_audio(shot.speech, f"{key}.speech")
            if length > frames / fps + 1 / fps:
                raise UserError(
                    f"{key}.speech",
                    f"{length:.2f} s of speech does not fit the shot's {float(frames / fps):.2f} s",
                )
        base = shot.seed if shot.seed is not None else derive_seed(seed, "shot", i)
        if shot.pick < 0:
            raise UserError(f"{key}.pick", f"must be 0 or more, got {shot.pick}")
        shots.append(
            ShotPlan(
                index=i,
                prompt=composed.prompt,
                motion=composed.motion,
                negative_prompt=(
                    shot.negative_prompt
                    if shot.negative_prompt is not None
                    else job.negative_prompt
                ),
                frames=frames,
                start=start,
                image=image,
                loras=composed.loras,
                seed=base,
                speech=speech,
                pick=shot.pick,
                sound=(shot.sound or shot.motion or shot.prompt).strip(),
                footage=footage,
            )
        )
        start += frames
    return tuple(shots)


def _music_shots(music: MusicPlan, job: DictConfig, seed: int) -> tuple[ShotPlan, ...]:
    """The music plan's cuts as shots; a cut's prompt may come from a cycled shot or a section."""
    shots = []
    start = 0
    images: dict[str, Path | None] = {}
    for i, cut in enumerate(music.cuts):
        if cut.source not in images:
            images[cut.source] = _image(cut.image, cut.source)
        shots.append(
            ShotPlan(
                index=i,
                prompt=with_style(cut.prompt, job.style),
                motion=with_style(cut.motion, job.style),
                negative_prompt=job.negative_prompt,
                frames=cut.frames,
                start=start,
                image=images[cut.source],
                seed=cut.seed if cut.seed is not None else derive_seed(seed, "shot", i),
                motion_scale=cut.motion_scale,
            )
        )
        start += cut.frames
    return tuple(shots)


def _image(value: str | None, key: str) -> Path | None:
    if value is None:
        return None
    image = resolve_path(value, f"{key}.image")
    try:
        load_image(image)
    except MediaError as exc:
        raise UserError(f"{key}.image", str(exc)) from None
    return image


def _shot_frames(shot: DictConfig, fps: Fraction, key: str) -> int:
    if shot.frames is not None and shot.seconds is not None:
        raise UserError(key, "give either seconds or frames, not both")
    if shot.frames is not None:
        if shot.frames <= 0:
            raise UserError(f"{key}.frames", f"must be positive, got {shot.frames}")
        return int(shot.frames)
    if shot.seconds is None:
        raise UserError(key, "needs seconds or frames")
    if shot.seconds <= 0:
        raise UserError(f"{key}.seconds", f"must be positive, got {shot.seconds}")
    frames = round(shot.seconds * fps)
    if frames < 1:
        raise UserError(f"{key}.seconds", f"{shot.seconds} s is less than one frame at {fps} fps")
    return frames


def frame_step(video: VideoBackend) -> int:
    """Frames per latent of the backend's video VAE: clips are that many k plus 1 frames."""
    return int(getattr(video, "frame_step", 4))


def _check_clip(video: VideoBackend) -> None:
    n, step = video.clip_frames, frame_step(video)
    least = max(MIN_CLIP_FRAMES, step + 1)
    if n < least or (n - 1) % step:
        raise UserError(
            "video.frames", f"clip length must be {step}k+1 and at least {least}, got {n}"
        )


# What a backend that lacks a mode cannot do, per mode.
CONTINUATIONS = {"frame": "", "motion": "motion frames", "latent": "the clip before's latents"}


def _check_continuation(video: VideoBackend) -> None:
    """`video.continuation` is a mode renga knows and this backend can do."""
    mode = video.continuation
    if mode not in CONTINUATIONS:
        raise UserError("video.continuation", f"must be frame, motion or latent, got {mode!r}")
    if mode not in video.continuations:
        raise UserError(
            "video.continuation",
            f"{type(video).__name__} cannot condition on {CONTINUATIONS[mode]}; use "
            f"{' or '.join(video.continuations)}",
        )


def _overlap(value: int, clip_frames: int) -> int:
    limit = (clip_frames - 1) // 2
    if not 0 <= value <= limit:
        raise UserError(
            "assemble.overlap_frames",
            f"must be between 0 and {limit} for {clip_frames}-frame clips, got {value}",
        )
    return value
