"""Segment nodes: a clip of the video model from its start (and end) frame."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.engine.context import NodeContext
from orchestrator.engine.graph import Node
from orchestrator.entries import CLIP_FILE, KEYFRAME_FILE, keyframe_id
from orchestrator.media.encode import LOSSLESS, write_video
from orchestrator.media.images import load_image
from orchestrator.media.video import read_frame, read_frames
from orchestrator.plan.timeline import SegmentPlan, Timeline
from orchestrator.render.nodes import stage_node
from orchestrator.render.stages import Stages
from orchestrator.stage import LATENTS_FILE, LatentContext, SegmentRequest


def segment_node(segment: SegmentPlan, timeline: Timeline, stages: Stages) -> Node:
    backend = stages.video
    default_negative = getattr(backend, "negative_prompt", None)
    speech, speech_at = _driving_sound(segment, timeline, backend)
    request = SegmentRequest(
        shot=segment.shot,
        index=segment.index,
        prompt=segment.prompt,
        negative_prompt=effective_negative(segment.negative_prompt, default_negative),
        width=timeline.width,
        height=timeline.height,
        num_frames=segment.num_frames,
        fps=timeline.fps,
        seed=segment.seed,
        motion_scale=segment.motion_scale,
        speech=speech,
        speech_at=speech_at,
    )
    asked = {**asdict(request), "fps": str(timeline.fps)}
    if request.motion_scale == 1.0:
        del asked["motion_scale"]
    # The speech's content is in the key (`files`), its path is not.
    del asked["speech"]
    if speech is None:
        del asked["speech_at"]
    if segment.start_segment is not None:
        start_id = timeline.segments[segment.start_segment].id
    else:
        assert segment.start_keyframe is not None
        start_id = keyframe_id(segment.start_keyframe)
    end_id = keyframe_id(segment.end_keyframe) if segment.end_keyframe is not None else None
    deps = (start_id,) if end_id is None or end_id == start_id else (start_id, end_id)
    params = {
        "backend": stages.params("video"),
        "request": asked,
        "start_frame": segment.start_frame,
        "ends_on_keyframe": end_id is not None,
    }
    # continuation=motion: a chained clip is conditioned on the last frames of the one before,
    # up to its start frame (fewer when that clip is shorter).
    context_from = None
    latent = backend.continuation == "latent"
    if latent:
        # Every clip's entry then also holds its latents, which a frame job's entry lacks.
        params["latents"] = True
        if segment.start_segment is not None:
            params["continuation"] = {"mode": "latent", "latents": backend.motion_latents}
    elif segment.start_segment is not None and backend.continuation != "frame":
        context_from = max(segment.start_frame + 1 - backend.motion_frames, 0)
        params["continuation"] = {
            "mode": backend.continuation,
            "frames": segment.start_frame + 1 - context_from,
        }
    root_id = None
    if latent and segment.start_segment is not None and backend.latent_anchor:
        root_id = keyframe_id(timeline.chain_root(segment))
        deps = tuple(dict.fromkeys((*deps, root_id)))
    anchor_id = None
    if segment.start_segment is not None and stages.assemble.corrects:
        anchor_id = keyframe_id(stages.assemble.anchor(timeline, segment))
        deps = tuple(dict.fromkeys((*deps, anchor_id)))
        params["color"] = stages.assemble.color_params()

    def run(ctx: NodeContext) -> None:
        if default_negative is not None:
            # run.json says which text the clip's CFG used (the key holds it too).
            ctx.metrics["negative_prompt"] = request.negative_prompt
        context = None
        handed = None
        if segment.start_segment is not None:
            clip = ctx.inputs[start_id] / CLIP_FILE
            if latent:
                root = keyframe_array(ctx.inputs[root_id]) if root_id else None
                handed = LatentContext(
                    ctx.inputs[start_id] / LATENTS_FILE, segment.start_frame, root
                )
            if context_from is None:
                start = read_frame(clip, segment.start_frame)
            else:
                context = list(read_frames(clip, context_from, segment.start_frame + 1))
                start = context[-1]
            if anchor_id is not None:
                anchor = keyframe_array(ctx.inputs[anchor_id])
                start = stages.assemble.correct_start(start, anchor)
                if context is not None:
                    context = [stages.assemble.correct_start(f, anchor) for f in context[:-1]]
                    context.append(start)
        else:
            start = keyframe_array(ctx.inputs[start_id])
        end = keyframe_array(ctx.inputs[end_id]) if end_id else None
        if handed is not None:
            frames = backend.generate(request, start, end, ctx, latents=handed)
        elif context is not None:
            frames = backend.generate(request, start, end, ctx, context=context)
        else:
            frames = backend.generate(request, start, end, ctx)
        write_video(
            ctx.out_dir / CLIP_FILE,
            _checked(frames, request),
            fps=timeline.fps,
            codec=LOSSLESS,
        )

    files = {"speech": speech} if speech is not None else {}
    return stage_node(
        backend, segment.id, run, params, stage="segment", deps=deps, files=files, models=True
    )


def _driving_sound(
    segment: SegmentPlan, timeline: Timeline, backend: Any
) -> tuple[Path | None, float]:
    """The sound a speech-driven backend's clip follows, and where in it (s) the clip starts:
    its shot's speech from the shot's start, else with `song_driven` the soundtrack where the
    clip plays in it; (None, 0) for other backends."""
    if not getattr(backend, "speech_driven", False):
        return None, 0.0
    shot = timeline.shots[segment.shot]
    start = timeline.clip_starts()[segment.number]
    if shot.speech is not None:
        return shot.speech, float((start - shot.start) / timeline.fps)
    if getattr(backend, "song_driven", False) and timeline.soundtrack is not None:
        return timeline.soundtrack, timeline.soundtrack_start + float(start / timeline.fps)
    return None, 0.0


def effective_negative(asked: str | None, default: str | None) -> str:
    """The job's or shot's negative prompt, or, where neither sets one, the backend's (the
    model authors' own); "" asked stays "": none."""
    if asked is not None:
        return asked
    return default or ""


def keyframe_array(entry: Path) -> np.ndarray:
    return np.asarray(load_image(entry / KEYFRAME_FILE))


def _checked(frames: Iterator[np.ndarray], request: SegmentRequest) -> Iterator[np.ndarray]:
    """Pass frames through, failing loudly if a backend yields the wrong shape or count."""
    shape = (request.height, request.width, 3)
    count = 0
    for frame in frames:
        if frame.shape != shape or frame.dtype != np.uint8:
            raise ValueError(f"backend yielded a {frame.dtype} frame of {frame.shape}, not {shape}")
        count += 1
        yield frame
    if count != request.num_frames:
        raise ValueError(f"backend yielded {count} frames, expected {request.num_frames}")
