"""What a diffusers pipeline is built from (`PipelineSpec`: model, single files, LoRAs, memory
and speed settings) and the plan-time checks of those settings."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.engine.errors import UserError
from orchestrator.plan.timeline import Lora

OFFLOADS = ("none", "model", "sequential", "group")
STEP_CACHES = ("none", "first_block", "taylorseer", "magcache")
EXPERTS = ("high", "low", "both")
DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16"}
DTYPES |= {"fp32": "float32", "float32": "float32"}
SINGLE_FILE_SUFFIXES = (".safetensors", ".gguf")


@dataclass(frozen=True)
class Runtime:
    """Memory and speed settings: none of them changes what a model computes, only how."""

    offload: str = "none"
    vae_tiling: bool = False
    fp8: bool = False
    attention: str | None = None
    compile: bool = False
    step_cache: str = "none"
    cache_threshold: float | None = None
    mag_ratios: tuple[float, ...] = ()
    # Render without skipping and measure the ratios (MagCache's calibration run).
    mag_calibrate: bool = False
    # How many of the run's steps each denoiser takes, in order (each counts its own from 0).
    mag_steps: tuple[int, ...] = ()


# Settings that never change a result; backends leave them out of cache keys.
RUNTIME_KEYS = ("offload", "vae_tiling", "fp8", "attention", "compile", "device")
RUNTIME_KEYS += ("allow_download",)


@dataclass(frozen=True)
class PipelineSpec:
    """Everything needed to build one pipeline; its repr names the model in the pool."""

    pipeline: str
    source: str
    key: str
    dtype: str = "auto"
    device: str = "auto"
    allow_download: bool = False
    single_files: tuple[tuple[str, str, str], ...] = ()
    single_file_config: str | None = None
    runtime: Runtime = field(default_factory=Runtime)
    loras: tuple[Lora, ...] = ()
    denoisers: tuple[str, ...] = ("transformer",)
    step_caches: tuple[str, ...] = ("none",)


def resolve_device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        return torch.bfloat16 if device != "cpu" else torch.float32
    return getattr(torch, DTYPES[name])


def check_runtime(runtime: Runtime, device: str, step_caches: Sequence[str], prefix: str) -> None:
    """Plan time: reject settings this machine or this model cannot honour."""
    _one_of(runtime.offload, OFFLOADS, f"{prefix}.offload")
    if runtime.offload in ("model", "sequential") and resolve_device(device) == "cpu":
        raise UserError(
            f"{prefix}.offload",
            f"{runtime.offload} offload moves weights to an accelerator and none was found; "
            "use offload=group or offload=none on CPU",
        )
    _one_of(runtime.step_cache, STEP_CACHES, f"{prefix}.step_cache")
    if runtime.step_cache not in step_caches:
        raise UserError(
            f"{prefix}.step_cache",
            f"{runtime.step_cache} is not supported by this model; use one of "
            f"{', '.join(step_caches)}",
        )
    if runtime.mag_calibrate and runtime.step_cache != "magcache":
        raise UserError(
            f"{prefix}.mag_calibrate",
            f"calibration measures MagCache's ratios; set {prefix}.step_cache=magcache too",
        )
    if runtime.step_cache == "magcache" and not runtime.mag_ratios and not runtime.mag_calibrate:
        raise UserError(
            f"{prefix}.mag_ratios",
            "magcache needs this model's magnitude ratios; measure them with one render with "
            f"{prefix}.step_cache=magcache {prefix}.mag_calibrate=true and paste the "
            f"{prefix}.mag_ratios=[...] line it prints",
        )
    if runtime.attention:
        from diffusers.models.attention_dispatch import AttentionBackendName

        _one_of(runtime.attention, [b.value for b in AttentionBackendName], f"{prefix}.attention")


def check_loras(loras: Sequence[Lora], keys: Sequence[str], experts: bool) -> None:
    """Each LoRA's file and expert, named by its config key (`video.loras[0]`)."""
    for lora, key in zip(loras, keys, strict=True):
        check = Path(os.path.expanduser(lora.path))
        if not check.is_file():
            raise UserError(f"{key}.path", f"file not found: {check.absolute()}")
        _one_of(lora.expert, EXPERTS, f"{key}.expert")
        if not experts and lora.expert != "both":
            raise UserError(f"{key}.expert", "this model has one transformer; use expert=both")


def _one_of(value: str, allowed: Sequence[str], key: str) -> None:
    if value not in allowed:
        raise UserError(key, f"unknown value {value!r}; expected one of {', '.join(allowed)}")
