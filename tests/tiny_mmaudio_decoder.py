"""Tiny MMAudio VAE and BigVGAN files in the OFFICIAL layouts, with random weights.

The key names and shapes are written out from the official module definitions
(hkchengrex/MMAudio mmaudio/ext/autoencoder/vae.py + vae_modules.py, NVIDIA/BigVGAN bigvgan.py,
mmaudio/ext/bigvgan/models.py), not by running renga's converter backwards, so a converter
that drifts from the official layout fails the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from stages.audio.mmaudio.decoder import DecoderConfig, VocoderConfig

ALIAS_KERNEL = 12


def tiny_decoder_config(rate: str = "44k") -> DecoderConfig:
    """The real structure at toy widths; the mel hop (and so the latent hop) is the real one."""
    if rate == "44k":
        mel_hop, rates, kernels, tanh, sample_rate = 512, (8, 8, 8), (16, 16, 16), False, 44_100
        mels, latent_dim = 8, 4
    else:
        mel_hop, rates, kernels, tanh, sample_rate = 256, (4, 8, 8), (8, 16, 16), True, 16_000
        mels, latent_dim = 6, 2
    return DecoderConfig(
        name=rate,
        sample_rate=sample_rate,
        mel_bins=mels,
        latent_dim=latent_dim,
        hidden_dim=8,
        n_fft=4 * mel_hop,
        mel_hop=mel_hop,
        vocoder=VocoderConfig(
            num_mels=mels,
            upsample_initial_channel=16,
            upsample_rates=rates,
            upsample_kernel_sizes=kernels,
            resblock_kernel_sizes=(3, 7),
            resblock_dilation_sizes=((1, 3, 5), (1, 3, 5)),
            tanh_at_final=tanh,
        ),
        vae_file=f"v1-{rate[:2]}.pth",
        vocoder_ref="best_netG.pt" if rate == "16k" else "tiny-org/tiny-bigvgan",
    )


def official_vae_shapes(cfg: DecoderConfig) -> dict[str, tuple[int, ...]]:
    """`VAE(data_dim, embed_dim, hidden_dim)`'s state dict: Encoder1D / Decoder1D of MPConv1D
    (weight only, (out, in, k)), attention only in the middle, one 2x resample."""
    shapes: dict[str, tuple[int, ...]] = {
        "data_mean": (1, cfg.mel_bins, 1),
        "data_std": (1, cfg.mel_bins, 1),
    }

    def conv(name: str, c_out: int, c_in: int, k: int) -> None:
        shapes[f"{name}.weight"] = (c_out, c_in, k)

    def resnet(name: str, c_in: int, c_out: int) -> None:
        conv(f"{name}.conv1", c_out, c_in, 3)
        conv(f"{name}.conv2", c_out, c_out, 3)
        if c_in != c_out:
            conv(f"{name}.nin_shortcut", c_out, c_in, 1)

    def middle(prefix: str, c: int) -> None:
        resnet(f"{prefix}.mid.block_1", c, c)
        conv(f"{prefix}.mid.attn_1.qkv", 3 * c, c, 1)
        conv(f"{prefix}.mid.attn_1.proj_out", c, c, 1)
        resnet(f"{prefix}.mid.block_2", c, c)

    dim, mults = cfg.hidden_dim, cfg.channel_multipliers
    conv("encoder.conv_in", dim, cfg.mel_bins, 3)
    c_in = dim
    for level, mult in enumerate(mults):
        for block in range(cfg.layers_per_block):
            resnet(f"encoder.down.{level}.block.{block}", c_in, dim * mult)
            c_in = dim * mult
        if level == 0:  # down_layers=[0]
            conv(f"encoder.down.{level}.downsample.conv1", c_in, c_in, 1)
            conv(f"encoder.down.{level}.downsample.conv2", c_in, c_in, 1)
    middle("encoder", c_in)
    conv("encoder.conv_out", 2 * cfg.latent_dim, c_in, 3)
    shapes["encoder.learnable_gain"] = ()

    c_in = dim * mults[-1]
    conv("decoder.conv_in", c_in, cfg.latent_dim, 3)
    middle("decoder", c_in)
    for level in reversed(range(len(mults))):
        for block in range(cfg.layers_per_block + 1):
            resnet(f"decoder.up.{level}.block.{block}", c_in, dim * mults[level])
            c_in = dim * mults[level]
        if level == 1:  # the decoder's down_layers are the encoder's shifted by one
            conv(f"decoder.up.{level}.upsample.conv", c_in, c_in, 3)
    conv("decoder.conv_out", cfg.mel_bins, c_in, 3)
    shapes["decoder.learnable_gain"] = ()
    return shapes


def write_official_vae(path: Path, cfg: DecoderConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """A `v1-*.pth` as MMAudio saves it: raw (un-normalised) MPConv weights at random scales."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in official_vae_shapes(cfg).items():
        if key == "data_mean":
            state[key] = -3.0 + torch.randn(shape, generator=gen)
        elif key == "data_std":
            state[key] = 1.5 + torch.rand(shape, generator=gen)
        elif key.endswith("learnable_gain"):
            state[key] = 0.1 * torch.randn(shape, generator=gen)
        else:
            scale = 0.1 + 3.0 * torch.rand(shape[0], 1, 1, generator=gen)
            state[key] = scale * torch.randn(shape, generator=gen)
    torch.save(state, path)
    return state


def _alias_filters(shapes: dict[str, tuple[int, ...]], prefix: str, channels: int) -> None:
    shapes[f"{prefix}.act.alpha"] = (channels,)
    shapes[f"{prefix}.act.beta"] = (channels,)
    shapes[f"{prefix}.upsample.filter"] = (1, 1, ALIAS_KERNEL)
    shapes[f"{prefix}.downsample.lowpass.filter"] = (1, 1, ALIAS_KERNEL)


def official_vocoder_shapes(cfg: DecoderConfig, form: str = "weight_g") -> dict[str, tuple]:
    """BigVGAN's generator state dict; `form` is how its weight-normalised layers are stored:
    `weight_g` (torch.nn.utils.weight_norm, NVIDIA's code), `parametrizations`
    (torch.nn.utils.parametrizations.weight_norm, MMAudio's v1 code) or `weight` (baked)."""
    voc = cfg.vocoder
    shapes: dict[str, tuple[int, ...]] = {}

    def normed(name: str, weight: tuple[int, ...], bias: bool = True) -> None:
        g = (weight[0],) + (1,) * (len(weight) - 1)
        if form == "weight_g":
            shapes[f"{name}.weight_g"], shapes[f"{name}.weight_v"] = g, weight
        elif form == "parametrizations":
            shapes[f"{name}.parametrizations.weight.original0"] = g
            shapes[f"{name}.parametrizations.weight.original1"] = weight
        else:
            shapes[f"{name}.weight"] = weight
        if bias:
            shapes[f"{name}.bias"] = (weight[1] if name.startswith("ups.") else weight[0],)

    channels = voc.upsample_initial_channel
    normed("conv_pre", (channels, voc.num_mels, 7))
    for i, kernel in enumerate(voc.upsample_kernel_sizes):
        normed(f"ups.{i}.0", (channels, channels // 2, kernel))  # ConvTranspose1d: (in, out, k)
        channels //= 2
    channels = voc.upsample_initial_channel
    block = 0
    for _ in voc.upsample_rates:
        channels //= 2
        blocks = zip(voc.resblock_kernel_sizes, voc.resblock_dilation_sizes, strict=True)
        for kernel, dilations in blocks:
            for d in range(len(dilations)):
                normed(f"resblocks.{block}.convs1.{d}", (channels, channels, kernel))
                normed(f"resblocks.{block}.convs2.{d}", (channels, channels, kernel))
            for a in range(2 * len(dilations)):
                _alias_filters(shapes, f"resblocks.{block}.activations.{a}", channels)
            block += 1
    _alias_filters(shapes, "activation_post", channels)
    normed("conv_post", (1, channels, 7), bias=voc.tanh_at_final)
    return shapes


def _official_vocoder_state(cfg: DecoderConfig, form: str, seed: int) -> dict[str, torch.Tensor]:
    from diffusers.models.autoencoders.mmaudio_vocoder import kaiser_sinc_filter1d

    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in official_vocoder_shapes(cfg, form).items():
        if key.endswith("filter"):
            state[key] = kaiser_sinc_filter1d(0.25, 0.3, ALIAS_KERNEL)
        elif key.endswith(("weight_g", "original0")):
            state[key] = 0.2 + torch.rand(shape, generator=gen)
        elif key.endswith(("alpha", "beta", "bias")):
            state[key] = 0.1 * torch.randn(shape, generator=gen)
        else:
            state[key] = 0.3 * torch.randn(shape, generator=gen)
    return state


def generator_config_json(cfg: DecoderConfig) -> dict:
    """The generator fields of a BigVGAN v2 `config.json` (training fields left out)."""
    voc = cfg.vocoder
    return {
        "resblock": "1",
        "upsample_rates": list(voc.upsample_rates),
        "upsample_kernel_sizes": list(voc.upsample_kernel_sizes),
        "upsample_initial_channel": voc.upsample_initial_channel,
        "resblock_kernel_sizes": list(voc.resblock_kernel_sizes),
        "resblock_dilation_sizes": [list(d) for d in voc.resblock_dilation_sizes],
        "use_tanh_at_final": voc.tanh_at_final,
        "use_bias_at_final": voc.tanh_at_final,
        "activation": "snakebeta",
        "snake_logscale": True,
        "num_mels": voc.num_mels,
        "sampling_rate": cfg.sample_rate,
        "hop_size": cfg.mel_hop,
    }


def write_official_vocoder(
    folder: Path, cfg: DecoderConfig, form: str = "weight_g", seed: int = 0
) -> dict[str, torch.Tensor]:
    """A BigVGAN v2 release folder: `bigvgan_generator.pt` ({"generator": state}) and
    `config.json`, as `BigVGAN._save_pretrained` writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    state = _official_vocoder_state(cfg, form, seed)
    torch.save({"generator": state}, folder / "bigvgan_generator.pt")
    (folder / "config.json").write_text(json.dumps(generator_config_json(cfg), indent=4))
    return state


def write_official_vocoder_v1(
    path: Path, cfg: DecoderConfig, form: str = "parametrizations", seed: int = 0
) -> dict[str, torch.Tensor]:
    """The 16 kHz `best_netG.pt`: one file, {"generator": state}, no config.json."""
    state = _official_vocoder_state(cfg, form, seed)
    torch.save({"generator": state}, path)
    return state
