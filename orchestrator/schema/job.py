"""The job: what to make (shots, size, rate, transitions, loop, soundtrack, music video cuts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.schema.bounds import MAX_SEED, bounded
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


# A shot or a music video window: an hour.
MAX_SECONDS = 3600.0
# A whole job: four hours (planning stays within seconds; a longer job is a typo or a batch).
MAX_JOB_SECONDS = 4 * 3600.0
# Frames a second (and the size) a video can have; more is a typo, not a video.
MAX_FPS = 240.0
MAX_SIZE = 8192
# Where a music video may start in its track, and section times: a day.
MAX_TRACK_SECONDS = 86400.0


@dataclass
class ShotConfig:
    prompt: str = ""
    motion: str = ""
    # What the shot sounds like, for a video-to-audio model (falls back to `motion`).
    sound: str = ""
    seconds: float | None = bounded(None, 0, MAX_SECONDS, open_low=True)
    frames: int | None = bounded(None, 1, int(MAX_SECONDS * MAX_FPS))
    image: str | None = None
    seed: int | None = bounded(None, 0, MAX_SEED)
    speech: str | None = None
    # Which of the keyframe backend's `candidates` animates (0-based).
    pick: int = bounded(0, 0, 63)
    # Your own footage: the shot continues this video from its last frame (see README).
    video: str | None = None
    include: bool = False
    trim: list[float] | None = bounded(None, 0, MAX_TRACK_SECONDS)
    keep_audio: bool = False
    # Who is in the shot: `mia`, `{mia: left}` or `{name: mia, position: left}` (see README).
    cast: list[Any] = field(default_factory=list)
    # Replaces the job's negative prompt for this shot (null: the job's; "": none).
    negative_prompt: str | None = None


@dataclass
class CutConfig:
    """Where a music video cuts: every `every` bars or beats, on the frame grid."""

    every: int = bounded(1, 1, 1024)
    unit: str = "bars"
    # Shots shorter than this (the lead-in before the first cut, say) merge into a neighbour.
    min_seconds: float = bounded(0.5, 0, MAX_SECONDS)


@dataclass
class SectionConfig:
    """A part of the song (track time in seconds) with its own prompt."""

    start: float = bounded(0.0, 0, MAX_TRACK_SECONDS)
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
    min_scale: float = bounded(0.5, 0, 100)
    max_scale: float = bounded(2.0, 0, 100)


@dataclass
class MusicConfig:
    """A music video: shots cut on the soundtrack's beats instead of given lengths."""

    enabled: bool = False
    start: float = bounded(0.0, 0, MAX_TRACK_SECONDS)
    max_seconds: float | None = bounded(None, 0, MAX_SECONDS, open_low=True)
    beats_per_bar: int = bounded(4, 1, 32)
    # beats: librosa's dynamic-programming tracker; plp: predominant local pulse (tempo moves).
    tracker: str = "beats"
    # The tempo if you know it; null: estimated.
    bpm: float | None = bounded(None, 20, 400)
    cut: CutConfig = field(default_factory=CutConfig)
    sections: list[SectionConfig] = field(default_factory=list)
    energy: EnergyConfig = field(default_factory=EnergyConfig)


@dataclass
class JobConfig:
    name: str = "untitled"
    width: int = bounded(832, 1, MAX_SIZE)
    height: int = bounded(480, 1, MAX_SIZE)
    fps: float | None = bounded(None, 0, MAX_FPS, open_low=True)
    style: str = ""
    # null: each video backend's authors' own (`video.negative_prompt`); "": none.
    negative_prompt: str | None = None
    transition: str = "cut"
    loop: str = "none"
    soundtrack: str | None = None
    vocals: str | None = None
    # Named characters the shots refer to (`shots[].cast`); see README "Casts and prompts".
    cast: dict[str, CharacterConfig] = field(default_factory=dict)
    shots: list[ShotConfig] = field(default_factory=list)
    # enabled: the shots' lengths come from the soundtrack's beats (`job=music_video`).
    music: MusicConfig = field(default_factory=MusicConfig)
