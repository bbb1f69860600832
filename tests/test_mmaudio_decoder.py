"""MMAudio decoding: official VAE / BigVGAN files -> diffusers modules, strictly, numerically."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from orchestrator.engine.errors import RengaError, UserError
from stages.audio.mmaudio.checkpoint import CheckpointMismatch, expected_shapes
from stages.audio.mmaudio.decoder import (
    DECODERS,
    _tanh_conv,
    build_decoder,
    build_vae,
    build_vocoder,
    decoder_config,
    vae_module,
    vocoder_module,
)
from stages.audio.mmaudio.decoder_weights import convert_vae, convert_vocoder, locate_vocoder
from tests.tiny_mmaudio_decoder import (
    official_vae_shapes,
    tiny_decoder_config,
    write_official_vae,
    write_official_vocoder,
    write_official_vocoder_v1,
)

TINY44 = tiny_decoder_config("44k")
TINY16 = tiny_decoder_config("16k")


def edm2_reference(raw: torch.Tensor) -> torch.Tensor:
    """MPConv1D.remove_weight_norm as documented (edm2_utils.normalize, eps 1e-4, then
    / sqrt(fan_in)), written out from the raw official tensor."""
    out_channels = raw.shape[0]
    norms = raw.reshape(out_channels, -1).norm(dim=1).reshape(-1, 1, 1)
    normalised = raw / (1e-4 + norms * math.sqrt(out_channels / raw.numel()))
    return normalised / math.sqrt(raw[0].numel())


def weight_norm_reference(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """torch weight_norm(dim=0): w = g * v / ||v||, the norm over all but the first dim."""
    return g * v / v.reshape(v.shape[0], -1).norm(dim=1).reshape(-1, *[1] * (v.ndim - 1))


class EDM2Norm(torch.nn.Module):
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return edm2_reference(weight)


def official_vae_module(raw: dict[str, torch.Tensor], cfg):
    """diffusers' VAE computing MMAudio's way: every MPConv weight normalised on the fly from
    the raw official tensor (a parametrization), the raw file loaded into it."""
    from diffusers.models.autoencoders.autoencoder_mmaudio import MMAudioMPConv1d
    from torch.nn.utils.parametrize import register_parametrization

    model = vae_module(cfg)
    for module in model.modules():
        if isinstance(module, MMAudioMPConv1d):
            register_parametrization(module, "weight", EDM2Norm())
    state = {
        ("vae." + key).replace(".weight", ".parametrizations.weight.original")
        if key.endswith(".weight")
        else "vae." + key: value
        for key, value in raw.items()
    }
    loaded = model.load_state_dict(state, strict=False)
    assert not loaded.unexpected_keys
    assert all(key.startswith("mel_converter.") for key in loaded.missing_keys)
    return model.eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mmaudio-decoder")
    write_official_vae(root / "v1-44.pth", TINY44)
    write_official_vae(root / "v1-16.pth", TINY16, seed=1)
    write_official_vocoder(root / "bigvgan", TINY44)
    write_official_vocoder_v1(root / "best_netG.pt", TINY16)
    return {
        "vae44": root / "v1-44.pth",
        "vae16": root / "v1-16.pth",
        "vocoder44": root / "bigvgan",
        "vocoder16": root / "best_netG.pt",
    }


def test_vae_weights_are_the_official_normalisation_baked(files):
    raw = torch.load(files["vae44"], weights_only=True)
    state = convert_vae(files["vae44"], TINY44)
    weights = [key for key in raw if key.endswith(".weight")]
    assert weights
    for key in weights:
        torch.testing.assert_close(state[f"vae.{key}"], edm2_reference(raw[key]))
        norms = state[f"vae.{key}"].flatten(1).norm(dim=1)
        torch.testing.assert_close(norms, torch.ones_like(norms), atol=1e-2, rtol=0)
    for key in ("data_mean", "data_std", "encoder.learnable_gain", "decoder.learnable_gain"):
        torch.testing.assert_close(state[f"vae.{key}"], raw[key])
    assert not torch.equal(state["vae.data_std"], torch.ones_like(state["vae.data_std"]))


def test_vae_decodes_as_the_official_weight_normalised_computation(files):
    raw = torch.load(files["vae44"], weights_only=True)
    ours = build_vae(convert_vae(files["vae44"], TINY44), TINY44)
    reference = official_vae_module(raw, TINY44)
    z = torch.randn(2, TINY44.latent_dim, 6, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = reference.decode(z).sample
        got = ours.decode(z).sample
    assert got.shape == (2, TINY44.mel_bins, 12)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert got.std() > 0.1


def test_vae_layout_matches_the_documented_official_one(files):
    ours = expected_shapes(vae_module(TINY44))
    official = {f"vae.{key}": shape for key, shape in official_vae_shapes(TINY44).items()}
    assert {k: v for k, v in ours.items() if k.startswith("vae.")} == official


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_vae_missing_or_extra_key_is_listed(files, tmp_path, change):
    raw = torch.load(files["vae44"], weights_only=True)
    if change == "missing":
        del raw["decoder.up.1.upsample.conv.weight"]
        expect = "1 missing keys: decoder.up.1.upsample.conv.weight"
    else:
        raw["decoder.post_quant_conv.weight"] = torch.zeros(4, 4, 1)
        expect = "1 unexpected keys: decoder.post_quant_conv.weight"
    path = tmp_path / "v1-44.pth"
    torch.save(raw, path)
    with pytest.raises(CheckpointMismatch) as caught:
        convert_vae(path, TINY44)
    assert expect in str(caught.value)
    assert "\n" not in str(caught.value)


def test_vae_of_the_other_rate_is_refused(files):
    with pytest.raises(CheckpointMismatch, match="wrong shape"):
        convert_vae(files["vae16"], TINY44)


@pytest.mark.parametrize("form", ["weight_g", "parametrizations", "weight"])
def test_vocoder_weight_norm_is_baked_in_every_release_form(tmp_path, form):
    raw = write_official_vocoder(tmp_path / "bigvgan", TINY44, form=form)
    state = convert_vocoder(tmp_path / "bigvgan", TINY44)
    g_key, v_key = {
        "weight_g": ("weight_g", "weight_v"),
        "parametrizations": (
            "parametrizations.weight.original0",
            "parametrizations.weight.original1",
        ),
        "weight": (None, None),
    }[form]
    layers = [key.removesuffix(v_key) for key in raw if v_key and key.endswith(v_key)]
    for layer in layers:
        expected = weight_norm_reference(raw[layer + g_key], raw[layer + v_key])
        torch.testing.assert_close(state[layer + "weight"], expected)
    if form == "weight":
        assert all(torch.equal(state[key], raw[key]) for key in raw)
    else:
        assert len(layers) == sum(key.endswith(".weight") for key in state)


def test_vocoder_matches_torch_weight_norm_end_to_end(tmp_path):
    """The official computation: the same network with torch's weight_norm on every
    convolution, the (g, v) file loaded into it, against ours with the product baked."""
    from torch.nn.utils.parametrizations import weight_norm

    raw = write_official_vocoder(tmp_path / "bigvgan", TINY44, form="parametrizations")
    reference = vocoder_module(TINY44)
    for module in list(reference.modules()):
        if isinstance(module, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
            weight_norm(module)
    reference.load_state_dict(raw, strict=True)
    ours = build_vocoder(convert_vocoder(tmp_path / "bigvgan", TINY44), TINY44)
    mel = torch.randn(1, TINY44.mel_bins, 5, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = reference.eval()(mel).sample
        got = ours(mel).sample
    assert got.shape == (1, 1, 5 * TINY44.mel_hop)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("change", ["missing", "extra", "half", "both"])
def test_vocoder_missing_extra_or_half_key_is_listed(tmp_path, change):
    folder = tmp_path / "bigvgan"
    raw = write_official_vocoder(folder, TINY44)
    if change == "missing":
        del raw["activation_post.act.beta"]
        expect = "1 missing keys: activation_post.act.beta"
    elif change == "extra":
        raw["conv_post.bias"] = torch.zeros(1)
        expect = "1 unexpected keys: conv_post.bias"
    elif change == "half":
        del raw["conv_pre.weight_v"]
        expect = "1 unexpected keys: conv_pre.weight_g"
    else:
        raw["conv_pre.weight"] = torch.zeros_like(raw["conv_pre.weight_v"])
        expect = "2 unexpected keys: conv_pre.weight_g, conv_pre.weight_v"
    torch.save({"generator": raw}, folder / "bigvgan_generator.pt")
    with pytest.raises(CheckpointMismatch) as caught:
        convert_vocoder(folder, TINY44)
    assert expect in str(caught.value)
    if change == "half":
        assert "1 missing keys: conv_pre.weight" in str(caught.value)


def test_vocoder_config_json_must_describe_the_generator(tmp_path):
    folder = tmp_path / "bigvgan"
    write_official_vocoder(folder, TINY44)
    config = json.loads((folder / "config.json").read_text())
    config["upsample_rates"] = [4, 4, 2, 2, 2, 2]
    config["use_tanh_at_final"] = True
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(RengaError) as caught:
        convert_vocoder(folder, TINY44)
    line = str(caught.value)
    assert "upsample_rates=[4, 4, 2, 2, 2, 2] (expected [8, 8, 8])" in line
    assert "use_tanh_at_final=True (expected False)" in line


@pytest.mark.parametrize("rate", ["44k", "16k"])
def test_decoder_turns_latents_into_audio_of_the_latent_hop(files, tmp_path, rate):
    cfg = TINY44 if rate == "44k" else TINY16
    vae_state = convert_vae(files[f"vae{rate[:2]}"], cfg)
    vocoder_state = convert_vocoder(files[f"vocoder{rate[:2]}"], cfg)
    save_file(vae_state, tmp_path / "vae.safetensors")
    save_file(vocoder_state, tmp_path / "vocoder.safetensors")
    decoder = build_decoder(
        load_file(tmp_path / "vae.safetensors"), load_file(tmp_path / "vocoder.safetensors"), cfg
    )
    assert decoder.sample_rate == cfg.sample_rate
    assert decoder.latent_hop == (1024 if rate == "44k" else 512)
    latents = torch.randn(2, 7, cfg.latent_dim, generator=torch.Generator().manual_seed(5))
    audio = decoder.decode(latents)
    assert audio.shape == (2, 7 * decoder.latent_hop) == (2, cfg.samples(7))
    assert audio.dtype == torch.float32
    assert audio.abs().max() <= 1.0 and audio.std() > 0
    torch.testing.assert_close(decoder.decode(latents[1:]), audio[1:], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="latents must be"):
        decoder.decode(latents.transpose(1, 2))


def test_16k_vocoder_is_bigvgan_v1_with_a_tanh_head(files):
    raw = torch.load(files["vocoder16"], weights_only=True)["generator"]
    assert "conv_post.bias" in raw
    vocoder = build_vocoder(convert_vocoder(files["vocoder16"], TINY16), TINY16)
    assert isinstance(vocoder.conv_post, _tanh_conv())
    x = torch.randn(1, vocoder.conv_post.in_channels, 9)
    with torch.no_grad():
        expected = torch.tanh(
            F.conv1d(x, vocoder.conv_post.weight, vocoder.conv_post.bias, padding=3)
        )
        torch.testing.assert_close(vocoder.conv_post(x), expected)


def test_real_sizes_and_lengths_on_meta():
    """Parameter counts of the released files (v1-44.pth 1.2G, v1-16.pth 655M, BigVGAN v2 512x
    122M, best_netG.pt 429M) and the reference's audio lengths for 8 s: 345 latents ->
    353280 samples at 44.1 kHz, 250 -> 128000 at 16 kHz."""
    counts = {}
    for rate, latents, samples in (("44k", 345, 353_280), ("16k", 250, 128_000)):
        cfg = DECODERS[rate]
        states = []
        for factory in (vae_module, vocoder_module):
            with torch.device("meta"):
                shapes = expected_shapes(factory(cfg))
            states.append({k: torch.empty(s, device="meta") for k, s in shapes.items()})
        decoder = build_decoder(*states, cfg, device=None)
        counts[rate] = (
            sum(p.numel() for p in decoder.vae.parameters()),
            sum(p.numel() for p in decoder.vocoder.parameters()),
        )
        audio = decoder.decode(torch.empty(1, latents, cfg.latent_dim, device="meta"))
        assert audio.shape == (1, samples) == (1, cfg.samples(latents))
    # the decoder only: the encoder is dropped as MMAudio drops it at inference
    assert counts["44k"] == (176_340_993, 122_152_752)
    assert counts["16k"] == (99_127_297, 112_199_473)


def test_full_vae_parameter_counts():
    """Encoder included, as the official files hold it: 305.5M (v1-44.pth, 1.2G) and 171.7M
    (v1-16.pth, 655M) float32 parameters."""
    with torch.device("meta"):
        counts = {
            rate: sum(p.numel() for p in vae_module(DECODERS[rate]).parameters())
            for rate in ("44k", "16k")
        }
    assert counts == {"44k": 305_479_682, "16k": 171_657_218}


def test_variants_pick_their_decoder():
    assert decoder_config("small_16k") is DECODERS["16k"]
    for variant in ("small_44k", "medium_44k", "large_44k", "large_44k_v2"):
        assert decoder_config(variant) is DECODERS["44k"]
    with pytest.raises(UserError) as caught:
        decoder_config("huge_48k")
    assert caught.value.key == "audio.variant"


def test_vocoder_is_found_in_a_folder_a_file_or_the_hf_cache(files, tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    assert locate_vocoder(str(files["vocoder44"]), "audio.vocoder", TINY44) == files["vocoder44"]
    assert locate_vocoder(str(files["vocoder16"]), "audio.vocoder", TINY16) == files["vocoder16"]

    repo = "tiny-org/tiny-bigvgan"
    with pytest.raises(UserError) as caught:
        locate_vocoder(repo, "audio.vocoder", TINY44)
    assert caught.value.key == "audio.vocoder"
    assert f"hf download {repo} bigvgan_generator.pt config.json" in caught.value.message
    assert "\n" not in str(caught.value)

    entry = tmp_path / "hub" / "models--tiny-org--tiny-bigvgan"
    revision = "0" * 40
    write_official_vocoder(entry / "snapshots" / revision, TINY44)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(revision)
    found = locate_vocoder(repo, "audio.vocoder", TINY44)
    assert found == entry / "snapshots" / revision
    build_vocoder(convert_vocoder(found, TINY44), TINY44)


def test_vocoder_errors_name_the_key(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "bigvgan_generator.pt").write_bytes(b"")
    with pytest.raises(UserError, match="no config.json") as caught:
        locate_vocoder(str(tmp_path / "half"), "audio.vocoder", TINY44)
    assert caught.value.key == "audio.vocoder"
    with pytest.raises(UserError, match="file not found: .*best_netG.pt.*needs best_netG.pt"):
        locate_vocoder(str(tmp_path / "best_netG.pt"), "audio.vocoder16", TINY16)
