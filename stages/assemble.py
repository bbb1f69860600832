"""Assemble segments into one video: correct colour drift, trim, drop or crossfade the frames
chained clips share, then add the way back for a ping-pong loop, measuring seams and drift on
the way. Frames stream; memory does not grow with length."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.encode import LOSSLESS, write_video
from orchestrator.media.images import load_image
from orchestrator.media.video import read_frame, read_frames, read_frames_reversed
from orchestrator.plan.timeline import SegmentPlan, Timeline
from stages import color
from stages.metrics import SeamMeter, delta_e, mean_lab

# A frame, the segment it belongs to (None: the user's own clip) and whether it is unblended.
Tagged = tuple[np.ndarray, int | None, bool]


def crossfade_weights(n: int, kind: str) -> np.ndarray:
    """Weights of the incoming clip over `n` shared frames, strictly between 0 and 1."""
    u = np.arange(1, n + 1) / (n + 1)
    return 0.5 - 0.5 * np.cos(math.pi * u) if kind == "cosine" else u


def drift_anchor(timeline: Timeline, segment: SegmentPlan) -> int:
    """The keyframe a segment's colours should match: the one it ends on, else its chain's."""
    return (
        segment.end_keyframe if segment.end_keyframe is not None else timeline.chain_root(segment)
    )


def fit_frame(timeline: Timeline, segment: SegmentPlan) -> int:
    """The clip frame a segment's correction is fitted on: the one the next clip starts from,
    where the two must agree, else its last kept frame."""
    following = timeline.segments[segment.number + 1 : segment.number + 2]
    if following and following[0].start_segment == segment.number:
        return following[0].start_frame
    return segment.keep - 1


# `color_match: auto` settles on this method, at the configured strength, when clips are chained
# from frames (continuation frame or motion): measured in bench/fidelity.py (README, "Seams,
# colour drift ...").
AUTO = "auto"
AUTO_METHOD = "mean_lab"
# Continuations that decode a frame and hand it to the model, where colour creeps.
DECODED = ("frame", "motion")


def auto_method(timeline: Timeline) -> str:
    """What `color_match: auto` means for a planned job: the chosen method when some clip is
    chained from the frames of the one before (`frame`, `motion`); `none` when clips hand over
    latents (no decode and re-encode at the seam, where the drift comes from) or nothing is
    chained (every clip starts from its own keyframe: nothing can drift)."""
    chained = any(s.start_segment is not None for s in timeline.segments)
    return AUTO_METHOD if chained and timeline.continuation in DECODED else "none"


class Assembler:
    version = "2"
    model_group = None

    def __init__(
        self,
        overlap_frames: int = 0,
        crossfade: str = "cosine",
        color_match: str = "none",
        color_strength: float = 1.0,
        color_reference: str = "shot_keyframe",
    ) -> None:
        self.overlap_frames = overlap_frames
        self.crossfade = crossfade
        self.color_match = color_match
        self.color_strength = color_strength
        self.color_reference = color_reference

    def validate(self, timeline: Timeline) -> None:
        if self.color_match not in (AUTO, *color.METHODS):
            raise UserError("assemble.color_match", f"unknown value {self.color_match!r}; "
                            f"expected one of {', '.join((AUTO, *color.METHODS))}")  # fmt: skip
        if self.color_reference not in color.REFERENCES:
            raise UserError("assemble.color_reference", f"unknown value {self.color_reference!r}; "
                            f"expected one of {', '.join(color.REFERENCES)}")  # fmt: skip
        if not 0.0 <= self.color_strength <= 1.0:
            raise UserError(
                "assemble.color_strength", f"must be between 0 and 1, got {self.color_strength}"
            )

    def settled(self, timeline: Timeline) -> dict[str, Any]:
        """The config values `auto` stands for in this job (`render.stages.Stages.settle` writes
        them into the config before any node key is made); an explicit value is kept."""
        return {"color_match": auto_method(timeline)} if self.color_match == AUTO else {}

    @property
    def corrects(self) -> bool:
        if self.color_match == AUTO:
            raise RuntimeError("assemble.color_match=auto must be settled against the plan first")
        return self.color_match != "none" and self.color_strength > 0

    def color_params(self) -> dict[str, Any]:
        return {
            "method": self.color_match,
            "strength": self.color_strength,
            "reference": self.color_reference,
        }

    def anchor(self, timeline: Timeline, segment: SegmentPlan) -> int:
        """The keyframe whose colours `segment` is corrected toward. Not the keyframe it may end
        on: its start frame, which is corrected too, still looks like where its chain began."""
        if self.color_reference == "first_keyframe":
            return timeline.chain_root(timeline.segments[0])
        return timeline.chain_root(segment)

    def correct_start(self, frame: np.ndarray, anchor: np.ndarray) -> np.ndarray:
        """The frame that conditions the next clip, matched to the anchor so drift cannot
        compound from clip to clip."""
        if not self.corrects:
            return frame
        method = self.color_match
        transform = color.fit(method, color.stats_of(frame, method), color.stats_of(anchor, method))
        return transform.toward(self.color_strength).apply(frame)

    def run(
        self,
        clips: Sequence[Path],
        timeline: Timeline,
        out: Path,
        ctx: NodeContext,
        keyframes: Mapping[int, Path],
        footage: Mapping[int, Path] | None = None,
    ) -> None:
        """`footage`: per shot, the fitted clip of the user's that opens it (`include`)."""
        total = timeline.frames
        progress = lambda n: ctx.steps(n, total)  # noqa: E731
        images = {k: np.asarray(load_image(path)) for k, path in keyframes.items()}
        meter = SeamMeter(len(timeline.segments))
        forward = _measured(self.frames(clips, timeline, images, footage), meter)
        if timeline.loop == "pingpong" and timeline.frames != timeline.forward_frames:
            there = out.with_name(".forward.mkv")
            write_video(there, forward, fps=timeline.fps, codec=LOSSLESS)
            back = islice(read_frames_reversed(there), 1, timeline.forward_frames - 1)
            frames: Iterator[np.ndarray] = chain(read_frames(there), back)
            written = write_video(out, frames, fps=timeline.fps, codec=LOSSLESS, progress=progress)
            there.unlink()
        else:
            written = write_video(out, forward, fps=timeline.fps, codec=LOSSLESS, progress=progress)
        if written != total:
            raise ValueError(f"assembled {written} frames, the plan says {total}")
        ctx.metrics.update(self._metrics(meter, timeline, images))
        ctx.metrics["frames"] = written

    def frames(
        self,
        clips: Sequence[Path],
        timeline: Timeline,
        keyframes: Mapping[int, np.ndarray],
        footage: Mapping[int, Path] | None = None,
    ) -> Iterator[Tagged]:
        """The forward video, each frame tagged with its segment and whether it is a crossfade:
        each clip's kept frames, colour-corrected, shared frames crossfaded or dropped. A
        shot's included clip plays as it is before its first segment, whose first frame (the
        clip's last, already shown) is dropped."""
        footage = footage or {}
        overlap = timeline.overlap
        weights = crossfade_weights(overlap, timeline.crossfade)
        segments = timeline.segments
        # Frames not yet emitted: the next chained clip's head crossfades over them. They are
        # the last `overlap` frames of the video so far, even when the clip before contributed
        # fewer than that, so they always line up in time with the head.
        pending: deque[Tagged] = deque()
        for k, (clip, segment) in enumerate(zip(clips, segments, strict=True)):
            following = segments[k + 1] if k + 1 < len(segments) else None
            hold = overlap if following is not None and following.start_segment is not None else 0
            lead = footage.get(segment.shot) if segment.index == 0 else None
            if lead is not None:
                yield from pending
                pending.clear()
                yield from ((frame, None, True) for frame in read_frames(lead))
            # A head longer than the overlap (a latent handover starts on a 4-frame boundary)
            # first repeats frames already out: those are dropped.
            skip = max(segment.head - overlap, 0)
            for i, frame in enumerate(self._kept(clip, segment, timeline, keyframes)):
                if i < segment.head:
                    if overlap and lead is None and i >= skip:
                        w = weights[i - skip]
                        before = pending[i - skip][0].astype(np.float32)
                        mixed = np.clip((1 - w) * before + w * frame + 0.5, 0, 255)
                        pending[i - skip] = (mixed.astype(np.uint8), k, False)
                    continue
                pending.append((frame, k, True))
                while len(pending) > hold:
                    yield pending.popleft()
            while len(pending) > hold:
                yield pending.popleft()
        yield from pending

    def _kept(
        self,
        clip: Path,
        segment: SegmentPlan,
        timeline: Timeline,
        keyframes: Mapping[int, np.ndarray],
    ) -> Iterator[np.ndarray]:
        """A clip's frames that reach the output, corrected.

        Every clip starts from a frame already matched to its anchor (a keyframe, or a chained
        start frame corrected before the model saw it). The correction is fitted once, on the
        frame the next clip starts from (else the last), and ramps in from nothing at the first
        frame to full there, so the two clips meet on the same corrected frame: no jump."""
        drop = set(segment.drop)
        at = fit_frame(timeline, segment)
        transform = self._fit(clip, segment, at, timeline, keyframes)
        for i, frame in enumerate(read_frames(clip, 0, segment.keep)):
            if i not in drop:
                yield transform.toward(self.color_strength * i / max(at, 1)).apply(frame)

    def _fit(
        self,
        clip: Path,
        segment: SegmentPlan,
        at: int,
        timeline: Timeline,
        keyframes: Mapping[int, np.ndarray],
    ) -> color.Transform:
        if not self.corrects or segment.end_keyframe is not None:
            # A clip that ends on a keyframe is landed on it by the model: nothing to correct.
            return color.Transform.identity()
        method = self.color_match
        source = color.stats_of(read_frame(clip, at), method)
        reference = color.stats_of(keyframes[self.anchor(timeline, segment)], method)
        return color.fit(method, source, reference)

    def _metrics(
        self, meter: SeamMeter, timeline: Timeline, keyframes: Mapping[int, np.ndarray]
    ) -> dict[str, Any]:
        last = meter.finish()
        segments = timeline.segments
        seams = []
        for k in range(1, len(segments)):
            if k in meter.seams and timeline.joins(k):
                frame, jump = meter.seam_ratio(k)
                seams.append(
                    {
                        "segment": segments[k].id,
                        "frame": frame,
                        "jump": jump,
                        "motion": meter.motion.ratio(k),
                    }
                )
        anchors = {k: mean_lab(image) for k, image in keyframes.items()}
        drift = [
            {
                "segment": s.id,
                "anchor": drift_anchor(timeline, s),
                "delta_e": round(
                    delta_e(meter.end_lab[s.number], anchors[drift_anchor(timeline, s)]), 3
                ),
            }
            for s in segments
            if s.number in meter.end_lab
        ]
        metrics: dict[str, Any] = {"seams": seams, "drift": drift}
        jumps = [s["jump"] for s in seams if s["jump"] is not None]
        if jumps:
            metrics["seam_jump_mean"] = round(float(np.mean(jumps)), 3)
            metrics["seam_jump_max"] = round(max(jumps), 3)
        motions = [s["motion"] for s in seams if s["motion"] is not None]
        if motions:
            metrics["seam_motion_mean"] = round(float(np.mean(motions)), 3)
            metrics["seam_motion_max"] = round(max(motions), 3)
        if drift:
            metrics["drift_end"] = drift[-1]["delta_e"]
            metrics["drift_max"] = max(d["delta_e"] for d in drift)
        if timeline.loop != "none" and last is not None and meter.first is not None:
            if timeline.loop == "pingpong" and meter.second is not None:
                loop = meter.loop_ratio(meter.second, meter.first, (0, 0))
            else:
                loop = meter.loop_ratio(last, meter.first, (len(segments) - 1, 0))
            metrics["loop_seam"] = loop
        metrics["summary"] = _summary(metrics)
        return metrics


def _measured(frames: Iterator[Tagged], meter: SeamMeter) -> Iterator[np.ndarray]:
    """Seams and drift are measured on generated frames; the user's own clip passes by."""
    for frame, label, pure in frames:
        if label is not None:
            meter.add(frame, label, pure)
        yield frame


def _summary(metrics: dict[str, Any]) -> dict[str, str]:
    """Lines for the run summary."""
    lines = {}
    if "seam_jump_max" in metrics:
        count = len(metrics["seams"])
        line = (
            f"{count} join{'' if count == 1 else 's'}, jump ratio mean "
            f"{metrics['seam_jump_mean']:.2f} max {metrics['seam_jump_max']:.2f}"
        )
        if "seam_motion_max" in metrics:
            line += (
                f", motion ratio mean {metrics['seam_motion_mean']:.2f} "
                f"max {metrics['seam_motion_max']:.2f}"
            )
        lines["seams"] = line + " (1: like inside a clip)"
    if "drift_end" in metrics:
        lines["colour drift"] = (
            f"end dE {metrics['drift_end']:.2f}, max {metrics['drift_max']:.2f} "
            "vs the anchor keyframe (under 2: hard to see)"
        )
    if metrics.get("loop_seam") is not None:
        lines["loop seam"] = f"jump ratio {metrics['loop_seam']:.2f}"
    return lines
