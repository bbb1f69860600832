"""The planned job: shots, segments, footage, music cuts; the types stages and render read."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ShotPlan:
    index: int
    prompt: str
    motion: str
    # None: not set by the job or the shot, so the backend's own applies.
    negative_prompt: str | None
    frames: int
    start: int
    image: Path | None
    seed: int
    speech: Path | None = None
    motion_scale: float = 1.0
    pick: int = 0
    sound: str = ""
    footage: Footage | None = None
    # The cast's LoRAs the keyframe loads on top of the backend's own.
    loras: tuple[Lora, ...] = ()

    @property
    def lead(self) -> int:
        """Frames of the user's own clip that open the shot (`include`), before new ones."""
        return self.footage.lead if self.footage else 0


@dataclass(frozen=True)
class SegmentPlan:
    """One clip of the video model.

    The clip's frames `[0, keep)` minus `drop` reach the output; the first `head` of those
    coincide with the previous segment's tail and are crossfaded (or, for a single shared
    frame, dropped).
    """

    number: int
    shot: int
    index: int
    prompt: str
    negative_prompt: str | None
    num_frames: int
    keep: int
    head: int
    drop: tuple[int, ...]
    start_keyframe: int | None
    start_segment: int | None
    start_frame: int
    end_keyframe: int | None
    seed: int
    motion_scale: float = 1.0

    @property
    def id(self) -> str:
        return f"segment/{self.shot}.{self.index}"

    @property
    def contributes(self) -> int:
        return self.keep - self.head - len(self.drop)


@dataclass(frozen=True)
class Timeline:
    mode: str
    width: int
    height: int
    fps: Fraction
    transition: str
    loop: str
    overlap: int
    crossfade: str
    shots: tuple[ShotPlan, ...]
    segments: tuple[SegmentPlan, ...]
    keyframes: tuple[int, ...]
    soundtrack: Path | None
    vocals: Path | None = None
    # Where in the soundtrack the video starts (a music video's window).
    soundtrack_start: float = 0.0
    music: MusicPlan | None = None
    # How a chained clip is handed the one before (`video.continuation`): frame | motion | latent.
    continuation: str = "frame"

    @property
    def forward_frames(self) -> int:
        return sum(shot.frames for shot in self.shots)

    @property
    def frames(self) -> int:
        """Frames in the assembled video (a ping-pong loop adds the way back)."""
        n = self.forward_frames
        return 2 * n - 2 if self.loop == "pingpong" and n > 2 else n

    @property
    def duration(self) -> float:
        return float(self.frames / self.fps)

    def joins(self, number: int) -> bool:
        """Whether segment `number` continues the picture of the one before (not a cut)."""
        segment = self.segments[number]
        if segment.start_segment is not None:
            return True
        previous = self.segments[number - 1]
        return previous.end_keyframe is not None and previous.end_keyframe == segment.start_keyframe

    @property
    def cuts(self) -> tuple[int, ...]:
        """The frames of the assembled video that follow a hard cut (frame i-1 and i belong to
        shots that do not join), the way back of a ping-pong loop included; what an
        interpolator must not blend across. `frames` itself stands for the loop's wrap from the
        last frame back to the first, when that crosses a cut."""
        starts = {s.shot: s.number for s in reversed(self.segments)}
        forward = [
            shot.start
            for shot in self.shots[1:]
            if shot.index in starts and not self.joins(starts[shot.index])
        ]
        if self.frames == self.forward_frames:
            return tuple(forward)
        # The way back plays forward frames n-2 .. 1: the cut before frame i comes after it.
        back = [2 * self.forward_frames - 1 - i for i in reversed(forward)]
        return (*forward, *back)

    def clip_starts(self) -> tuple[int, ...]:
        """The output frame each segment's clip frame 0 falls on, as the assembler lays clips
        out: after the shot's own included clip, its head over the tail of the video so far.
        Where a clip's sound (or the speech driving it) belongs in time."""
        starts, position = [], 0
        for segment in self.segments:
            if segment.index == 0:
                position += self.shots[segment.shot].lead
            starts.append(position - segment.head)
            position += segment.contributes
        return tuple(starts)

    def chain_root(self, segment: SegmentPlan) -> int:
        """The keyframe the chain of clips leading to `segment` started from."""
        while segment.start_segment is not None:
            segment = self.segments[segment.start_segment]
        assert segment.start_keyframe is not None
        return segment.start_keyframe


def derive_seed(seed: int, *identity: Any) -> int:
    """A 32-bit seed from the global seed and a node's identity, independent of other nodes."""
    text = "/".join(str(part) for part in (seed, *identity))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


@dataclass(frozen=True)
class Footage:
    """A user's clip as a shot uses it: the stretch [start, end) s, at the job's rate."""

    path: Path
    start: Fraction
    end: Fraction
    frames: int
    include: bool
    keep_audio: bool

    @property
    def lead(self) -> int:
        """Frames of the clip itself in the output, before the shot's new frames."""
        return self.frames if self.include else 0

    def times(self, fps: Fraction) -> list[Fraction]:
        """When each output frame is sampled: start + k / fps."""
        return [self.start + Fraction(k) / fps for k in range(self.frames)]


@dataclass(frozen=True)
class Cut:
    """One shot of the music video; `source` is the config key its prompt came from."""

    source: str
    frames: int
    prompt: str
    motion: str
    image: str | None
    seed: int | None
    energy: float
    motion_scale: float


@dataclass(frozen=True)
class MusicPlan:
    start: float
    frames: int
    cuts: tuple[Cut, ...]
    analysis: Analysis
    settings: dict[str, Any]


@dataclass(frozen=True)
class Analysis:
    """Times are seconds from the start of the track. The analysed audio runs from `offset`
    to `duration` (the track's end when the analysis reaches it); `onset` has one value in
    [0, 1] per video frame of it, from `offset`."""

    tempo: float
    beats: tuple[float, ...]
    downbeat: int
    beats_per_bar: int
    duration: float
    fps: str
    onset: tuple[float, ...]
    offset: float = 0.0

    @property
    def bars(self) -> tuple[float, ...]:
        return self.beats[self.downbeat :: self.beats_per_bar]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "bars": list(self.bars)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Analysis:
        fields = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


@dataclass(frozen=True)
class Lora:
    """A LoRA file as users download it; `expert` routes it to Wan's high/low-noise transformer."""

    path: str
    scale: float = 1.0
    expert: str = "both"
