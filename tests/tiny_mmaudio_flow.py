"""A tiny MMAudio flow network config and a writer of `.pth` files in the OFFICIAL layout.

The key table below is written from the documented upstream module layout (reference
audio.md §1.6; hkchengrex/MMAudio networks.py, transformer_layers.py, low_level.py), not by
running our converter in reverse, so a naming slip in our module shows up as a strict-load
failure. Values are seeded random numbers: the network's output is noise, its plumbing real.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import torch

from stages.audio.mmaudio.variants import NetworkConfig, SequenceConfig

TINY_FLOW = NetworkConfig(
    latent_dim=8,
    hidden_dim=64,
    depth=3,
    fused_depth=1,
    num_heads=2,
    clip_dim=32,
    sync_dim=16,
    text_dim=24,
    text_len=7,
)
# 1 s at 16 kHz with hop 256: latent 32, CLIP 8, sync 16 (two Synchformer segments).
TINY_SEQUENCE = SequenceConfig(duration=1.0, sample_rate=16000, hop=256)


def tiny_flow_config(v2: bool = False) -> NetworkConfig:
    return replace(TINY_FLOW, v2=v2)


def official_flow_shapes(cfg: NetworkConfig, v2: bool) -> dict[str, tuple[int, ...]]:
    """Key -> shape of an official MMAudio flow checkpoint for these dimensions."""
    d, lat = cfg.hidden_dim, cfg.latent_dim
    hidden = 256 * math.ceil(int(2 * 4 * d / 3) / 256)
    mlp_at = 2 if v2 else 1
    time_freqs = d if v2 else 256
    shapes: dict[str, tuple[int, ...]] = {}

    def linear(name: str, out: int, inp: int, kernel: int | None = None, bias: bool = True):
        shapes[f"{name}.weight"] = (out, inp) if kernel is None else (out, inp, kernel)
        if bias:
            shapes[f"{name}.bias"] = (out,)

    def swiglu(name: str, kernel: int | None):
        linear(f"{name}.w1", hidden, d, kernel, bias=False)
        linear(f"{name}.w2", d, hidden, kernel, bias=False)
        linear(f"{name}.w3", hidden, d, kernel, bias=False)

    def single_block(name: str, kernel: int | None, pre_only: bool):
        linear(f"{name}.attn.qkv", 3 * d, d)
        shapes[f"{name}.attn.q_norm.weight"] = (d // cfg.num_heads,)
        shapes[f"{name}.attn.k_norm.weight"] = (d // cfg.num_heads,)
        linear(f"{name}.adaLN_modulation.1", (2 if pre_only else 6) * d, d)
        if not pre_only:
            linear(f"{name}.linear1", d, d, kernel)
            swiglu(f"{name}.ffn", kernel)

    linear("audio_input_proj.0", d, lat, 7)
    swiglu("audio_input_proj.2", 7)
    linear("clip_input_proj.0", d, cfg.clip_dim)
    swiglu(f"clip_input_proj.{mlp_at}", 3)
    linear("sync_input_proj.0", d, cfg.sync_dim, 7)
    swiglu("sync_input_proj.2", 3)
    linear("text_input_proj.0", d, cfg.text_dim)
    swiglu(f"text_input_proj.{mlp_at}", None)
    linear("clip_cond_proj", d, d)
    linear("text_cond_proj", d, d)
    swiglu("global_cond_mlp", None)
    shapes["sync_pos_emb"] = (1, 1, 8, cfg.sync_dim)
    linear("t_embed.mlp.0", d, time_freqs)
    linear("t_embed.mlp.2", d, d)
    joint = cfg.depth - cfg.fused_depth
    for i in range(joint):
        last = i == joint - 1
        single_block(f"joint_blocks.{i}.latent_block", 3, False)
        single_block(f"joint_blocks.{i}.clip_block", 3, last)
        single_block(f"joint_blocks.{i}.text_block", None, last)
    for j in range(cfg.fused_depth):
        single_block(f"fused_blocks.{j}", 3, False)
    linear("final_layer.adaLN_modulation.1", 2 * d, d)
    linear("final_layer.conv", lat, d, 7)
    shapes["latent_mean"] = (1, 1, lat)
    shapes["latent_std"] = (1, 1, lat)
    shapes["empty_string_feat"] = (cfg.text_len, cfg.text_dim)
    shapes["empty_clip_feat"] = (1, cfg.clip_dim)
    shapes["empty_sync_feat"] = (1, cfg.sync_dim)
    return shapes


def official_flow_state(
    cfg: NetworkConfig, v2: bool | None = None, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Seeded tensors for every official key; norms near 1 and latent_std positive."""
    v2 = cfg.v2 if v2 is None else v2
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_flow_shapes(cfg, v2).items():
        value = torch.randn(shape, generator=generator)
        if key.endswith("_norm.weight") or key == "latent_std":
            value = 1 + 0.1 * value.abs()
        elif key.endswith(".weight"):
            value = value / math.sqrt(math.prod(shape[1:]))
        else:
            value = 0.1 * value
        state[key] = value
    return state


def write_official_flow(
    path: Path, cfg: NetworkConfig, v2: bool | None = None, seed: int = 0, derived: bool = False
) -> Path:
    """Save an official-layout flow checkpoint; `derived` adds the rotation/frequency tables
    some upstream files carry (`t_embed.freqs`, `latent_rot`, `clip_rot`)."""
    state = official_flow_state(cfg, v2, seed)
    if derived:
        state["t_embed.freqs"] = torch.zeros(128)
        state["latent_rot"] = torch.zeros(1, 250, 32, 2, 2)
        state["clip_rot"] = torch.zeros(1, 64, 32, 2, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path
