"""The mux node: the final video and the audio track into the published file, with the job's
config embedded."""

from __future__ import annotations

from orchestrator.engine.context import NodeContext
from orchestrator.engine.graph import Node
from orchestrator.entries import AUDIO_FILE, VIDEO_FILE
from orchestrator.plan.timeline import Timeline
from orchestrator.render.nodes import stage_node
from orchestrator.render.stages import Stages, job_metadata


def mux_node(timeline: Timeline, stages: Stages, video: str) -> Node:
    metadata = job_metadata(stages.cfg)
    params = {"mux": stages.params("mux"), "metadata": metadata}
    has_audio = stages.audio is not None
    deps = (video, "audio") if has_audio else (video,)

    def run(ctx: NodeContext) -> None:
        audio = ctx.inputs["audio"] / AUDIO_FILE if has_audio else None
        stages.mux.run(ctx.inputs[video] / VIDEO_FILE, audio, timeline, metadata, ctx)

    return stage_node(stages.mux, "mux", run, params, deps=deps)
