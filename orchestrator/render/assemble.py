"""The assemble node and the finishing nodes after it: upscale, interpolate."""

from __future__ import annotations

from orchestrator.engine.context import NodeContext
from orchestrator.engine.graph import Node
from orchestrator.entries import CLIP_FILE, FOOTAGE_FILE, KEYFRAME_FILE, VIDEO_FILE, keyframe_id
from orchestrator.plan.timeline import Timeline
from orchestrator.render.nodes import stage_node
from orchestrator.render.stages import Stages, output_timing


def assemble_node(timeline: Timeline, stages: Stages) -> Node:
    layout = [{"keep": s.keep, "head": s.head, "drop": list(s.drop)} for s in timeline.segments]
    params = {
        "assemble": stages.params("assemble"),
        "layout": layout,
        "loop": timeline.loop,
        "overlap": timeline.overlap,
        "fps": str(timeline.fps),
    }
    keyframes = {k: keyframe_id(k) for k in timeline.keyframes}
    deps = (*(s.id for s in timeline.segments), *keyframes.values())
    leads = {s.index: keyframe_id(s.index) for s in timeline.shots if s.lead}
    if leads:
        params["leads"] = {s.index: s.lead for s in timeline.shots if s.lead}

    def run(ctx: NodeContext) -> None:
        clips = [ctx.inputs[s.id] / CLIP_FILE for s in timeline.segments]
        images = {k: ctx.inputs[node] / KEYFRAME_FILE for k, node in keyframes.items()}
        footage = {k: ctx.inputs[node] / FOOTAGE_FILE for k, node in leads.items()}
        stages.assemble.run(clips, timeline, ctx.out_dir / VIDEO_FILE, ctx, images, footage)

    return stage_node(stages.assemble, "assemble", run, params, deps=deps)


def interpolate_node(timeline: Timeline, stages: Stages, source: str) -> Node:
    frames, fps = output_timing(timeline, stages)
    params = {
        "interpolate": stages.params("interpolate"),
        "loop": timeline.loop != "none",
        "frames": frames,
        "fps": str(fps),
    }
    # Where the in-betweens repeat a frame instead of blending two shots; in the key only when
    # there are any, so a video without cuts keeps its key.
    cuts = timeline.cuts
    if cuts:
        params["cuts"] = list(cuts)
    model = getattr(stages.interpolate, "model_file", None)
    files = {"model": model} if model is not None else None

    def run(ctx: NodeContext) -> None:
        video = ctx.inputs[source] / VIDEO_FILE
        loop = timeline.loop != "none"
        stages.interpolate.run(video, loop, ctx.out_dir / VIDEO_FILE, ctx, cuts)

    return stage_node(stages.interpolate, "interpolate", run, params, deps=(source,), files=files)


def upscale_node(timeline: Timeline, stages: Stages, source: str) -> Node:
    params = {
        "upscale": stages.params("upscale"),
        "size": list(stages.upscale.output_size(timeline.width, timeline.height)),
    }

    def run(ctx: NodeContext) -> None:
        stages.upscale.run(ctx.inputs[source] / VIDEO_FILE, ctx.out_dir / VIDEO_FILE, ctx)

    files = {"model": stages.upscale.model_file}
    return stage_node(stages.upscale, "upscale", run, params, deps=(source,), files=files)
