"""Timeline -> node graph: which node feeds which, and how each node reads its inputs.

Backends come from the config (`_target_`); this module only wires them: keyframes feed
segments, segments chain or stand alone per the transition, then assemble, [interpolate],
audio and mux.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from orchestrator.engine.errors import UserError
from orchestrator.engine.graph import Graph, Node
from orchestrator.media import video as media
from orchestrator.media.metadata import portable
from orchestrator.plan import beats
from orchestrator.plan.footage import FOOTAGE_FILE, footage_node
from orchestrator.plan.job import SegmentPlan, ShotPlan, Timeline, derive_seed
from orchestrator.stage import KeyframeRequest, NodeContext, SegmentRequest

KEYFRAME_FILE = "keyframe.png"
CLIP_FILE = "clip.mkv"
VIDEO_FILE = "video.mkv"
AUDIO_FILE = "audio.wav"
EFFECTS_FILE = "effects.wav"
CONTACT_SHEET_FILE = "contact_sheet.png"


@dataclass
class Stages:
    """The configured backends of a run, built from their `_target_` without loading models."""

    cfg: DictConfig
    keyframes: Any
    video: Any
    audio: Any
    assemble: Any
    mux: Any
    contact_sheet: Any
    lipsync: Any = None
    interpolate: Any = None

    @classmethod
    def from_config(cls, cfg: DictConfig) -> Stages:
        return cls(
            cfg=cfg,
            keyframes=_build(cfg.keyframes),
            video=_build(cfg.video),
            audio=_build(cfg.audio),
            assemble=_build(cfg.assemble),
            mux=_build(cfg.mux),
            contact_sheet=_build(cfg.contact_sheet),
            lipsync=_build(cfg.lipsync),
            interpolate=_build(cfg.interpolate),
        )

    def params(self, group: str) -> dict[str, Any]:
        """The config a backend reads, minus settings that do not change its output."""
        values = OmegaConf.to_container(self.cfg[group], resolve=True)
        assert isinstance(values, dict)
        backend = getattr(self, group)
        for key in getattr(backend, "cache_exclude", ()):
            values.pop(key, None)
        return values

    def backends(self) -> list[Any]:
        backends = (
            self.keyframes,
            self.video,
            self.audio,
            self.assemble,
            self.lipsync,
            self.interpolate,
            self.mux,
        )
        return [b for b in backends if b is not None]


def output_timing(timeline: Timeline, stages: Stages) -> tuple[int, Fraction]:
    """Frames and rate of the final video: the assembled ones, or the interpolated ones."""
    if stages.interpolate is None or timeline.mode != "video":
        return timeline.frames, timeline.fps
    frames = stages.interpolate.output_frames(timeline.frames, timeline.loop != "none")
    return frames, timeline.fps * stages.interpolate.factor


def _build(section: DictConfig) -> Any:
    if section.get("_target_") is None:
        return None
    return instantiate(section, _convert_="all")


def job_metadata(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config that made a result: embedded in outputs, free of machine paths."""
    values = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(values, dict)
    for key in ("cache_dir", "executor"):
        values.pop(key, None)
    return portable(values)


def build_graph(timeline: Timeline, stages: Stages) -> Graph:
    graph = Graph()
    if timeline.music is not None and timeline.soundtrack is not None:
        graph.add(beats.beats_node(timeline.soundtrack, timeline.music.settings))
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
        if stages.interpolate is not None:
            video = graph.add(interpolate_node(timeline, stages, video)).id
        kept_audio(timeline, stages)
        if stages.audio is not None:
            effects = add_effects(graph, timeline, stages, video)
            graph.add(audio_node(timeline, stages, effects))
        graph.add(mux_node(timeline, stages, video))
    graph.assign_keys()
    return graph


def keyframe_id(shot: int) -> str:
    return f"keyframe/{shot}"


def candidate_id(shot: ShotPlan, candidate: int) -> str:
    """The picked candidate is the shot's keyframe; the others only reach the contact sheet."""
    if candidate == shot.pick:
        return keyframe_id(shot.index)
    return f"{keyframe_id(shot.index)}/candidate{candidate}"


def candidate_seed(shot: ShotPlan, candidate: int) -> int:
    """Candidate 0 is the shot's own seed, so asking for more candidates changes none of them."""
    return shot.seed if candidate == 0 else derive_seed(shot.seed, "candidate", candidate)


def candidate_node(shot: ShotPlan, timeline: Timeline, stages: Stages, candidate: int) -> Node:
    request = KeyframeRequest(
        shot=shot.index,
        shots=len(timeline.shots),
        prompt=shot.prompt,
        negative_prompt=shot.negative_prompt,
        width=timeline.width,
        height=timeline.height,
        seed=candidate_seed(shot, candidate),
        loras=tuple((lora.path, lora.scale) for lora in shot.loras),
    )
    return keyframe_node(
        stages.keyframes,
        stages.params("keyframes"),
        request,
        shot.image,
        node_id=candidate_id(shot, candidate),
        notes={"motion": shot.motion},
    )


def keyframe_node(
    backend: Any,
    backend_params: dict[str, Any],
    request: KeyframeRequest,
    image: Path | None,
    node_id: str | None = None,
    notes: dict[str, Any] | None = None,
) -> Node:
    """One keyframe; its PNG carries the node's params (and its image's path) for `reproduce`,
    and `notes` (the shot's video prompt) that do not change the picture."""
    params = {"backend": backend_params, "request": asdict(request)}
    if not request.loras:
        # Keys of keyframes without a cast stay what they were before casts existed.
        del params["request"]["loras"]
    files: dict[str, Path] = {"image": image} if image else {}
    # A LoRA file's content, not only its path, is part of the key.
    files |= {f"lora{i}": Path(path) for i, (path, _) in enumerate(request.loras)}

    def run(ctx: NodeContext) -> None:
        picture = media.load_image(image) if image else None
        result = backend.render(request, picture, ctx).convert("RGB")
        if result.size != (request.width, request.height):
            raise ValueError(f"backend returned {result.size}, expected the job size")
        embedded = {"node": ctx.node_id, **params}
        if notes:
            embedded["notes"] = notes
        if files:
            embedded["files"] = portable({k: str(v) for k, v in files.items()})
        meta = {"renga": json.dumps(embedded, sort_keys=True)}
        media.save_png(ctx.out_dir / KEYFRAME_FILE, result, meta)

    return Node(
        id=node_id or keyframe_id(request.shot),
        stage="keyframe",
        run=run,
        params=params,
        version=backend.version,
        files=files,
        group=backend.model_group,
    )


def segment_node(segment: SegmentPlan, timeline: Timeline, stages: Stages) -> Node:
    backend = stages.video
    request = SegmentRequest(
        shot=segment.shot,
        index=segment.index,
        prompt=segment.prompt,
        negative_prompt=segment.negative_prompt,
        width=timeline.width,
        height=timeline.height,
        num_frames=segment.num_frames,
        fps=timeline.fps,
        seed=segment.seed,
        motion_scale=segment.motion_scale,
    )
    asked = {**asdict(request), "fps": str(timeline.fps)}
    if request.motion_scale == 1.0:
        del asked["motion_scale"]
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
    anchor_id = None
    if segment.start_segment is not None and stages.assemble.corrects:
        anchor_id = keyframe_id(stages.assemble.anchor(timeline, segment))
        deps = tuple(dict.fromkeys((*deps, anchor_id)))
        params["color"] = stages.assemble.color_params()

    def run(ctx: NodeContext) -> None:
        if segment.start_segment is not None:
            start = media.read_frame(ctx.inputs[start_id] / CLIP_FILE, segment.start_frame)
            if anchor_id is not None:
                anchor = keyframe_array(ctx.inputs[anchor_id])
                start = stages.assemble.correct_start(start, anchor)
        else:
            start = keyframe_array(ctx.inputs[start_id])
        end = keyframe_array(ctx.inputs[end_id]) if end_id else None
        frames = backend.generate(request, start, end, ctx)
        media.write_video(
            ctx.out_dir / CLIP_FILE,
            _checked(frames, request),
            fps=timeline.fps,
            codec=media.LOSSLESS,
        )

    return Node(
        id=segment.id,
        stage="segment",
        run=run,
        params=params,
        version=backend.version,
        deps=deps,
        group=backend.model_group,
    )


def keyframe_array(entry: Path) -> np.ndarray:
    return np.asarray(media.load_image(entry / KEYFRAME_FILE))


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

    return Node(
        id="assemble",
        stage="assemble",
        run=run,
        params=params,
        version=stages.assemble.version,
        deps=deps,
    )


def _speech_files(timeline: Timeline) -> dict[str, Path]:
    files = {f"speech/{s.index}": s.speech for s in timeline.shots if s.speech is not None}
    if timeline.vocals is not None:
        files["vocals"] = timeline.vocals
    return files


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
                dubs[shot.start] = (media.probe_video(dub).frames, dub)
        frames = backend.splice(media.read_frames(ctx.inputs[source] / VIDEO_FILE), dubs)
        written = media.write_video(
            ctx.out_dir / VIDEO_FILE, frames, fps=timeline.fps, codec=media.LOSSLESS
        )
        ctx.metrics["dubbed_shots"] = sorted(dubs)
        ctx.metrics["frames"] = written

    graph.add(
        Node(
            id="dub",
            stage="dub",
            run=run,
            params={"shots": [s.index for s in shots]},
            version=backend.version,
            deps=(source, *ids),
        )
    )
    return "dub"


def _lipsync_node(shot: ShotPlan, timeline: Timeline, stages: Stages, source: str) -> Node:
    backend = stages.lipsync
    tool = backend.tool()
    start, seconds = float(shot.start / timeline.fps), float(shot.frames / timeline.fps)

    def run(ctx: NodeContext) -> None:
        frames = media.read_frames(
            ctx.inputs[source] / VIDEO_FILE, shot.start, shot.start + shot.frames
        )
        if shot.speech is not None:
            speech = media.read_audio(shot.speech, rate=tool.sample_rate, channels=1)
        else:
            assert timeline.vocals is not None
            speech = media.read_audio(
                timeline.vocals, rate=tool.sample_rate, channels=1, start=start, duration=seconds
            )
        backend.run(shot, frames, speech[0], timeline, ctx)

    return Node(
        id=f"lipsync/{shot.index}",
        stage="lipsync",
        run=run,
        params={
            "backend": stages.params("lipsync"),
            "shot": shot.index,
            "window": [shot.start, shot.frames, str(timeline.fps)],
        },
        version=backend.version,
        deps=(source,),
        files={"speech": shot.speech} if shot.speech else {"vocals": timeline.vocals},
        group=backend.model_group,
    )


def interpolate_node(timeline: Timeline, stages: Stages, source: str) -> Node:
    frames, fps = output_timing(timeline, stages)
    params = {
        "interpolate": stages.params("interpolate"),
        "loop": timeline.loop != "none",
        "frames": frames,
        "fps": str(fps),
    }

    def run(ctx: NodeContext) -> None:
        video = ctx.inputs[source] / VIDEO_FILE
        stages.interpolate.run(video, timeline.loop != "none", ctx.out_dir / VIDEO_FILE, ctx)

    return Node(
        id="interpolate",
        stage="interpolate",
        run=run,
        params=params,
        version=stages.interpolate.version,
        deps=(source,),
    )


def add_effects(graph: Graph, timeline: Timeline, stages: Stages, video: str) -> tuple[str, ...]:
    """For a video-to-audio backend: a node that converts its weights once, and one node per
    window of the final video (resumable one by one); nothing for other audio backends."""
    backend = stages.audio
    if not hasattr(backend, "effect_windows"):
        return ()
    weights = graph.add(
        Node(
            id="audio_weights",
            stage="audio_weights",
            run=lambda ctx: backend.convert_weights(ctx.out_dir, ctx),
            params=backend.weights_params(),
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
        media.write_audio(ctx.out_dir / EFFECTS_FILE, samples, window.rate)
        ctx.metrics["frames"] = window_frames(asdict(window), fps)

    return Node(
        id=f"effects/{window.index}",
        stage="effects",
        run=run,
        params={
            "backend": backend.effects_params(),
            "window": asdict(window),
            "prompt": prompt,
            "seed": seed,
        },
        version=backend.version,
        deps=(video, weights),
        group=backend.model_group,
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

    def run(ctx: NodeContext) -> None:
        if effects:
            paths = [ctx.inputs[node] / EFFECTS_FILE for node in effects]
            stages.audio.mix(timeline, paths, ctx.out_dir / AUDIO_FILE, ctx)
        else:
            stages.audio.render(timeline, ctx.out_dir / AUDIO_FILE, ctx)

    return Node(
        id="audio",
        stage="audio",
        run=run,
        params=params,
        version=stages.audio.version,
        deps=effects,
        files={**files, **_speech_files(timeline)},
        group=None if effects else stages.audio.model_group,
    )


def kept_audio(timeline: Timeline, stages: Stages) -> list[ShotPlan]:
    """Shots whose clip keeps its audio; only `audio=track` lays it under the soundtrack."""
    kept = [s for s in timeline.shots if s.footage and s.footage.keep_audio]
    if kept and not getattr(stages.audio, "keeps_footage_audio", False):
        key = f"job.shots[{kept[0].index}].keep_audio"
        raise UserError(key, "needs audio=track (the soundtrack with the clip's audio under it)")
    return kept


def mux_node(timeline: Timeline, stages: Stages, video: str) -> Node:
    metadata = job_metadata(stages.cfg)
    params = {"mux": stages.params("mux"), "metadata": metadata}
    has_audio = stages.audio is not None
    deps = (video, "audio") if has_audio else (video,)

    def run(ctx: NodeContext) -> None:
        audio = ctx.inputs["audio"] / AUDIO_FILE if has_audio else None
        stages.mux.run(ctx.inputs[video] / VIDEO_FILE, audio, timeline, metadata, ctx)

    return Node(
        id="mux",
        stage="mux",
        run=run,
        params=params,
        version=stages.mux.version,
        deps=deps,
    )


def contact_sheet_node(timeline: Timeline, stages: Stages, candidates: int) -> Node:
    shots = [timeline.shots[i] for i in timeline.keyframes]
    # A shot that continues the user's clip has one keyframe: the clip's last frame.
    ranges = [(s, range(1 if s.footage else candidates)) for s in shots]
    deps = tuple(candidate_id(s, k) for s, picks in ranges for k in picks)
    labels = [
        f"shot {s.index}" + (" (your clip)" if s.footage else "")
        if len(picks) == 1
        else f"shot {s.index} #{k}" + (" *" if k == s.pick else "")
        for s, picks in ranges
        for k in picks
    ]
    metadata = job_metadata(stages.cfg)

    def run(ctx: NodeContext) -> None:
        images = [media.load_image(ctx.inputs[d] / KEYFRAME_FILE) for d in deps]
        sheet = stages.contact_sheet.render(images, labels)
        embedded = {"renga": json.dumps({"renga": metadata}, sort_keys=True)}
        media.save_png(ctx.out_dir / CONTACT_SHEET_FILE, sheet, embedded)

    return Node(
        id="contact_sheet",
        stage="contact_sheet",
        run=run,
        params={"sheet": stages.params("contact_sheet"), "labels": labels, "metadata": metadata},
        version=stages.contact_sheet.version,
        deps=deps,
    )
