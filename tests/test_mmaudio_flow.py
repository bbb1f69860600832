"""The MMAudio flow network: real-size shapes, strict official-layout loading, sampling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stages.audio.mmaudio.checkpoint import CheckpointMismatch
from stages.audio.mmaudio.flow_weights import build_flow, convert_flow, flow_shapes
from stages.audio.mmaudio.network import Conditions, FlowNetwork
from stages.audio.mmaudio.sampler import sample
from stages.audio.mmaudio.variants import VARIANTS
from tests.tiny_mmaudio_flow import (
    TINY_SEQUENCE,
    official_flow_shapes,
    official_flow_state,
    tiny_flow_config,
    write_official_flow,
)

# Upstream MMAudio (974010a) run on the tiny files below with the inputs of `tiny_inputs`:
# velocity sum, |velocity| sum, v[0, 0, :4], v[1, -1, -4:].
GOLDEN = {
    False: (
        97.78637,
        406.53958,
        [-2.2072601, -0.0766103, -0.3150023, 0.0388195],
        [0.1267904, 0.3313261, 0.5859442, 0.2236644],
    ),
    True: (
        13.450822,
        434.10385,
        [-0.6851225, -0.0263225, -0.1534387, 2.1605873],
        [-0.1261480, -1.3015310, -0.6914818, -0.5955172],
    ),
}
# Upstream FlowMatching(num_steps=4) + ode_wrapper(cfg 4.5) + unnormalize, noise seed 7:
# latents sum, |latents| sum.
GOLDEN_SAMPLE = {False: (-83.246910, 913.44519), True: (18.116245, 719.47589)}


def tiny_network(tmp_path: Path, v2: bool) -> FlowNetwork:
    cfg = tiny_flow_config(v2)
    net = build_flow(convert_flow(write_official_flow(tmp_path / f"tiny_{v2}.pth", cfg), cfg), cfg)
    net.set_lengths(TINY_SEQUENCE.latent_len, TINY_SEQUENCE.clip_len, TINY_SEQUENCE.sync_len)
    return net


def tiny_inputs(net: FlowNetwork) -> tuple[torch.Tensor, ...]:
    cfg, seq = net.cfg, TINY_SEQUENCE
    g = torch.Generator().manual_seed(1)
    clip = torch.randn(2, seq.clip_len, cfg.clip_dim, generator=g)
    sync = torch.randn(2, seq.sync_len, cfg.sync_dim, generator=g)
    text = torch.randn(2, cfg.text_len, cfg.text_dim, generator=g)
    x = torch.randn(2, seq.latent_len, cfg.latent_dim, generator=g)
    return clip, sync, text, x


@pytest.mark.parametrize(
    ("name", "millions"),
    [
        ("small_16k", 157.3),
        ("small_44k", 157.4),
        ("medium_44k", 621.8),
        ("large_44k", 1030.0),
        ("large_44k_v2", 1030.6),
    ],
)
def test_real_variants_have_the_published_parameter_counts(name: str, millions: float) -> None:
    with torch.device("meta"):
        net = FlowNetwork(VARIANTS[name].network)
    count = sum(p.numel() for p in net.parameters())
    assert round(count / 1e6, 1) == millions
    assert sum(v.numel() for v in net.state_dict().values()) == count


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_real_variants_have_the_official_key_layout(name: str) -> None:
    cfg = VARIANTS[name].network
    shapes = flow_shapes(cfg)
    assert shapes == official_flow_shapes(cfg, cfg.v2)
    mlp = 1280 if cfg.hidden_dim == 448 else 2560
    assert shapes["fused_blocks.0.ffn.w1.weight"] == (mlp, cfg.hidden_dim, 3)
    assert shapes["t_embed.mlp.0.weight"][1] == (cfg.hidden_dim if cfg.v2 else 256)


def test_sequence_lengths_match_upstream_for_8_seconds() -> None:
    s16, s44 = VARIANTS["small_16k"].sequence(8.0), VARIANTS["large_44k_v2"].sequence(8.0)
    assert (s16.latent_len, s16.clip_len, s16.sync_len, s16.audio_samples) == (250, 64, 192, 128000)
    assert (s44.latent_len, s44.clip_len, s44.sync_len, s44.audio_samples) == (345, 64, 192, 353280)
    assert VARIANTS["small_16k"].sequence(0.5).sync_len == 0


@pytest.mark.parametrize("v2", [False, True])
def test_official_layout_loads_strictly_and_matches_upstream(tmp_path: Path, v2: bool) -> None:
    cfg = tiny_flow_config(v2)
    path = write_official_flow(tmp_path / "flow.pth", cfg)
    state = convert_flow(path, cfg)
    official = official_flow_state(cfg)
    assert state.keys() == official.keys()
    assert all(torch.equal(state[k], official[k]) for k in official)

    net = build_flow(state, cfg)
    net.set_lengths(TINY_SEQUENCE.latent_len, TINY_SEQUENCE.clip_len, TINY_SEQUENCE.sync_len)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    clip, sync, text, x = tiny_inputs(net)
    t = torch.tensor([0.25, 0.75])
    with torch.inference_mode():
        v = net.velocity(x, t, net.conditions(clip, sync, text))
        again = tiny_network(tmp_path, v2).velocity(x, t, net.conditions(clip, sync, text))
    assert v.shape == (2, TINY_SEQUENCE.latent_len, cfg.latent_dim)
    assert torch.equal(v, again)
    total, magnitude, first, last = GOLDEN[v2]
    assert v.sum().item() == pytest.approx(total, rel=1e-4, abs=1e-3)
    assert v.abs().sum().item() == pytest.approx(magnitude, rel=1e-4)
    assert v[0, 0, :4].tolist() == pytest.approx(first, abs=1e-4)
    assert v[1, -1, -4:].tolist() == pytest.approx(last, abs=1e-4)


def test_sync_features_steer_the_velocity(tmp_path: Path) -> None:
    net = tiny_network(tmp_path, False)
    clip, sync, text, x = tiny_inputs(net)
    with torch.inference_mode():
        base = net.velocity(x, 0.5, net.conditions(clip, sync, text))
        moved = net.velocity(x, 0.5, net.conditions(clip, sync.flip(1), text))
        later = net.velocity(x, 0.9, net.conditions(clip, sync, text))
    assert not torch.allclose(base, moved)
    assert not torch.allclose(base, later)


def test_derived_tables_in_old_files_are_dropped(tmp_path: Path) -> None:
    cfg = tiny_flow_config()
    state = convert_flow(write_official_flow(tmp_path / "f.pth", cfg, derived=True), cfg)
    assert not {"t_embed.freqs", "latent_rot", "clip_rot"} & state.keys()


def _mismatch(tmp_path: Path, state: dict[str, torch.Tensor], v2: bool = False) -> str:
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatch) as caught:
        convert_flow(path, tiny_flow_config(v2))
    line = str(caught.value)
    assert "\n" not in line and str(path) in line
    return line


def test_missing_key_is_named(tmp_path: Path) -> None:
    state = official_flow_state(tiny_flow_config())
    del state["fused_blocks.0.attn.q_norm.weight"]
    assert "1 missing keys: fused_blocks.0.attn.q_norm.weight" in _mismatch(tmp_path, state)


def test_extra_key_is_named(tmp_path: Path) -> None:
    state = official_flow_state(tiny_flow_config())
    state["joint_blocks.9.latent_block.attn.qkv.weight"] = torch.zeros(3, 3)
    assert "1 unexpected keys: joint_blocks.9.latent_block.attn.qkv.weight" in _mismatch(
        tmp_path, state
    )


def test_v1_file_for_a_v2_network_lists_the_shifted_keys(tmp_path: Path) -> None:
    line = _mismatch(tmp_path, official_flow_state(tiny_flow_config(False)), v2=True)
    assert "missing keys: clip_input_proj.2.w1.weight" in line
    assert "unexpected keys: clip_input_proj.1.w1.weight" in line
    assert "t_embed.mlp.0.weight (64, 256) != (64, 64)" in line


def test_build_flow_checks_its_state_too() -> None:
    state = official_flow_state(tiny_flow_config())
    state.pop("latent_mean")
    with pytest.raises(CheckpointMismatch, match="latent_mean"):
        build_flow(state, tiny_flow_config())


def test_converted_state_round_trips_through_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    cfg = tiny_flow_config(True)
    save_file(convert_flow(write_official_flow(tmp_path / "f.pth", cfg), cfg), tmp_path / "f.st")
    net = build_flow(load_file(tmp_path / "f.st"), cfg)
    assert net.latent_std.dtype == torch.float32


def test_normalize_inverts_unnormalize(tmp_path: Path) -> None:
    net = tiny_network(tmp_path, False)
    x = torch.randn(1, 5, net.cfg.latent_dim)
    assert torch.allclose(net.normalize(net.unnormalize(x)), x, atol=1e-6)
    assert not torch.allclose(net.unnormalize(x), x)


def test_empty_conditions_broadcast_and_take_a_negative_prompt(tmp_path: Path) -> None:
    net = tiny_network(tmp_path, False)
    _, _, text, _ = tiny_inputs(net)
    empty = net.empty_conditions(3)
    assert empty.batch == 3 and empty.clip.shape[0] == empty.text.shape[0] == 3
    negative = net.empty_conditions(2, negative_text=text)
    assert negative.batch == 2
    assert not torch.allclose(negative.text_global, net.empty_conditions(2).text_global)


def test_a_batch_of_one_broadcasts(tmp_path: Path) -> None:
    net = tiny_network(tmp_path, True)
    clip, sync, text, x = tiny_inputs(net)
    with torch.inference_mode():
        shared_prompt = net.conditions(clip, sync, text[:1])
        single = net.conditions(clip[:1], sync[:1], text[:1])
        both = net.velocity(x, 0.3, single)
        first = net.velocity(x[:1], 0.3, single)
    assert shared_prompt.batch == 2 and shared_prompt.text.shape[0] == 2
    assert torch.allclose(both[:1], first, atol=1e-5)


def test_bfloat16_velocity_follows_float32(tmp_path: Path) -> None:
    net = tiny_network(tmp_path, True)
    clip, sync, text, x = tiny_inputs(net)
    with torch.inference_mode():
        full = net.velocity(x, 0.4, net.conditions(clip, sync, text))
        half = net.to(torch.bfloat16)
        low = half.velocity(
            x.bfloat16(), 0.4, half.conditions(clip.bfloat16(), sync.bfloat16(), text.bfloat16())
        )
    assert low.dtype == torch.bfloat16
    assert (low.float() - full).abs().mean() < 0.05 * full.abs().mean()


def test_wrong_lengths_and_shapes_are_refused(tmp_path: Path) -> None:
    net = tiny_network(tmp_path, False)
    clip, sync, text, x = tiny_inputs(net)
    with pytest.raises(ValueError, match="sync features"):
        net.conditions(clip, sync[:, :8], text)
    with pytest.raises(ValueError, match="latents"):
        net.velocity(x[:, :4], 0.0, net.conditions(clip, sync, text))
    with pytest.raises(ValueError, match="0.64 s"):
        net.set_lengths(32, 8, 0)
    with pytest.raises(RuntimeError, match="set_lengths"):
        FlowNetwork(tiny_flow_config()).empty_clip(1)


class Counting:
    """Counts network evaluations by wrapping `velocity`."""

    def __init__(self, net: FlowNetwork, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[Conditions] = []
        original = net.velocity

        def velocity(x: torch.Tensor, t: float, conditions: Conditions) -> torch.Tensor:
            self.calls.append(conditions)
            return original(x, t, conditions)

        monkeypatch.setattr(net, "velocity", velocity)


@pytest.mark.parametrize(("cfg_strength", "per_step"), [(4.5, 2), (1.0, 2), (0.5, 1)])
def test_cfg_evaluates_twice_per_step_and_is_off_below_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cfg_strength: float, per_step: int
) -> None:
    net = tiny_network(tmp_path, False)
    clip, sync, text, _ = tiny_inputs(net)
    cond, empty = net.conditions(clip, sync, text), net.empty_conditions(2)
    counter = Counting(net, monkeypatch)
    progress: list[tuple[int, int]] = []
    out = sample(
        net,
        cond,
        empty,
        torch.Generator().manual_seed(0),
        steps=3,
        cfg_strength=cfg_strength,
        callback=lambda done, total: progress.append((done, total)),
    )
    assert out.shape == (2, TINY_SEQUENCE.latent_len, net.cfg.latent_dim)
    assert len(counter.calls) == 3 * per_step
    assert all(c is cond for c in counter.calls[::per_step])
    if per_step == 2:
        assert all(c is empty for c in counter.calls[1::2])
    assert progress == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("v2", [False, True])
def test_sampler_is_deterministic_and_matches_upstream(tmp_path: Path, v2: bool) -> None:
    net = tiny_network(tmp_path, v2)
    clip, sync, text, _ = tiny_inputs(net)
    cond, empty = net.conditions(clip, sync, text), net.empty_conditions(2)

    def run(seed: int) -> torch.Tensor:
        return sample(net, cond, empty, torch.Generator().manual_seed(seed), steps=4)

    first = run(7)
    assert torch.equal(first, run(7))
    assert not torch.allclose(first, run(8))
    total, magnitude = GOLDEN_SAMPLE[v2]
    assert first.sum().item() == pytest.approx(total, rel=1e-4, abs=1e-3)
    assert first.abs().sum().item() == pytest.approx(magnitude, rel=1e-4)
