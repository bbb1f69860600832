"""Timeline -> node graph: which node feeds which, and how each node reads its inputs.

Backends come from the config (`_target_`); this module only wires them: keyframes feed
segments, segments chain or stand alone per the transition, then assemble, [lipsync],
[upscale], [interpolate], audio and mux.
"""

from __future__ import annotations

from orchestrator.engine.errors import UserError
from orchestrator.engine.graph import Graph
from orchestrator.entries import KEYFRAME_FILE, keyframe_id
from orchestrator.plan.timeline import Timeline
from orchestrator.render.assemble import assemble_node, interpolate_node, upscale_node
from orchestrator.render.audio import add_effects, audio_node, kept_audio
from orchestrator.render.beats import beats_node
from orchestrator.render.footage import footage_node
from orchestrator.render.keyframes import candidate_node, contact_sheet_node
from orchestrator.render.lipsync import add_lipsync
from orchestrator.render.mux import mux_node
from orchestrator.render.segments import segment_node
from orchestrator.render.stages import Stages


def build_graph(timeline: Timeline, stages: Stages) -> Graph:
    # Before any node reads the config: `auto` values become what will run.
    stages.settle(timeline)
    graph = Graph()
    if timeline.music is not None and timeline.soundtrack is not None:
        graph.add(beats_node(timeline.soundtrack, timeline.music.settings))
    candidates = getattr(stages.keyframes, "candidates", 1)
    for shot in timeline.shots:
        if shot.index in timeline.keyframes and shot.footage is not None:
            size = (timeline.width, timeline.height)
            node_id = keyframe_id(shot.index)
            graph.add(footage_node(node_id, shot.footage, *size, timeline.fps, KEYFRAME_FILE))
        elif shot.index in timeline.keyframes:
            if shot.pick >= candidates:
                raise UserError(
                    f"job.shots[{shot.index}].pick",
                    f"is {shot.pick} but keyframes.candidates is {candidates} (picks count from 0)",
                )
            for candidate in range(candidates):
                graph.add(candidate_node(shot, timeline, stages, candidate))
    if timeline.mode == "stills" or candidates > 1:
        graph.add(contact_sheet_node(timeline, stages, candidates))
    if timeline.mode != "stills":
        for segment in timeline.segments:
            graph.add(segment_node(segment, timeline, stages))
        graph.add(assemble_node(timeline, stages))
        video = "assemble"
        if stages.lipsync is not None and stages.lipsync.wants(timeline):
            video = add_lipsync(graph, timeline, stages, video)
        if stages.upscale is not None:
            video = graph.add(upscale_node(timeline, stages, video)).id
        if stages.interpolate is not None:
            video = graph.add(interpolate_node(timeline, stages, video)).id
        kept_audio(timeline, stages)
        if stages.audio is not None:
            effects = add_effects(graph, timeline, stages, video)
            graph.add(audio_node(timeline, stages, effects))
        graph.add(mux_node(timeline, stages, video))
    graph.assign_keys()
    return graph
