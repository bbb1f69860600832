"""Synchformer's visual branch: the per-segment motion features MMAudio aligns audio to.

A MotionFormer-style ViT with divided space-time attention (each block attends over time at
each patch position, then over space within each frame; the CLS token attends to everything),
16x16 patches two frames deep, then a one-layer pre-norm transformer per frame that pools the
patches into a CLS token. A 16-frame segment gives 8 features; MMAudio slides segments of 16
frames with step 8 over 25-fps video, so 8 s give 24 segments -> 192 features of 768.

Parameter names are those of `vfeat_extractor.*` in the official `synchformer_state_dict.pth`
(hkchengrex/MMAudio, from v-iashin/Synchformer; code MIT), so the file loads strictly after the
prefix is stripped. Its unused 2D `patch_embed` is checked and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stages.audio.mmaudio.checkpoint import check_state, expected_shapes, read_official
from stages.audio.mmaudio.frames import SEGMENT_FRAMES, sync_segments

PREFIX = "vfeat_extractor."
UNUSED = ("patch_embed.proj.weight", "patch_embed.proj.bias")
_EPS = 1e-6


@dataclass(frozen=True)
class SynchformerConfig:
    """The official model is the default (divided_224_16x4: ViT-B/16, 16 frames, temporal 2)."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: int = 4
    patch_size: int = 16
    temporal_patch: int = 2
    frames: int = SEGMENT_FRAMES
    image_size: int = 224

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def steps(self) -> int:
        """Features per segment (temporal tokens): 16 frames / 2 = 8."""
        return self.frames // self.temporal_patch


class DividedAttention(nn.Module):
    """Multi-head attention where patch tokens attend within groups (one patch position over
    time, or one frame over space) plus the CLS token, and the CLS token attends to all."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, steps: int, over_time: bool) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        cls_out = F.scaled_dot_product_attention(q[:, :, :1], k, v)

        def grouped(t: torch.Tensor) -> torch.Tensor:
            t = t[:, :, 1:].unflatten(2, (steps, -1))  # (B, H, steps, patches, d)
            return t.transpose(2, 3) if over_time else t

        def with_cls(t: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
            cls = t[:, :, :1].unsqueeze(2).expand(-1, -1, patches.shape[2], -1, -1)
            return torch.cat((cls, patches), dim=3)

        q_, k_, v_ = grouped(q), grouped(k), grouped(v)
        out = F.scaled_dot_product_attention(q_, with_cls(k, k_), with_cls(v, v_))
        if over_time:
            out = out.transpose(2, 3)
        out = torch.cat((cls_out, out.flatten(2, 3)), dim=2)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class DividedBlock(nn.Module):
    """Time attention (norm3), then space attention (norm1), then the MLP (norm2)."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=_EPS)
        self.attn = DividedAttention(dim, cfg.num_heads)
        self.timeattn = DividedAttention(dim, cfg.num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=_EPS)
        self.mlp = Mlp(dim, dim * cfg.mlp_ratio)
        self.norm3 = nn.LayerNorm(dim, eps=_EPS)

    def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        x = x + self.timeattn(self.norm3(x), steps, over_time=True)
        x = x + self.attn(self.norm1(x), steps, over_time=False)
        return x + self.mlp(self.norm2(x))


class PatchEmbed3D(nn.Module):
    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        kernel = (cfg.temporal_patch, cfg.patch_size, cfg.patch_size)
        self.proj = nn.Conv3d(3, cfg.embed_dim, kernel_size=kernel, stride=kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class SpatialPool(nn.Module):
    """Pools each frame's patches into a CLS token with one pre-norm transformer layer
    (GELU MLP, eps 1e-6); names follow `torch.nn.TransformerEncoderLayer`."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.self_attn = nn.MultiheadAttention(dim, cfg.num_heads, batch_first=True)
        self.linear1 = nn.Linear(dim, dim * cfg.mlp_ratio)
        self.linear2 = nn.Linear(dim * cfg.mlp_ratio, dim)
        self.norm1 = nn.LayerNorm(dim, eps=_EPS)
        self.norm2 = nn.LayerNorm(dim, eps=_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        h = self.norm1(x)
        x = x + self.self_attn(h, h, h, need_weights=False)[0]
        x = x + self.linear2(F.gelu(self.linear1(self.norm2(x))))
        return x[:, 0]


class Synchformer(nn.Module):
    """(B, S, frames, 3, H, W) segments in [-1, 1] -> (B, S * steps, embed_dim) features."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.embed_dim
        self.patch_embed_3d = PatchEmbed3D(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid**2 + 1, dim))
        self.temp_embed = nn.Parameter(torch.zeros(1, cfg.steps, dim))
        self.blocks = nn.ModuleList(DividedBlock(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(dim, eps=_EPS)
        self.spatial_attn_agg = SpatialPool(cfg)

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        batch, count, frames, channels, height, width = segments.shape
        if (frames, channels, height, width) != (cfg.frames, 3, cfg.image_size, cfg.image_size):
            raise ValueError(
                f"Synchformer takes (B, S, {cfg.frames}, 3, {cfg.image_size}, {cfg.image_size}) "
                f"segments, got {tuple(segments.shape)}"
            )
        x = segments.flatten(0, 1).transpose(1, 2)  # (B*S, 3, frames, H, W)
        x = self.patch_embed_3d(x)  # (B*S, steps * grid^2, D), time-major
        patches = cfg.grid**2
        position = self.pos_embed[:, 1:].repeat(1, cfg.steps, 1)
        position = position + self.temp_embed.repeat_interleave(patches, dim=1)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x + position), dim=1)
        for block in self.blocks:
            x = block(x, cfg.steps)
        x = self.norm(x[:, 1:])  # (B*S, steps * grid^2, D)
        x = self.spatial_attn_agg(x.reshape(-1, patches, cfg.embed_dim))
        return x.view(batch, count * cfg.steps, cfg.embed_dim)

    @torch.inference_mode()
    def encode(self, frames: torch.Tensor, segments_per_batch: int = 0) -> torch.Tensor:
        """(B, T, 3, H, W) 25-fps frames -> (B, segment_count(T) * steps, D); runs at most
        `segments_per_batch` segments at once (0: all) to bound activation memory."""
        parameter = next(self.parameters())
        windows = sync_segments(frames)
        batch, count = windows.shape[:2]
        flat = windows.flatten(0, 1)
        step = segments_per_batch or flat.shape[0]
        outputs = [
            self(flat[i : i + step].unsqueeze(1).to(parameter.device, parameter.dtype))
            for i in range(0, flat.shape[0], step)
        ]
        return torch.cat(outputs).view(batch, count * self.cfg.steps, -1)


def official_unused_shapes(cfg: SynchformerConfig) -> dict[str, tuple[int, ...]]:
    """The 2D patch embedding the official file carries but MotionFormer never runs."""
    return {
        UNUSED[0]: (cfg.embed_dim, 3, cfg.patch_size, cfg.patch_size),
        UNUSED[1]: (cfg.embed_dim,),
    }


def official_shapes(cfg: SynchformerConfig) -> dict[str, tuple[int, ...]]:
    """Every `vfeat_extractor.*` key of the official file, with its shape (meta device)."""
    with torch.device("meta"):
        ours = expected_shapes(Synchformer(cfg))
    ours.update(official_unused_shapes(cfg))
    return {PREFIX + key: shape for key, shape in ours.items()}


def convert_synchformer(
    official_path: Path | str, cfg: SynchformerConfig | None = None
) -> dict[str, torch.Tensor]:
    """`synchformer_state_dict.pth` -> our state dict: only `vfeat_extractor.*` (the audio
    branch and the sync head are dropped), checked strictly, prefix stripped, unused 2D patch
    embedding dropped. Raises CheckpointMismatch naming every missing/extra/mis-shaped key."""
    cfg = cfg or SynchformerConfig()
    state = read_official(official_path)
    visual = {key: value for key, value in state.items() if key.startswith(PREFIX)}
    check_state(official_shapes(cfg), visual, "Synchformer", official_path)
    stripped = {key.removeprefix(PREFIX): value for key, value in visual.items()}
    return {key: value.contiguous() for key, value in stripped.items() if key not in UNUSED}


def build_synchformer(
    state: dict[str, torch.Tensor], cfg: SynchformerConfig | None = None
) -> Synchformer:
    """Our Synchformer with `state` (from `convert_synchformer`) loaded strictly, in eval mode."""
    cfg = cfg or SynchformerConfig()
    with torch.device("meta"):
        model = Synchformer(cfg)
    check_state(expected_shapes(model), state, "converted Synchformer", "state")
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)
