"""Structured config schema: every key renga reads, typed, so a wrong type fails at compose time.

Backend groups (`keyframes`, `video`, `audio`, ...) each get a dataclass per backend; the YAML file
of a backend names its schema first in its defaults list. `_target_` names the class that does
the work, so the engine never imports a stage by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class ShotConfig:
    prompt: str = ""
    motion: str = ""
    seconds: float | None = None
    frames: int | None = None
    image: str | None = None
    seed: int | None = None


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


@dataclass
class DraftKeyframesConfig:
    _target_: str = "stages.keyframes.draft.DraftKeyframes"
    font_size: int = 0


@dataclass
class ImageKeyframesConfig:
    _target_: str = "stages.keyframes.images.ImageKeyframes"


@dataclass
class DraftVideoConfig:
    _target_: str = "stages.video.draft.DraftVideo"
    frames: int = 81
    fps: float = 16.0
    size_multiple: int = 16
    zoom: float = 0.08
    pan: float = 0.05


@dataclass
class NoStageConfig:
    _target_: str | None = None


@dataclass
class TrackAudioConfig:
    _target_: str = "stages.audio.track.SoundtrackAudio"
    rate: int = 48000
    channels: int = 2
    lufs: float | None = -14.0
    fade_in: float = 0.02
    fade_out: float = 0.5


@dataclass
class MuxConfig:
    _target_: str = "stages.mux.Muxer"
    codec: str = "libx264"
    container: str = "mp4"
    crf: int = 18
    preset: str = "veryfast"
    prores_profile: int = 3


@dataclass
class AssembleConfig:
    _target_: str = "stages.assemble.Assembler"
    overlap_frames: int = 0
    crossfade: str = "cosine"


@dataclass
class ContactSheetConfig:
    _target_: str = "stages.contact_sheet.ContactSheet"
    columns: int = 4
    thumb_width: int = 416


@dataclass
class LocalExecutorConfig:
    _target_: str = "orchestrator.executors.LocalExecutor"


@dataclass
class RengaConfig:
    job: JobConfig = field(default_factory=JobConfig)
    keyframes: Any = MISSING
    video: Any = MISSING
    audio: Any = MISSING
    lipsync: Any = MISSING
    interpolate: Any = MISSING
    mux: Any = MISSING
    executor: Any = MISSING
    assemble: AssembleConfig = field(default_factory=AssembleConfig)
    contact_sheet: ContactSheetConfig = field(default_factory=ContactSheetConfig)
    seed: int = 0
    mode: str = "video"
    cache_dir: str | None = None
    allow_download: bool = False


SCHEMAS: dict[str, dict[str, type]] = {
    "keyframes": {"draft": DraftKeyframesConfig, "images": ImageKeyframesConfig},
    "video": {"draft": DraftVideoConfig},
    "audio": {"none": NoStageConfig, "track": TrackAudioConfig},
    "lipsync": {"none": NoStageConfig},
    "interpolate": {"none": NoStageConfig},
    "mux": {"mux": MuxConfig},
    "executor": {"local": LocalExecutorConfig},
}


def register_configs() -> None:
    """Put the schema into Hydra's ConfigStore; group files extend `<group>/schema_<name>`."""
    cs = ConfigStore.instance()
    cs.store(name="renga_schema", node=RengaConfig)
    for group, schemas in SCHEMAS.items():
        for name, node in schemas.items():
            cs.store(group=group, name=f"schema_{name}", node=node)
