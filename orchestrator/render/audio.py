"""The audio node, and a video-to-audio backend's weights and window nodes."""

from __future__ import annotations

from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.engine.graph import Graph, Node
from orchestrator.entries import AUDIO_FILE, EFFECTS_FILE, VIDEO_FILE
from orchestrator.media.audio import write_audio
from orchestrator.plan.timeline import ShotPlan, Timeline, derive_seed
from orchestrator.render.nodes import stage_node
from orchestrator.render.stages import Stages
from orchestrator.stage import SOUND_FILE


def _speech_files(timeline: Timeline) -> dict[str, Path]:
    files = {f"speech/{s.index}": s.speech for s in timeline.shots if s.speech is not None}
    if timeline.vocals is not None:
        files["vocals"] = timeline.vocals
    return files


def add_effects(graph: Graph, timeline: Timeline, stages: Stages, video: str) -> tuple[str, ...]:
    """For a video-to-audio backend: a node that converts its weights once, and one node per
    window of the final video (resumable one by one); nothing for other audio backends."""
    backend = stages.audio
    if not hasattr(backend, "effect_windows"):
        return ()
    weights = graph.add(
        stage_node(
            backend,
            "audio_weights",
            lambda ctx: backend.convert_weights(ctx.out_dir, ctx),
            backend.weights_params(),
            version=backend.weights_version,
        )
    ).id
    seed = int(stages.cfg.seed)
    ids = []
    for window in backend.effect_windows(timeline):
        prompt = backend.window_prompt(timeline, window)
        window_seed = derive_seed(seed, "effects", window.index)
        node = _effects_node(backend, window, prompt, window_seed, video, weights, timeline.fps)
        ids.append(graph.add(node).id)
    return tuple(ids)


def window_frames(window: dict[str, Any], fps: Fraction) -> int:
    """Video frames an audio window covers (its share of the work of a video-to-audio node)."""
    return round(window["length"] / window["rate"] * fps)


def _effects_node(
    backend: Any, window: Any, prompt: str, seed: int, video: str, weights: str, fps: Fraction
) -> Node:
    def run(ctx: NodeContext) -> None:
        samples = backend.generate(
            window, prompt, seed, ctx.inputs[video] / VIDEO_FILE, ctx.inputs[weights], ctx
        )
        write_audio(ctx.out_dir / EFFECTS_FILE, samples, window.rate)
        ctx.metrics["frames"] = window_frames(asdict(window), fps)

    params = {
        "backend": backend.effects_params(),
        "window": asdict(window),
        "prompt": prompt,
        "seed": seed,
    }
    node_id = f"effects/{window.index}"
    return stage_node(
        backend, node_id, run, params, stage="effects", deps=(video, weights), models=True
    )


def audio_node(timeline: Timeline, stages: Stages, effects: tuple[str, ...]) -> Node:
    params = {
        "backend": stages.params("audio"),
        "frames": timeline.frames,
        "fps": str(timeline.fps),
        "soundtrack": timeline.soundtrack is not None,
        "speech_at": {s.index: s.start for s in timeline.shots if s.speech is not None},
    }
    if timeline.soundtrack_start:
        params["start"] = timeline.soundtrack_start
    files = {"soundtrack": timeline.soundtrack} if timeline.soundtrack else {}
    for shot in kept_audio(timeline, stages):
        assert shot.footage is not None
        files[f"footage/{shot.index}"] = shot.footage.path
        params.setdefault("footage_audio", {})[shot.index] = [
            shot.start,
            shot.lead,
            str(shot.footage.start),
        ]

    clips = clip_sounds(timeline, stages)
    if clips:
        params["clips"] = [[s.keep, s.head] for s in timeline.segments]

    def run(ctx: NodeContext) -> None:
        if clips:
            paths = [ctx.inputs[node] / SOUND_FILE for node in clips]
            stages.audio.render_clips(timeline, paths, ctx.out_dir / AUDIO_FILE, ctx)
        elif effects:
            paths = [ctx.inputs[node] / EFFECTS_FILE for node in effects]
            stages.audio.mix(timeline, paths, ctx.out_dir / AUDIO_FILE, ctx)
        else:
            stages.audio.render(timeline, ctx.out_dir / AUDIO_FILE, ctx)

    files |= _speech_files(timeline)
    return stage_node(stages.audio, "audio", run, params, deps=effects + clips, files=files,
                      models=not effects)  # fmt: skip


def clip_sounds(timeline: Timeline, stages: Stages) -> tuple[str, ...]:
    """The segments whose sound an audio backend made of the clips' own (`from_clips`) reads;
    none for other backends. Only a video backend that makes sound can feed it."""
    if not getattr(stages.audio, "from_clips", False):
        return ()
    if not getattr(stages.video, "makes_sound", False):
        raise UserError(
            "audio", "native plays the clips' own sound, which only video=ltx2 makes; use "
            "audio=track or audio=mmaudio with this video backend",
        )  # fmt: skip
    if getattr(stages.video, "song_driven", False):
        raise UserError(
            "audio", "native would play the song's vocoded copy under the song itself "
            "(video.song_driven); use audio=track",
        )  # fmt: skip
    return tuple(segment.id for segment in timeline.segments)


def kept_audio(timeline: Timeline, stages: Stages) -> list[ShotPlan]:
    """Shots whose clip keeps its audio; only `audio=track` lays it under the soundtrack."""
    kept = [s for s in timeline.shots if s.footage and s.footage.keep_audio]
    if kept and not getattr(stages.audio, "keeps_footage_audio", False):
        key = f"job.shots[{kept[0].index}].keep_audio"
        raise UserError(key, "needs audio=track (the soundtrack with the clip's audio under it)")
    return kept
