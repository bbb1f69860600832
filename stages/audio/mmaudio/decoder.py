"""MMAudio's decoding half: latents -> mel spectrogram (VAE decoder) -> waveform (BigVGAN).

Both networks are diffusers' (`MMAudioVAE`, `MMAudioVocoder`); what renga adds is reading the
official weight files into them, strictly:

- The VAE (`v1-44.pth`, `v1-16.pth`) is built from EDM2 magnitude-preserving convolutions whose
  weights MMAudio normalises once before inference; diffusers applies weights as stored, so the
  normalisation is baked in here.
- BigVGAN (`nvidia/bigvgan_v2_44khz_128band_512x`, or `best_netG.pt` for 16 kHz) stores its
  convolutions weight-normalised (g, v); the products are baked in here.

`small_16k` decodes with the 16 kHz VAE and Make-An-Audio 2's BigVGAN v1, which differs from
`MMAudioVocoder` only in its last layer (a biased convolution squashed by tanh). Decoding needs
no mel front end, so MMAudio's log10 mel (used only to encode audio) is not part of it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.engine.errors import UserError
from stages.audio.mmaudio.checkpoint import check_state, expected_shapes

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class VocoderConfig:
    """A BigVGAN generator's shape (the fields of its `config.json`)."""

    num_mels: int
    upsample_initial_channel: int
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    tanh_at_final: bool

    @property
    def hop(self) -> int:
        return math.prod(self.upsample_rates)


@dataclass(frozen=True)
class DecoderConfig:
    """The VAE and vocoder of one MMAudio sample rate, and the official files they come from."""

    name: str
    sample_rate: int
    mel_bins: int
    latent_dim: int
    hidden_dim: int
    n_fft: int
    mel_hop: int
    vocoder: VocoderConfig
    vae_file: str
    vocoder_ref: str
    channel_multipliers: tuple[int, ...] = (1, 2, 4)
    layers_per_block: int = 2

    def __post_init__(self) -> None:
        if self.vocoder.hop != self.mel_hop or self.vocoder.num_mels != self.mel_bins:
            raise ValueError(f"{self.name}: the vocoder does not fit the VAE's mel spectrogram")

    @property
    def latent_hop(self) -> int:
        """Waveform samples per latent frame: the VAE halves the mel frame rate once."""
        return self.mel_hop * 2

    def samples(self, latent_len: int) -> int:
        return latent_len * self.latent_hop


BIGVGAN_V2_44K = "nvidia/bigvgan_v2_44khz_128band_512x"
DECODERS = {
    "16k": DecoderConfig(
        name="16k",
        sample_rate=16_000,
        mel_bins=80,
        latent_dim=20,
        hidden_dim=384,
        n_fft=1024,
        mel_hop=256,
        vocoder=VocoderConfig(
            num_mels=80,
            upsample_initial_channel=1536,
            upsample_rates=(4, 4, 2, 2, 2, 2),
            upsample_kernel_sizes=(8, 8, 4, 4, 4, 4),
            resblock_kernel_sizes=(3, 7, 11),
            resblock_dilation_sizes=((1, 3, 5),) * 3,
            tanh_at_final=True,
        ),
        vae_file="v1-16.pth",
        vocoder_ref="best_netG.pt",
    ),
    "44k": DecoderConfig(
        name="44k",
        sample_rate=44_100,
        mel_bins=128,
        latent_dim=40,
        hidden_dim=512,
        n_fft=2048,
        mel_hop=512,
        vocoder=VocoderConfig(
            num_mels=128,
            upsample_initial_channel=1536,
            upsample_rates=(8, 4, 2, 2, 2, 2),
            upsample_kernel_sizes=(16, 8, 4, 4, 4, 4),
            resblock_kernel_sizes=(3, 7, 11),
            resblock_dilation_sizes=((1, 3, 5),) * 3,
            tanh_at_final=False,
        ),
        vae_file="v1-44.pth",
        vocoder_ref=BIGVGAN_V2_44K,
    ),
}
VARIANT_RATES = {
    "small_16k": "16k",
    "small_44k": "44k",
    "medium_44k": "44k",
    "large_44k": "44k",
    "large_44k_v2": "44k",
}


def decoder_config(variant: str, key: str = "audio.variant") -> DecoderConfig:
    """The decoder an MMAudio variant's latents need."""
    if variant not in VARIANT_RATES:
        raise UserError(
            key, f"unknown MMAudio variant {variant!r}; expected one of {', '.join(VARIANT_RATES)}"
        )
    return DECODERS[VARIANT_RATES[variant]]


# --- the VAE -------------------------------------------------------------------------------


def vae_module(cfg: DecoderConfig) -> Any:
    """A fresh `MMAudioVAE` of `cfg`'s shape (build it under `torch.device("meta")` to size it)."""
    from diffusers import MMAudioVAE

    return MMAudioVAE(
        mel_bins=cfg.mel_bins,
        latent_channels=cfg.latent_dim,
        hidden_channels=cfg.hidden_dim,
        channel_multipliers=cfg.channel_multipliers,
        layers_per_block=cfg.layers_per_block,
        sample_rate=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.mel_hop,
    )


def meta_module(factory: Any, cfg: DecoderConfig) -> Any:
    import torch

    with torch.device("meta"):
        return factory(cfg)


def build_vae(state: dict[str, torch.Tensor], cfg: DecoderConfig) -> Any:
    """An `MMAudioVAE` holding a converted state (strict), in eval mode."""
    return _strict(meta_module(vae_module, cfg), state, f"MMAudio {cfg.name} VAE")


def _strict(model: Any, state: dict[str, torch.Tensor], what: str) -> Any:
    check_state(expected_shapes(model), state, what, "converted state")
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


# --- the vocoder ---------------------------------------------------------------------------


@functools.cache
def _tanh_conv() -> type:
    import torch

    class TanhConv1d(torch.nn.Conv1d):
        """BigVGAN v1's last layer: a biased convolution squashed by tanh."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(super().forward(x))

    return TanhConv1d


def vocoder_module(cfg: DecoderConfig) -> Any:
    """A fresh `MMAudioVocoder` of `cfg`'s shape; BigVGAN v1 gets its tanh head."""
    from diffusers import MMAudioVocoder

    voc = cfg.vocoder
    model = MMAudioVocoder(
        num_mels=voc.num_mels,
        upsample_initial_channel=voc.upsample_initial_channel,
        upsample_rates=voc.upsample_rates,
        upsample_kernel_sizes=voc.upsample_kernel_sizes,
        resblock_kernel_sizes=voc.resblock_kernel_sizes,
        resblock_dilation_sizes=voc.resblock_dilation_sizes,
    )
    if voc.tanh_at_final:  # MMAudioVocoder then clamps to [-1, 1], a no-op after tanh
        channels = model.conv_post.in_channels
        model.conv_post = _tanh_conv()(channels, 1, 7, padding=3, bias=True)
    return model


def build_vocoder(state: dict[str, torch.Tensor], cfg: DecoderConfig) -> Any:
    """An `MMAudioVocoder` (BigVGAN v1's tanh head for 16 kHz) holding a converted state."""
    return _strict(meta_module(vocoder_module, cfg), state, f"BigVGAN {cfg.name} vocoder")


# --- decoding ------------------------------------------------------------------------------


class AudioDecoder:
    """MMAudio latents (B, L, latent_dim) -> waveform (B, L * latent_hop) at `sample_rate`.

    Holds only the VAE's decoder: like MMAudio at inference, the encoder is dropped."""

    def __init__(self, vae: Any, vocoder: Any, cfg: DecoderConfig) -> None:
        vae.vae.encoder = None
        self.vae = vae
        self.vocoder = vocoder
        self.cfg = cfg

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def latent_hop(self) -> int:
        return self.cfg.latent_hop

    def to(self, device: Any = None, dtype: Any = None) -> AudioDecoder:
        where = {name: v for name, v in (("device", device), ("dtype", dtype)) if v is not None}
        self.vae.to(**where)
        self.vocoder.to(**where)
        return self

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Unnormalised latents (the flow's output after `unnormalize`) to float32 audio in
        [-1, 1], on the decoder's device."""
        import torch

        if latents.ndim != 3 or latents.shape[-1] != self.cfg.latent_dim:
            raise ValueError(
                f"latents must be (batch, length, {self.cfg.latent_dim}), "
                f"got {tuple(latents.shape)}"
            )
        parameter = next(self.vae.parameters())
        with torch.inference_mode():
            z = latents.transpose(1, 2).to(parameter.device, parameter.dtype)
            mel = self.vae.decode(z).sample
            vocoder_dtype = next(self.vocoder.parameters()).dtype
            wave = self.vocoder(mel.to(vocoder_dtype)).sample[:, 0]
        return wave.float()


def build_decoder(
    vae_state: dict[str, torch.Tensor],
    vocoder_state: dict[str, torch.Tensor],
    cfg: DecoderConfig,
    device: Any = "cpu",
    dtype: Any = None,
) -> AudioDecoder:
    """The decoder from two converted states, moved to `device` (and `dtype`, e.g. bf16)."""
    decoder = AudioDecoder(build_vae(vae_state, cfg), build_vocoder(vocoder_state, cfg), cfg)
    return decoder.to(device, dtype)
