"""The configured backends of a run (built from each group's `_target_`, loading nothing), the
config each reads, and the job config embedded in outputs (`job_metadata`, machine paths out,
sample assets as `${asset:...}`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from orchestrator.config import ASSETS_DIR
from orchestrator.plan.timeline import Timeline

# The groups whose backends may settle a value from the plan (`Stages.settle`).
GROUPS = ("keyframes", "video", "audio", "assemble", "lipsync", "upscale", "interpolate", "mux")


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
    upscale: Any = None
    interpolate: Any = None
    # `{"assemble.color_match": ("auto", "mean_lab")}`: values `settle` decided from the plan.
    settled: dict[str, tuple[Any, Any]] = field(default_factory=dict)

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
            upscale=_build(cfg.upscale),
            interpolate=_build(cfg.interpolate),
        )

    def settle(self, timeline: Timeline) -> None:
        """Write the values a backend decides from the plan (`assemble.color_match: auto`) into
        the config and rebuild the backend from it, so node keys, params and the config embedded
        in outputs hold what runs: `auto` and the value it stands for give the same keys and
        bytes. Idempotent: a settled value is no longer `auto`."""
        for group in GROUPS:
            backend = getattr(self, group)
            values = getattr(backend, "settled", lambda _: {})(timeline)
            if not values:
                continue
            for key, value in values.items():
                self.settled[f"{group}.{key}"] = (self.cfg[group][key], value)
                self.cfg[group][key] = value
            setattr(self, group, _build(self.cfg[group]))

    def params(self, group: str) -> dict[str, Any]:
        """The config a backend reads, minus settings that do not change its output."""
        values = OmegaConf.to_container(self.cfg[group], resolve=True)
        assert isinstance(values, dict)
        backend = getattr(self, group)
        for key in getattr(backend, "cache_exclude", ()):
            values.pop(key, None)
        # Options a backend gained later leave its keys as they were while at their default.
        for key, default in getattr(backend, "key_defaults", {}).items():
            if key in values and values[key] == default:
                del values[key]
        return values

    def backends(self) -> list[Any]:
        backends = (
            self.keyframes,
            self.video,
            self.audio,
            self.assemble,
            self.lipsync,
            self.upscale,
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


def output_size(timeline: Timeline, stages: Stages) -> tuple[int, int]:
    """Width and height of the final video: the planned ones, or the upscaled ones."""
    if stages.upscale is None or timeline.mode != "video":
        return timeline.width, timeline.height
    return stages.upscale.output_size(timeline.width, timeline.height)


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


def portable(value: Any) -> Any:
    """Sample-asset paths back to `${asset:...}`, so an embedded config works on any install."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str):
        root = f"{ASSETS_DIR}{os.sep}"
        if value.startswith(root):
            return "${asset:" + value[len(root) :] + "}"
    return value
