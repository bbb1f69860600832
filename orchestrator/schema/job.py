"""The job: what to make (shots, size, rate, transitions, loop, soundtrack)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ShotConfig:
    prompt: str = ""
    motion: str = ""
    seconds: float | None = None
    frames: int | None = None
    image: str | None = None
    seed: int | None = None
    # Which of the keyframe backend's `candidates` animates (0-based).
    pick: int = 0


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
    shots: list[ShotConfig] = field(default_factory=list)
