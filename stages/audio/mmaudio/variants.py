"""The five MMAudio variants: network sizes, sequence lengths and official weight file names.

Numbers follow hkchengrex/MMAudio (networks.py, sequence_config.py, eval_utils.py); a variant's
sequence lengths depend on the window duration, so `Variant.sequence(duration)` derives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of one flow network; `v2` switches large_44k_v2's activations and time embedding."""

    latent_dim: int
    hidden_dim: int
    depth: int
    fused_depth: int
    num_heads: int
    v2: bool = False
    clip_dim: int = 1024
    sync_dim: int = 768
    text_dim: int = 1024
    text_len: int = 77

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    @property
    def joint_depth(self) -> int:
        return self.depth - self.fused_depth


@dataclass(frozen=True)
class SequenceConfig:
    """Token counts of one window: latent frames, CLIP frames at 8 fps, sync features at 25 fps.

    Synchformer sees 16-frame segments with step 8 and yields 8 features per segment."""

    duration: float
    sample_rate: int
    hop: int
    latent_downsample: int = 2
    clip_fps: int = 8
    sync_fps: int = 25
    sync_segment_frames: int = 16
    sync_step: int = 8
    sync_features_per_segment: int = 8

    @property
    def latent_len(self) -> int:
        return math.ceil(self.duration * self.sample_rate / self.hop / self.latent_downsample)

    @property
    def clip_len(self) -> int:
        return int(self.duration * self.clip_fps)

    @property
    def sync_segments(self) -> int:
        frames = self.duration * self.sync_fps
        return max(0, int((frames - self.sync_segment_frames) // self.sync_step + 1))

    @property
    def sync_len(self) -> int:
        return self.sync_segments * self.sync_features_per_segment

    @property
    def audio_samples(self) -> int:
        """Samples the decoder yields: a whole number of latents, so a little over `duration`."""
        return self.latent_len * self.hop * self.latent_downsample


@dataclass(frozen=True)
class Variant:
    """One released model: its network, audio format and the official files it needs."""

    name: str
    network: NetworkConfig
    sample_rate: int
    hop: int
    file: str
    vae_file: str
    vocoder_file: str | None = None

    def sequence(self, duration: float = 8.0) -> SequenceConfig:
        return SequenceConfig(duration=duration, sample_rate=self.sample_rate, hop=self.hop)


def _small(latent_dim: int) -> NetworkConfig:
    return NetworkConfig(
        latent_dim=latent_dim, hidden_dim=448, depth=12, fused_depth=8, num_heads=7
    )


def _large(v2: bool) -> NetworkConfig:
    return NetworkConfig(
        latent_dim=40, hidden_dim=896, depth=21, fused_depth=14, num_heads=14, v2=v2
    )


VARIANTS: dict[str, Variant] = {
    "small_16k": Variant(
        "small_16k",
        _small(20),
        16000,
        256,
        "mmaudio_small_16k.pth",
        "v1-16.pth",
        vocoder_file="best_netG.pt",
    ),
    "small_44k": Variant("small_44k", _small(40), 44100, 512, "mmaudio_small_44k.pth", "v1-44.pth"),
    "medium_44k": Variant(
        "medium_44k",
        NetworkConfig(latent_dim=40, hidden_dim=896, depth=12, fused_depth=8, num_heads=14),
        44100,
        512,
        "mmaudio_medium_44k.pth",
        "v1-44.pth",
    ),
    "large_44k": Variant(
        "large_44k", _large(False), 44100, 512, "mmaudio_large_44k.pth", "v1-44.pth"
    ),
    "large_44k_v2": Variant(
        "large_44k_v2", _large(True), 44100, 512, "mmaudio_large_44k_v2.pth", "v1-44.pth"
    ),
}

DEFAULT_VARIANT = "large_44k_v2"
