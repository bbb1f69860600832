"""Structured config schema: every key renga reads, typed, so a wrong type fails at compose time.

Each backend group (`keyframes`, `video`, `audio`, ...) has a module here with `GROUP` and
`SCHEMAS` (one dataclass per backend); a backend's YAML names `schema_<name>` first in its
defaults list. `_target_` names the class that does the work, so the engine never imports a
stage by name. New group modules are found automatically.

May import: Hydra, OmegaConf and `engine.errors`; nothing else of renga.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from orchestrator.schema.assemble import AssembleConfig, ContactSheetConfig
from orchestrator.schema.bounds import MAX_SEED, bounded
from orchestrator.schema.job import JobConfig, ShotConfig
from orchestrator.schema.models import MemoryConfig

__all__ = ["JobConfig", "RengaConfig", "ShotConfig", "register_configs"]


@dataclass
class RengaConfig:
    job: JobConfig = field(default_factory=JobConfig)
    keyframes: Any = MISSING
    video: Any = MISSING
    audio: Any = MISSING
    lipsync: Any = MISSING
    upscale: Any = MISSING
    interpolate: Any = MISSING
    mux: Any = MISSING
    executor: Any = MISSING
    assemble: AssembleConfig = field(default_factory=AssembleConfig)
    contact_sheet: ContactSheetConfig = field(default_factory=ContactSheetConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    seed: int = bounded(0, 0, MAX_SEED)
    mode: str = "video"
    cache_dir: str | None = None
    allow_download: bool = False


def group_schemas() -> dict[str, dict[str, type]]:
    """`{group: {backend: dataclass}}` from every module in this package that declares a GROUP."""
    groups: dict[str, dict[str, type]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        group = getattr(module, "GROUP", None)
        if group is not None:
            groups.setdefault(group, {}).update(module.SCHEMAS)
    return groups


def register_configs() -> None:
    """Put the schema into Hydra's ConfigStore; group files extend `<group>/schema_<name>`."""
    cs = ConfigStore.instance()
    cs.store(name="renga_schema", node=RengaConfig)
    for group, schemas in group_schemas().items():
        for name, node in schemas.items():
            cs.store(group=group, name=f"schema_{name}", node=node)
