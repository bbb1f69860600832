"""Schema pieces shared by several groups."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class NoStageConfig:
    """A group option that turns its stage off (`audio=none`, `interpolate=none`, ...)."""

    _target_: str | None = None
