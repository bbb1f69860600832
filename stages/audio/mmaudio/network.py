"""MMAudio's flow network: an MM-DiT over audio latents, CLIP frames and text tokens.

Module names and Sequential indices follow the official checkpoints exactly (reference
audio.md §1.6), so a converted state dict loads strictly. Joint blocks attend over the three
streams at once (the last one only updates the latent stream); fused blocks see audio alone.
Synchformer features, upsampled to the latent rate, are added to the adaLN condition of the
audio stream, which is what keeps the sound on the picture's beat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stages.audio.mmaudio.variants import NetworkConfig

ROPE_THETA = 10000.0


def swiglu_hidden(dim: int) -> int:
    """SwiGLU width: two thirds of 4·dim, rounded up to a multiple of 256."""
    return 256 * math.ceil(int(2 * 4 * dim / 3) / 256)


class ChannelLastConv1d(nn.Conv1d):
    """A Conv1d over (B, N, C) tensors, the layout every stream keeps."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def _projection(src: int, dst: int, kernel: int | None, bias: bool = True) -> nn.Module:
    if kernel is None:
        return nn.Linear(src, dst, bias=bias)
    return ChannelLastConv1d(src, dst, kernel, padding=kernel // 2, bias=bias)


class SwiGLU(nn.Module):
    """Gated feed-forward `w2(silu(w1 x) * w3 x)`; convolutional when `kernel` is given."""

    def __init__(self, dim: int, kernel: int | None = None) -> None:
        super().__init__()
        hidden = swiglu_hidden(dim)
        self.w1 = _projection(dim, hidden, kernel, bias=False)
        self.w2 = _projection(hidden, dim, kernel, bias=False)
        self.w3 = _projection(dim, hidden, kernel, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


def rope_table(
    length: int, head_dim: int, scaling: float = 1.0, device: torch.device | None = None
) -> Tensor:
    """(length, head_dim/2, 2) cos/sin of each position's angles, in float32.

    `scaling` stretches a shorter stream (CLIP at 8 fps) onto the latent time axis."""
    pos = torch.arange(length, dtype=torch.float32, device=device)
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim
    freqs = 1.0 / (ROPE_THETA**exponents)
    freqs *= scaling
    angles = pos[:, None] * freqs[None, :]
    return torch.stack((angles.cos(), angles.sin()), dim=-1)


def apply_rope(x: Tensor, table: Tensor) -> Tensor:
    """Rotate adjacent channel pairs of (B, H, N, Dh) by the table, computed in float32."""
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs.unbind(-1)
    cos, sin = table.unbind(-1)
    rotated = torch.stack((cos * even - sin * odd, sin * even + cos * odd), dim=-1)
    return rotated.flatten(-2).to(x.dtype)


def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Full attention over (B, H, N, Dh); the result is (B, N, H·Dh).

    Contiguous inputs pick the same SDPA kernel as upstream, so fp32 outputs match bit for bit."""
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)


class SelfAttention(nn.Module):
    """qkv projection with per-head RMSNorm on queries and keys, and optional RoPE.

    The official qkv weight interleaves q, k and v per channel: (H, Dh, 3) on the output axis."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.RMSNorm(dim // heads)
        self.k_norm = nn.RMSNorm(dim // heads)

    def project(self, x: Tensor, rope: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, self.heads, -1, 3).permute(4, 0, 2, 1, 3).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        return q, k, v


class Block(nn.Module):
    """One stream of an MM-DiT block: adaLN-modulated attention input, gated residual output.

    `kernel` None makes the output projection and feed-forward linear (the text stream);
    `pre_only` keeps only the attention input (the last joint block's CLIP and text streams)."""

    def __init__(
        self, dim: int, heads: int, kernel: int | None = 3, pre_only: bool = False
    ) -> None:
        super().__init__()
        self.pre_only = pre_only
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = SelfAttention(dim, heads)
        if not pre_only:
            self.linear1 = _projection(dim, dim, kernel)
            self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
            self.ffn = SwiGLU(dim, kernel)
        self.adaLN_modulation = nn.Sequential(
            nn.SiLU(), nn.Linear(dim, (2 if pre_only else 6) * dim)
        )

    def attention_input(
        self, x: Tensor, c: Tensor, rope: Tensor | None
    ) -> tuple[tuple[Tensor, Tensor, Tensor], tuple[Tensor, ...]]:
        shift, scale, *rest = self.adaLN_modulation(c).chunk(2 if self.pre_only else 6, dim=-1)
        return self.attn.project(self.norm1(x) * (1 + scale) + shift, rope), tuple(rest)

    def attention_output(self, x: Tensor, attended: Tensor, rest: tuple[Tensor, ...]) -> Tensor:
        if self.pre_only:
            return x
        gate_attn, shift, scale, gate_ffn = rest
        x = x + self.linear1(attended) * gate_attn
        return x + self.ffn(self.norm2(x) * (1 + scale) + shift) * gate_ffn

    def forward(self, x: Tensor, c: Tensor, rope: Tensor | None) -> Tensor:
        qkv, rest = self.attention_input(x, c, rope)
        return self.attention_output(x, attend(*qkv), rest)


class JointBlock(nn.Module):
    """Latent, CLIP and text streams attending jointly over their concatenated tokens."""

    def __init__(self, dim: int, heads: int, pre_only: bool) -> None:
        super().__init__()
        self.pre_only = pre_only
        self.latent_block = Block(dim, heads, kernel=3)
        self.clip_block = Block(dim, heads, kernel=3, pre_only=pre_only)
        self.text_block = Block(dim, heads, kernel=None, pre_only=pre_only)

    def forward(
        self,
        latent: Tensor,
        clip: Tensor,
        text: Tensor,
        global_c: Tensor,
        extended_c: Tensor,
        latent_rope: Tensor,
        clip_rope: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        x_qkv, x_rest = self.latent_block.attention_input(latent, extended_c, latent_rope)
        c_qkv, c_rest = self.clip_block.attention_input(clip, global_c, clip_rope)
        t_qkv, t_rest = self.text_block.attention_input(text, global_c, None)
        joint = attend(
            *(torch.cat(parts, dim=2) for parts in zip(x_qkv, c_qkv, t_qkv, strict=True))
        )
        n_latent, n_clip = latent.shape[1], clip.shape[1]
        latent = self.latent_block.attention_output(latent, joint[:, :n_latent], x_rest)
        if not self.pre_only:
            clip = self.clip_block.attention_output(
                clip, joint[:, n_latent : n_latent + n_clip], c_rest
            )
            text = self.text_block.attention_output(text, joint[:, n_latent + n_clip :], t_rest)
        return latent, clip, text


class FinalLayer(nn.Module):
    """adaLN-modulated norm and a k=7 conv back to the latent channels."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.conv = ChannelLastConv1d(dim, out_dim, 7, padding=3)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.conv(self.norm(x) * (1 + scale) + shift)


class TimestepEmbedder(nn.Module):
    """Sinusoidal embedding of t in [0, 1] followed by an MLP.

    v1 uses 256 frequencies with max period 10000; v2 uses `dim` frequencies with max period 1,
    which scales every frequency by 10000. t stays float32 whatever the weights' dtype: upstream
    rounds t to bf16 in half precision, which at v2's frequencies turns the phase by radians."""

    def __init__(self, dim: int, frequencies: int, max_period: float) -> None:
        super().__init__()
        self.frequencies = frequencies
        self.max_period = max_period
        self.mlp = nn.Sequential(nn.Linear(frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        exponents = torch.arange(0, self.frequencies, 2, dtype=torch.float32, device=t.device)
        freqs = (10000 / self.max_period) * (1.0 / (10000 ** (exponents / self.frequencies)))
        angles = t[:, None].float() * freqs[None]
        embedding = torch.cat((angles.cos(), angles.sin()), dim=-1)
        return self.mlp(embedding.to(self.mlp[0].weight.dtype))


@dataclass
class Conditions:
    """Everything about one window's conditioning that stays fixed across sampling steps."""

    clip: Tensor  # (B, Lc, D) projected CLIP frames
    sync: Tensor  # (B, L, D) projected sync features at the latent rate
    text: Tensor  # (B, Lt, D) projected text tokens
    clip_global: Tensor  # (B, D)
    text_global: Tensor  # (B, D)

    @property
    def batch(self) -> int:
        return self.sync.shape[0]

    def expand(self, batch: int) -> Conditions:
        """The same conditions broadcast (as views) to `batch` from a batch of 1 or `batch`."""
        return Conditions(
            clip=self.clip.expand(batch, -1, -1),
            sync=self.sync.expand(batch, -1, -1),
            text=self.text.expand(batch, -1, -1),
            clip_global=self.clip_global.expand(batch, -1),
            text_global=self.text_global.expand(batch, -1),
        )


class FlowNetwork(nn.Module):
    """The velocity field v(x, t | video, text) of one MMAudio variant.

    Call `set_lengths` before use: RoPE tables and input checks depend on the window length."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim, heads = cfg.hidden_dim, cfg.num_heads
        act = nn.SiLU if cfg.v2 else nn.SELU
        # v2 puts a SiLU between the linear input layers and their MLPs, shifting the indices.
        extra = [nn.SiLU()] if cfg.v2 else []
        self.audio_input_proj = nn.Sequential(
            ChannelLastConv1d(cfg.latent_dim, dim, 7, padding=3), act(), SwiGLU(dim, 7)
        )
        self.clip_input_proj = nn.Sequential(nn.Linear(cfg.clip_dim, dim), *extra, SwiGLU(dim, 3))
        self.sync_input_proj = nn.Sequential(
            ChannelLastConv1d(cfg.sync_dim, dim, 7, padding=3), act(), SwiGLU(dim, 3)
        )
        self.text_input_proj = nn.Sequential(nn.Linear(cfg.text_dim, dim), *extra, SwiGLU(dim))
        self.clip_cond_proj = nn.Linear(dim, dim)
        self.text_cond_proj = nn.Linear(dim, dim)
        self.global_cond_mlp = SwiGLU(dim)
        self.sync_pos_emb = nn.Parameter(torch.zeros(1, 1, 8, cfg.sync_dim))
        self.t_embed = (
            TimestepEmbedder(dim, dim, 1) if cfg.v2 else TimestepEmbedder(dim, 256, 10000)
        )
        self.joint_blocks = nn.ModuleList(
            JointBlock(dim, heads, pre_only=i == cfg.joint_depth - 1)
            for i in range(cfg.joint_depth)
        )
        self.fused_blocks = nn.ModuleList(Block(dim, heads) for _ in range(cfg.fused_depth))
        self.final_layer = FinalLayer(dim, cfg.latent_dim)

        def fixed(*shape: int, fill: float = 0.0) -> nn.Parameter:
            return nn.Parameter(torch.full(shape, fill), requires_grad=False)

        self.latent_mean = fixed(1, 1, cfg.latent_dim)
        self.latent_std = fixed(1, 1, cfg.latent_dim, fill=1.0)
        self.empty_string_feat = fixed(cfg.text_len, cfg.text_dim)
        self.empty_clip_feat = fixed(1, cfg.clip_dim)
        self.empty_sync_feat = fixed(1, cfg.sync_dim)
        self._lengths: tuple[int, int, int] | None = None
        self._ropes: dict[torch.device, tuple[Tensor, Tensor]] = {}

    def set_lengths(self, latent: int, clip: int, sync: int) -> None:
        """Token counts of the window (`SequenceConfig.latent_len/clip_len/sync_len`)."""
        if min(latent, clip, sync) < 1 or sync % 8:
            raise ValueError(
                f"MMAudio window lengths latent={latent} clip={clip} sync={sync}: each must be "
                "positive and sync a multiple of 8 (a window needs at least 0.64 s of video)"
            )
        self._lengths = (latent, clip, sync)
        self._ropes = {}

    @property
    def lengths(self) -> tuple[int, int, int]:
        if self._lengths is None:
            raise RuntimeError("FlowNetwork.set_lengths must be called before use")
        return self._lengths

    def _rope(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if device not in self._ropes:
            latent, clip, _ = self.lengths
            head = self.cfg.head_dim
            self._ropes[device] = (
                rope_table(latent, head, device=device),
                rope_table(clip, head, scaling=latent / clip, device=device),
            )
        return self._ropes[device]

    def normalize(self, latents: Tensor) -> Tensor:
        """VAE latents (B, L, C) to the unit-variance space the flow works in."""
        return (latents - self.latent_mean) / self.latent_std

    def unnormalize(self, x: Tensor) -> Tensor:
        """The flow's output back to VAE latents (B, L, C)."""
        return x * self.latent_std + self.latent_mean

    def empty_clip(self, batch: int) -> Tensor:
        """Learned stand-in for absent video frames (B, Lc, clip_dim)."""
        return self.empty_clip_feat.unsqueeze(0).expand(batch, self.lengths[1], -1)

    def empty_sync(self, batch: int) -> Tensor:
        """Learned stand-in for absent sync features (B, Ls, sync_dim)."""
        return self.empty_sync_feat.unsqueeze(0).expand(batch, self.lengths[2], -1)

    def empty_text(self, batch: int) -> Tensor:
        """Learned stand-in for absent text (B, text_len, text_dim)."""
        return self.empty_string_feat.unsqueeze(0).expand(batch, -1, -1)

    def conditions(self, clip: Tensor, sync: Tensor, text: Tensor) -> Conditions:
        """Project clip (B, Lc, clip_dim), sync (B, Ls, sync_dim), text (B, Lt, text_dim) once.

        A batch of 1 broadcasts against the others (one prompt for several windows)."""
        latent_len, clip_len, sync_len = self.lengths
        expected = {
            "clip": (clip, clip_len, self.cfg.clip_dim),
            "sync": (sync, sync_len, self.cfg.sync_dim),
            "text": (text, self.cfg.text_len, self.cfg.text_dim),
        }
        for name, (tensor, length, width) in expected.items():
            if tensor.ndim != 3 or tuple(tensor.shape[1:]) != (length, width):
                raise ValueError(
                    f"MMAudio {name} features {tuple(tensor.shape)}: "
                    f"expected (B, {length}, {width})"
                )
        per_segment = self.sync_pos_emb.shape[2]
        sync = sync.unflatten(1, (-1, per_segment)) + self.sync_pos_emb
        sync = self.sync_input_proj(sync.flatten(1, 2))
        sync = F.interpolate(sync.transpose(1, 2), size=latent_len, mode="nearest-exact")
        clip = self.clip_input_proj(clip)
        text = self.text_input_proj(text)
        projected = Conditions(
            clip=clip,
            sync=sync.transpose(1, 2),
            text=text,
            clip_global=self.clip_cond_proj(clip.mean(dim=1)),
            text_global=self.text_cond_proj(text.mean(dim=1)),
        )
        return projected.expand(max(clip.shape[0], sync.shape[0], text.shape[0]))

    def empty_conditions(self, batch: int, negative_text: Tensor | None = None) -> Conditions:
        """The unconditional branch of CFG: learned empty features, or a negative prompt's text
        features (B or 1, Lt, text_dim) in place of the empty string."""
        text = self.empty_text(1) if negative_text is None else negative_text
        return self.conditions(self.empty_clip(1), self.empty_sync(1), text).expand(batch)

    def velocity(self, x: Tensor, t: Tensor | float, conditions: Conditions) -> Tensor:
        """Flow velocity (B, L, latent_dim) at normalised latents x (B, L, latent_dim), time t.

        t runs from 0 (noise) to 1 (data); a float or a (B,) tensor."""
        latent_len = self.lengths[0]
        if x.ndim != 3 or tuple(x.shape[1:]) != (latent_len, self.cfg.latent_dim):
            raise ValueError(
                f"MMAudio latents {tuple(x.shape)}: expected (B, {latent_len}, "
                f"{self.cfg.latent_dim})"
            )
        if conditions.batch != x.shape[0]:
            conditions = conditions.expand(x.shape[0])
        t = torch.as_tensor(t, device=x.device, dtype=torch.float32).expand(x.shape[0])
        latent_rope, clip_rope = self._rope(x.device)
        global_c = self.global_cond_mlp(conditions.clip_global + conditions.text_global)
        global_c = self.t_embed(t).unsqueeze(1) + global_c.unsqueeze(1)
        extended_c = global_c + conditions.sync
        latent, clip, text = self.audio_input_proj(x), conditions.clip, conditions.text
        for joint in self.joint_blocks:
            latent, clip, text = joint(
                latent, clip, text, global_c, extended_c, latent_rope, clip_rope
            )
        for block in self.fused_blocks:
            latent = block(latent, extended_c, latent_rope)
        # Upstream conditions the final layer on global_c, not extended_c (MMAudio issue #55).
        return self.final_layer(latent, global_c)
