"""Tiny MMAudio conditioners built in code: an open_clip folder and an official-layout
Synchformer file.

The Synchformer layout is written from the documented official module tree
(hkchengrex/MMAudio: mmaudio/ext/synchformer/{motionformer,video_model_builder,vit_helper}.py),
not from our converter, so a renamed or mis-shaped parameter in our module fails the load.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from stages.audio.mmaudio.synchformer import SynchformerConfig

TINY_SYNC = SynchformerConfig(embed_dim=32, depth=2, num_heads=2, image_size=32)

TINY_CLIP = {
    "embed_dim": 24,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 384, "layers": 1, "width": 32, "head_width": 16, "patch_size": 64},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def write_clip_folder(path: Path, seed: int = 0, model_cfg: dict | None = None) -> Path:
    """An open_clip model folder as `hf download apple/DFN5B-CLIP-ViT-H-14-384` leaves one:
    `open_clip_config.json` (model_cfg + preprocess_cfg) and `open_clip_model.safetensors`;
    `model_cfg` gives another size (the benchmarks' real one)."""
    import open_clip
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model_cfg = model_cfg or TINY_CLIP
    model = open_clip.CLIP(**model_cfg)
    for parameter in model.parameters():
        parameter.data.normal_(0, 0.2)
    config = {
        "model_cfg": model_cfg,
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
            "interpolation": "bicubic",
            "resize_mode": "squash",
        },
    }
    (path / "open_clip_config.json").write_text(json.dumps(config))
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(path / "open_clip_model.safetensors"))
    return path


def official_synchformer_layout(cfg: SynchformerConfig) -> dict[str, tuple[int, ...]]:
    """`vfeat_extractor.*` keys and shapes of MMAudio's `synchformer_state_dict.pth`."""
    d, p, tp = cfg.embed_dim, cfg.patch_size, cfg.temporal_patch
    hidden = d * cfg.mlp_ratio
    grid = cfg.image_size // p
    layout: dict[str, tuple[int, ...]] = {
        "patch_embed.proj.weight": (d, 3, p, p),
        "patch_embed.proj.bias": (d,),
        "patch_embed_3d.proj.weight": (d, 3, tp, p, p),
        "patch_embed_3d.proj.bias": (d,),
        "cls_token": (1, 1, d),
        "pos_embed": (1, grid * grid + 1, d),
        "temp_embed": (1, cfg.frames // tp, d),
        "norm.weight": (d,),
        "norm.bias": (d,),
        "spatial_attn_agg.cls_token": (1, 1, d),
        "spatial_attn_agg.self_attn.in_proj_weight": (3 * d, d),
        "spatial_attn_agg.self_attn.in_proj_bias": (3 * d,),
        "spatial_attn_agg.self_attn.out_proj.weight": (d, d),
        "spatial_attn_agg.self_attn.out_proj.bias": (d,),
        "spatial_attn_agg.linear1.weight": (hidden, d),
        "spatial_attn_agg.linear1.bias": (hidden,),
        "spatial_attn_agg.linear2.weight": (d, hidden),
        "spatial_attn_agg.linear2.bias": (d,),
    }
    for norm in ("spatial_attn_agg.norm1", "spatial_attn_agg.norm2"):
        layout[f"{norm}.weight"] = layout[f"{norm}.bias"] = (d,)
    for i in range(cfg.depth):
        block = f"blocks.{i}"
        for norm in ("norm1", "norm2", "norm3"):
            layout[f"{block}.{norm}.weight"] = layout[f"{block}.{norm}.bias"] = (d,)
        for attn in ("attn", "timeattn"):
            layout[f"{block}.{attn}.qkv.weight"] = (3 * d, d)
            layout[f"{block}.{attn}.qkv.bias"] = (3 * d,)
            layout[f"{block}.{attn}.proj.weight"] = (d, d)
            layout[f"{block}.{attn}.proj.bias"] = (d,)
        layout[f"{block}.mlp.fc1.weight"] = (hidden, d)
        layout[f"{block}.mlp.fc1.bias"] = (hidden,)
        layout[f"{block}.mlp.fc2.weight"] = (d, hidden)
        layout[f"{block}.mlp.fc2.bias"] = (d,)
    return {f"vfeat_extractor.{key}": shape for key, shape in layout.items()}


def official_synchformer_state(cfg: SynchformerConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors in the official layout, plus audio-branch keys the converter must drop."""
    generator = torch.Generator().manual_seed(seed)
    state = {
        key: torch.randn(shape, generator=generator) * 0.2
        for key, shape in official_synchformer_layout(cfg).items()
    }
    state["afeat_extractor.patch_embed.proj.weight"] = torch.zeros(4, 1, 16, 16)
    state["transformer.sync_head.weight"] = torch.zeros(21, 8)
    return state


def write_official_synchformer(path: Path, cfg: SynchformerConfig = TINY_SYNC) -> Path:
    torch.save(official_synchformer_state(cfg), path)
    return path
