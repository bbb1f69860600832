"""Settings every diffusers-backed stage shares: where the weights are, and how they fit."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from orchestrator.schema.bounds import bounded


@dataclass
class LoraConfig:
    # A .safetensors LoRA as downloaded (diffusers, kohya, LightX2V and musubi keys all load).
    path: str = MISSING
    scale: float = bounded(1.0, -10, 10)
    # Wan 2.2 A14B: high (noisy steps, `transformer`) | low (`transformer_2`) | both.
    expert: str = "both"


@dataclass
class MemoryConfig:
    """What every diffusers stage starts from (`preset=low_vram` sets it); a stage's own key
    wins, and stages without a model (images, draft) ignore it."""

    # none | model | sequential (need a GPU) | group (block-wise, works everywhere)
    offload: str = "none"
    fp8: bool = False
    vae_tiling: bool = False


@dataclass
class ModelSettings:
    # A local diffusers folder, or a Hugging Face repo id already in the HF cache.
    model: str = MISSING
    # Optional single-file transformer (.safetensors / .gguf); its config comes from `model`.
    transformer: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    allow_download: bool = False
    loras: list[LoraConfig] = field(default_factory=list)
    # none | model | sequential (need a GPU) | group (block-wise, works everywhere)
    offload: str = "none"
    vae_tiling: bool = False
    fp8: bool = False
    attention: str | None = None
    compile: bool = False
    # none | first_block | taylorseer | magcache (what the model supports)
    step_cache: str = "none"
    cache_threshold: float | None = bounded(None, 0, 10)
    # magcache: one ratio per step, as the calibration run prints them.
    mag_ratios: list[float] = bounded(low=0, high=10, factory=list)
    # magcache: render without skipping and print the measured mag_ratios override
    # (mag_ratios, if set, are ignored for that run).
    mag_calibrate: bool = False
