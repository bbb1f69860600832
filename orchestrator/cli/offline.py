"""No network unless the config allows downloads: the whole process goes offline for a run.

`local_files_only=True` is not enough. huggingface_hub builds request headers before it looks
in the cache, and building them fetches the agent-harness registry from huggingface.co
(`utils/_detect_agent.py`, once per process) unless HF_HUB_OFFLINE is set; the fetch fails
quietly, so nothing shows but a DNS lookup and a connection attempt. huggingface_hub reads
HF_HUB_OFFLINE once, at import, and diffusers copies it into three modules of its own; renga
imports none of them before the config is composed, so setting the variable then covers every
loader (diffusers, transformers, tokenizers, and the Ray workers this process starts). Values
of modules already imported (a second job of an in-process sweep, tests) are set too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from omegaconf import DictConfig, OmegaConf

# Every module that holds its own copy of huggingface_hub's offline switch.
HUB_MODULES = (
    "huggingface_hub.constants",
    "diffusers.utils.hub_utils",
    "diffusers.loaders.lora_base",
    "diffusers.models.attention_dispatch",
)
# HF_HUB_OFFLINE: the hub and everything built on it. RAY_USAGE_STATS_ENABLED: Ray's usage
# report, sent from a Ray this process starts.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
# Config groups whose backends may load weights (and so may set their own allow_download).
MODEL_GROUPS = ("keyframes", "video", "audio", "lipsync", "upscale", "interpolate")


def downloads_allowed(cfg: DictConfig) -> bool:
    """`allow_download=true` at the top, or in any stage's group (`keyframes.allow_download`)."""
    keys = ["allow_download", *(f"{group}.allow_download" for group in MODEL_GROUPS)]
    return any(OmegaConf.select(cfg, key, default=False) is True for key in keys)


@contextmanager
def network(allowed: bool) -> Iterator[None]:
    """Offline for the duration unless `allowed`; restored afterwards."""
    if allowed:
        yield
        return
    saved_env = {name: os.environ.get(name) for name in OFFLINE_ENV}
    saved_modules = {
        name: module.HF_HUB_OFFLINE
        for name in HUB_MODULES
        if (module := sys.modules.get(name)) is not None and hasattr(module, "HF_HUB_OFFLINE")
    }
    os.environ.update(OFFLINE_ENV)
    for name in saved_modules:
        sys.modules[name].HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        # Modules imported during the run read the switch while it was on: give them the
        # value they would have read from the environment now restored.
        restored = _env_offline()
        for name in HUB_MODULES:
            if (module := sys.modules.get(name)) is not None and hasattr(module, "HF_HUB_OFFLINE"):
                module.HF_HUB_OFFLINE = saved_modules.get(name, restored)


def _env_offline() -> bool:
    """huggingface_hub's own reading of the environment (constants.py)."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return (value or "").upper() in ("1", "ON", "YES", "TRUE")
