"""The official VAE and BigVGAN files in diffusers' module names, normalisations baked in."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.engine.errors import RengaError, UserError
from stages.audio.mmaudio.checkpoint import check_state, expected_shapes, read_official

if TYPE_CHECKING:
    import torch
from stages.audio.mmaudio.decoder import DecoderConfig, meta_module, vae_module, vocoder_module

GENERATOR = "bigvgan_generator.pt"
GENERATOR_CONFIG = "config.json"
MP_EPS = 1e-4
WEIGHT_NORM_FORMS = (
    ("weight_g", "weight_v"),
    ("parametrizations.weight.original0", "parametrizations.weight.original1"),
)


def bake_mp_weight(weight: torch.Tensor) -> torch.Tensor:
    """EDM2's forced weight normalisation, as MMAudio applies it once before inference:
    each output channel scaled to unit RMS, then divided by sqrt(fan_in)."""
    import torch

    w = weight.to(torch.float32)
    fan_in = w[0].numel()
    norm = torch.linalg.vector_norm(w, dim=list(range(1, w.ndim)), keepdim=True)
    w = w / (MP_EPS + norm / math.sqrt(fan_in))
    return (w / math.sqrt(fan_in)).to(weight.dtype)


def convert_vae(official_path: Path | str, cfg: DecoderConfig) -> dict[str, torch.Tensor]:
    """The official VAE file in `MMAudioVAE` keys, weights normalised, strictly checked."""
    official = read_official(official_path)
    model = meta_module(vae_module, cfg)
    ours = expected_shapes(model)
    expected = {
        key.removeprefix("vae."): shape for key, shape in ours.items() if key.startswith("vae.")
    }
    check_state(expected, official, f"MMAudio {cfg.name} VAE", official_path)

    state = {
        f"vae.{key}": bake_mp_weight(value) if key.endswith(".weight") else value
        for key, value in official.items()
    }
    from diffusers.models.autoencoders.autoencoder_mmaudio import MMAudioMelSpectrogram

    mel = MMAudioMelSpectrogram(cfg.sample_rate, cfg.n_fft, cfg.mel_bins, cfg.mel_hop)
    state.update({f"mel_converter.{key}": value for key, value in mel.state_dict().items()})
    check_state(ours, state, f"MMAudio {cfg.name} VAE", official_path)
    return state


def bake_weight_norm(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """w = g * v / |v|, the norm taken over every dimension but the first (weight_norm dim=0)."""
    import torch

    v32 = v.to(torch.float32)
    norm = torch.linalg.vector_norm(v32, dim=list(range(1, v.ndim)), keepdim=True)
    return (g.to(torch.float32) * v32 / norm).to(v.dtype)


def _bake_vocoder(official: dict[str, Any]) -> dict[str, Any]:
    """Every weight-normalised layer's (g, v) pair, in either torch naming, becomes `weight`;
    an unpaired half (or a pair beside a plain weight) keeps its name so the check lists it."""
    state = dict(official)
    for g_suffix, v_suffix in WEIGHT_NORM_FORMS:
        for key in [k for k in official if k.endswith("." + g_suffix)]:
            layer = key.removesuffix(g_suffix)
            if layer + v_suffix in state and layer + "weight" not in state:
                g, v = state.pop(key), state.pop(layer + v_suffix)
                state[layer + "weight"] = bake_weight_norm(g, v)
    return state


def generator_files(path: Path | str) -> tuple[Path, Path | None]:
    """The generator weights and, where there is one, the `config.json` beside them."""
    path = Path(path)
    file = path / GENERATOR if path.is_dir() else path
    config = file.parent / GENERATOR_CONFIG
    return file, config if config.is_file() else None


def _check_generator_config(config: Path, cfg: DecoderConfig) -> None:
    """A BigVGAN `config.json` must describe the generator `cfg` builds, field by field."""
    found = json.loads(config.read_text())
    voc = cfg.vocoder
    wanted: dict[str, Any] = {
        "resblock": "1",
        "activation": "snakebeta",
        "snake_logscale": True,
        "num_mels": voc.num_mels,
        "upsample_initial_channel": voc.upsample_initial_channel,
        "upsample_rates": list(voc.upsample_rates),
        "upsample_kernel_sizes": list(voc.upsample_kernel_sizes),
        "resblock_kernel_sizes": list(voc.resblock_kernel_sizes),
        "resblock_dilation_sizes": [list(d) for d in voc.resblock_dilation_sizes],
        "use_tanh_at_final": voc.tanh_at_final,
        "use_bias_at_final": voc.tanh_at_final,
    }
    defaults = {"use_tanh_at_final": True, "use_bias_at_final": True}  # BigVGAN v1's behaviour
    wrong = [
        f"{name}={found.get(name, defaults.get(name))!r} (expected {value!r})"
        for name, value in wanted.items()
        if found.get(name, defaults.get(name)) != value
    ]
    if wrong:
        raise RengaError(f"{config}: not the MMAudio {cfg.name} vocoder: {', '.join(wrong)}")


def convert_vocoder(path: Path | str, cfg: DecoderConfig) -> dict[str, torch.Tensor]:
    """A BigVGAN release (folder with `bigvgan_generator.pt` + `config.json`, or the generator
    file itself) in `MMAudioVocoder` keys, weight norm baked, strictly checked."""
    file, config = generator_files(path)
    if config is not None:
        _check_generator_config(config, cfg)
    state = _bake_vocoder(read_official(file, unwrap=("generator",)))
    model = meta_module(vocoder_module, cfg)
    check_state(expected_shapes(model), state, f"BigVGAN {cfg.name} vocoder", file)
    return state


def locate_vocoder(ref: str, key: str, cfg: DecoderConfig) -> Path:
    """Plan time: the vocoder's local folder or file, or its Hugging Face cache snapshot
    (never downloaded); otherwise one line naming `key` and how to get the files."""
    path = Path(os.path.expanduser(ref))
    if path.is_dir():
        missing = [name for name in (GENERATOR, GENERATOR_CONFIG) if not (path / name).is_file()]
        if missing:
            raise UserError(key, f"{path} is not a BigVGAN folder (no {', '.join(missing)})")
        return path
    if path.is_file():
        return path
    parts = ref.split("/")
    if len(parts) == 2 and all(parts) and not ref.startswith((".", "~", "/")):
        from huggingface_hub import try_to_load_from_cache

        found = [try_to_load_from_cache(ref, name) for name in (GENERATOR, GENERATOR_CONFIG)]
        if all(isinstance(item, str) for item in found):
            return Path(found[0]).parent
        target = f"models/{parts[1]}"
        raise UserError(
            key,
            f"vocoder {ref} is not in the Hugging Face cache; download it with "
            f"`hf download {ref} {GENERATOR} {GENERATOR_CONFIG} --local-dir {target}` "
            f"and set {key}={target}",
        )
    hint = f" (MMAudio {cfg.name} needs {cfg.vocoder_ref})"
    raise UserError(key, f"file not found: {path.absolute()}{hint}")
