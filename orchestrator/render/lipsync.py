"""Lip-sync nodes per shot with speech, and the dub node that splices them in."""

from __future__ import annotations

from orchestrator.engine.context import NodeContext
from orchestrator.engine.graph import Graph, Node
from orchestrator.entries import VIDEO_FILE
from orchestrator.media.audio import read_audio
from orchestrator.media.encode import LOSSLESS, write_video
from orchestrator.media.video import probe_video, read_frames
from orchestrator.plan.timeline import ShotPlan, Timeline
from orchestrator.render.nodes import stage_node
from orchestrator.render.stages import Stages


def add_lipsync(graph: Graph, timeline: Timeline, stages: Stages, source: str) -> str:
    """A lip-sync node per shot with speech, and a node that splices their results in."""
    backend = stages.lipsync
    shots = [s for s in timeline.shots if s.speech is not None or timeline.vocals is not None]
    for shot in shots:
        graph.add(_lipsync_node(shot, timeline, stages, source))
    ids = tuple(f"lipsync/{shot.index}" for shot in shots)

    def run(ctx: NodeContext) -> None:
        dubs = {}
        for shot, node_id in zip(shots, ids, strict=True):
            dub = backend.dubbed(ctx.inputs[node_id])
            if dub is not None:
                dubs[shot.start] = (probe_video(dub).frames, dub)
        frames = backend.splice(read_frames(ctx.inputs[source] / VIDEO_FILE), dubs)
        written = write_video(ctx.out_dir / VIDEO_FILE, frames, fps=timeline.fps, codec=LOSSLESS)
        ctx.metrics["dubbed_shots"] = sorted(dubs)
        ctx.metrics["frames"] = written

    graph.add(
        stage_node(backend, "dub", run, {"shots": [s.index for s in shots]}, deps=(source, *ids))
    )
    return "dub"


def _lipsync_node(shot: ShotPlan, timeline: Timeline, stages: Stages, source: str) -> Node:
    backend = stages.lipsync
    tool = backend.tool()
    start, seconds = float(shot.start / timeline.fps), float(shot.frames / timeline.fps)

    def run(ctx: NodeContext) -> None:
        frames = read_frames(ctx.inputs[source] / VIDEO_FILE, shot.start, shot.start + shot.frames)
        if shot.speech is not None:
            speech = read_audio(shot.speech, rate=tool.sample_rate, channels=1)
        else:
            assert timeline.vocals is not None
            speech = read_audio(
                timeline.vocals, rate=tool.sample_rate, channels=1, start=start, duration=seconds
            )
        backend.run(shot, frames, speech[0], timeline, ctx)

    params = {
        "backend": stages.params("lipsync"),
        "shot": shot.index,
        "window": [shot.start, shot.frames, str(timeline.fps)],
    }
    files = {"speech": shot.speech} if shot.speech else {"vocals": timeline.vocals}
    node_id = f"lipsync/{shot.index}"
    return stage_node(
        backend, node_id, run, params, stage="lipsync", deps=(source,), files=files, models=True
    )
