"""The job: what to make (shots, size, rate, transitions, loop, soundtrack, music video cuts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.schema.models import LoraConfig


@dataclass
class CharacterConfig:
    """A person (or prop, or place) that recurs across shots: how every shot describes it."""

    # Who, in a few words ("a girl"); the list item starts with it.
    description: str = ""
    # What keeps them recognisable ("very short brown hair, red scarf"), after `--`.
    details: str = ""
    # Where they stand unless a shot says otherwise: left, right, centre, or your own words.
    position: str = ""
    # A reference picture: img2img start for shots where they are alone and centred.
    image: str | None = None
    loras: list[LoraConfig] = field(default_factory=list)


@dataclass
class ShotConfig:
    prompt: str = ""
    motion: str = ""
    # What the shot sounds like, for a video-to-audio model (falls back to `motion`).
    sound: str = ""
    seconds: float | None = None
    frames: int | None = None
    image: str | None = None
    seed: int | None = None
    speech: str | None = None
    # Which of the keyframe backend's `candidates` animates (0-based).
    pick: int = 0
    # Your own footage: the shot continues this video from its last frame (see README).
    video: str | None = None
    include: bool = False
    trim: list[float] | None = None
    keep_audio: bool = False
    # Who is in the shot: `mia`, `{mia: left}` or `{name: mia, position: left}` (see README).
    cast: list[Any] = field(default_factory=list)


@dataclass
class CutConfig:
    """Where a music video cuts: every `every` bars or beats, on the frame grid."""

    every: int = 1
    unit: str = "bars"
    # Shots shorter than this (the lead-in before the first cut, say) merge into a neighbour.
    min_seconds: float = 0.5


@dataclass
class SectionConfig:
    """A part of the song (track time in seconds) with its own prompt."""

    start: float = 0.0
    prompt: str = ""
    motion: str = ""
    image: str | None = None


@dataclass
class EnergyConfig:
    """Motion that follows the music: the onset envelope over a shot picks a motion phrase for
    the video prompt and scales the motion of backends that take a scale (the draft zoom)."""

    enabled: bool = False
    phrases: list[str] = field(
        default_factory=lambda: [
            "slow, gentle camera movement",
            "steady camera movement",
            "fast, energetic camera movement",
        ]
    )
    min_scale: float = 0.5
    max_scale: float = 2.0


@dataclass
class MusicConfig:
    """A music video: shots cut on the soundtrack's beats instead of given lengths."""

    enabled: bool = False
    start: float = 0.0
    max_seconds: float | None = None
    beats_per_bar: int = 4
    # beats: librosa's dynamic-programming tracker; plp: predominant local pulse (tempo moves).
    tracker: str = "beats"
    # The tempo if you know it; null: estimated.
    bpm: float | None = None
    cut: CutConfig = field(default_factory=CutConfig)
    sections: list[SectionConfig] = field(default_factory=list)
    energy: EnergyConfig = field(default_factory=EnergyConfig)


@dataclass
class JobConfig:
    name: str = "untitled"
    width: int = 832
    height: int = 480
    fps: float | None = None
    style: str = ""
    negative_prompt: str = ""
    transition: str = "cut"
    loop: str = "none"
    soundtrack: str | None = None
    vocals: str | None = None
    # Named characters the shots refer to (`shots[].cast`); see README "Casts and prompts".
    cast: dict[str, CharacterConfig] = field(default_factory=dict)
    shots: list[ShotConfig] = field(default_factory=list)
    # enabled: the shots' lengths come from the soundtrack's beats (`job=music_video`).
    music: MusicConfig = field(default_factory=MusicConfig)
