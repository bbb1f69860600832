"""`video.motion_amplitude`: PainterI2V's spread of the Wan I2V condition's placeholder latents.

The transform against hand-computed numbers (raw VAE space, clamp, known latents untouched);
on the tiny A14B model the condition both experts receive is exactly the transform of the one
they receive without it, for continuation=frame, motion and latent; 1.0 leaves frames
bit-identical and node keys as they were; TI2V-5B refuses it in one line."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
from conftest import Cli
from test_real_models import TINY, job, models_args

from orchestrator.engine.context import NodeContext
from orchestrator.render.stages import Stages
from orchestrator.stage import LatentContext, SegmentRequest
from stages.diffusion.pool import ModelPool
from stages.video.wan import Wan22I2V
from stages.video.wan_amplitude import amplified, amplify
from stages.video.wan_latent import save_latents

KNOWN, UNKNOWN, END = [1.0] * 4, [0.0] * 4, [0.0, 0.0, 0.0, 1.0]
# Raw (VAE output) latents, 2 channels x 1 x 2 pixels per latent.
START = [[[1.0, 3.0]], [[0.0, 0.0]]]
GREY_1 = [[[2.0, 2.0]], [[1.0, 3.0]]]
GREY_2 = [[[1.0, 3.0]], [[0.0, 8.0]]]
# By hand, amplitude 1.5, base START. GREY_1: diff [1,-1 | 1,3], mean 1, centred
# [0,-2 | 0,2] -> x1.5 [0,-3 | 0,3] -> +1 +START = [2,1 | 1,4]. GREY_2: diff [0,0 | 0,8],
# mean 2, centred [-2,-2 | -2,6] -> [-3,-3 | -3,9] -> +2 +START = [0,2 | -1,11], 11 clamped to 6.
SPREAD_1 = [[[2.0, 1.0]], [[1.0, 4.0]]]
SPREAD_2 = [[[0.0, 2.0]], [[-1.0, 6.0]]]
MEAN, STD = [1.0, -1.0], [2.0, 0.5]


def condition(masks: list[list[float]], raws: list[Any], mean: Any, std: Any) -> torch.Tensor:
    """(1, 4 + 2, T, 1, 2) with `raws` normalised as diffusers does."""
    mask = torch.tensor(masks).T[:, :, None, None].expand(4, len(masks), 1, 2)
    raw = torch.tensor(raws).permute(1, 0, 2, 3)  # (C, T, 1, 2)
    mean_, std_ = torch.tensor(mean).view(-1, 1, 1, 1), torch.tensor(std).view(-1, 1, 1, 1)
    return torch.cat([mask, (raw - mean_) / std_])[None]


@pytest.mark.parametrize(("mean", "std"), [([0.0, 0.0], [1.0, 1.0]), (MEAN, STD)])
def test_amplify_matches_the_hand_computed_spread_in_raw_space(mean, std):
    """Centred difference scaled, its mean kept, clamped at raw 6 (normalised 14 with MEAN/STD:
    the clamp is upstream's, in the VAE's space); mask and start latent exactly kept."""
    given = condition([KNOWN, UNKNOWN, UNKNOWN], [START, GREY_1, GREY_2], mean, std)
    expected = condition([KNOWN, UNKNOWN, UNKNOWN], [START, SPREAD_1, SPREAD_2], mean, std)
    out = amplify(given, 1.5, mean, std)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(out[:, :, 0], given[:, :, 0]) and torch.equal(out[:, :4], given[:, :4])
    assert amplify(given, 1.0, mean, std) is given  # off: the very tensor
    assert amplify(given, 0.8, mean, std) is given  # as upstream: only above 1.0


def test_amplify_keeps_every_known_latent_and_spreads_from_the_last():
    """Motion/latent layout (two known latents): the base is the second, the one ending on the
    start frame; a partly known end latent (morph, closure) is kept as encoded."""
    given = condition(
        [KNOWN, KNOWN, UNKNOWN, END], [GREY_2, START, GREY_1, GREY_2], MEAN, STD
    )  # fmt: skip
    out = amplify(given, 1.5, MEAN, STD)
    expected = condition(
        [KNOWN, KNOWN, UNKNOWN, END], [GREY_2, START, SPREAD_1, GREY_2], MEAN, STD
    )  # fmt: skip
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(out[:, :, [0, 1, 3]], given[:, :, [0, 1, 3]])


def _backend(tiny_models: dict[str, Any], **options: Any) -> Wan22I2V:
    return Wan22I2V(
        model=str(tiny_models["a14b"]), steps=2, frames=9, max_sequence_length=16,
        guidance_scale=1.0, guidance_scale_2=1.0, **options,
    )  # fmt: skip


def _request(frames: int = 9) -> SegmentRequest:
    return SegmentRequest(0, 1, "the kite climbs", "", 32, 32, frames, Fraction(16), 7)


def _texture(seed: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(n)]


def _received(backend: Wan22I2V, ctx: NodeContext, **inputs: Any) -> tuple[list, list, list]:
    """The clip's frames, the condition channels every expert call received and its output."""
    pipe = backend.pipe(ctx)
    seen: list[torch.Tensor] = []
    made: list[torch.Tensor] = []
    hooks = []
    for expert in (pipe.transformer, pipe.transformer_2):
        hooks.append(
            expert.register_forward_pre_hook(
                lambda m, a, k: seen.append(k["hidden_states"][:, 16:].detach().clone()),
                with_kwargs=True,
            )
        )
        hooks.append(expert.register_forward_hook(lambda m, a, out: made.append(out[0].clone())))
    try:
        frames = list(backend.generate(_request(), inputs.pop("start"), None, ctx, **inputs))
    finally:
        for hook in hooks:
            hook.remove()
    assert "prepare_latents" not in vars(pipe)  # put back
    return frames, seen, made


def _latents(tmp_path: Any) -> LatentContext:
    """A stored clip of 3 latents; the chained clip starts on its frame 8 (the 3rd latent)."""
    (tmp_path / "before").mkdir()
    file = tmp_path / "before" / "latents.safetensors"  # the clip made writes its own beside
    save_latents(file, torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(5)), 0)
    return LatentContext(file, 8)


@pytest.mark.parametrize("continuation", ["frame", "motion", "latent"])
def test_both_experts_get_the_amplified_condition(tiny_models, tmp_path, continuation):
    """Through the real pipeline: what each expert sees at 1.3 is `amplify` of what it sees at
    1.0, known latents exactly kept, placeholders moved, and what it predicts changes."""
    context = _texture(3, 5)
    inputs: dict[str, Any] = {"start": context[-1]}
    if continuation == "motion":
        inputs["context"] = context
    if continuation == "latent":
        inputs["latents"] = _latents(tmp_path)
    ctx = NodeContext("segment/0.1", tmp_path, {}, ModelPool())
    backend = _backend(tiny_models, continuation=continuation)
    plain, off, off_made = _received(backend, ctx, **dict(inputs))
    backend.motion_amplitude = 1.3
    moved, on, on_made = _received(backend, ctx, **inputs)
    assert len(off) == len(on) == 2  # two steps: the high-noise expert, then the low-noise one
    vae = backend.pipe(ctx).vae.config
    known = {"frame": 1, "motion": 2, "latent": 1}[continuation]
    for before, after in zip(off, on, strict=True):
        assert torch.equal(after, amplify(before, 1.3, vae.latents_mean, vae.latents_std))
        assert torch.equal(after[:, :, :known], before[:, :, :known])
        assert not torch.equal(after[:, :, known:], before[:, :, known:])
    # What each expert predicts changes (the tiny VAE's decoder all but flattens it in pixels).
    assert all(not torch.equal(a, b) for a, b in zip(off_made, on_made, strict=True))
    assert len(plain) == len(moved) == 9


def test_default_leaves_frames_bit_identical(tiny_models, tmp_path):
    """At 1.0 the clip is the one made without the option; even with the wrapper forced in
    place (it runs, counted) the frames are bit-identical."""
    ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
    backend = _backend(tiny_models)
    start = _texture(4, 1)[0]
    plain = list(backend.generate(_request(), start, None, ctx))
    pipe = backend.pipe(ctx)
    calls: list[int] = []
    prepare = type(pipe).prepare_latents
    pipe.prepare_latents = lambda *a, **k: (calls.append(1), prepare(pipe, *a, **k))[1]
    with amplified(pipe, 1.0):
        forced = list(backend.generate(_request(), start, None, ctx))
    del pipe.prepare_latents
    assert calls == [1]
    np.testing.assert_array_equal(np.stack(forced), np.stack(plain))


def test_only_an_amplitude_above_one_enters_the_segment_key(make_config, tiny_models):
    """Off, the backend params (hence every segment key) are what they were before the option;
    on, the value is keyed."""
    base = (*models_args(tiny_models), *TINY)
    off = Stages.from_config(make_config(*base, job=job(), draft=False)).params("video")
    assert "motion_amplitude" not in off
    cfg = make_config(*base, "video.motion_amplitude=1.15", job=job(), draft=False)
    on = Stages.from_config(cfg).params("video")
    assert on.pop("motion_amplitude") == 1.15 and on == off


@pytest.mark.parametrize(
    ("video", "value", "text"),
    [
        ("wan22_ti2v_5b", "1.15", "no placeholder latents to amplify"),
        ("wan22_i2v_a14b", "2.5", "2"),
    ],
)
def test_refused_in_one_line_at_plan_time(cli: Cli, tiny_models, offline_env, video, value, text):
    args = (*models_args(tiny_models, video), *TINY, f"video.motion_amplitude={value}")
    result = cli(*args, job=job(), env=offline_env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: video.motion_amplitude: "), lines
    assert text in lines[0] and "Traceback" not in result.stderr
    assert not (result.run_dir / "final.mp4").exists()
