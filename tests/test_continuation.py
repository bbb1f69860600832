"""`video.continuation=motion`: chained clips conditioned on the previous clip's last frames.

Plan-time refusals, node keys, the Wan condition on the tiny A14B model (the frames read
bit-exact from the store, the mask marking them known) and, through the real CLI on the draft
backends, the seam motion figure with and without motion frames."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import Cli, ok, tiny_job
from rich.console import Console
from test_real_models import TINY, job, models_args

from orchestrator.engine.context import NodeContext
from orchestrator.engine.progress import Reporter
from orchestrator.media.video import probe_video, read_frames
from orchestrator.render.run import execute
from orchestrator.stage import SegmentRequest
from stages.diffusion.pool import ModelPool
from stages.video import wan_motion
from stages.video.wan import Wan22I2V, Wan22TI2V


def long_take(frames: int = 64) -> dict[str, Any]:
    """One shot of four 17-frame draft clips, chained, on a card with texture to track."""
    shot = {"prompt": "a lighthouse on a cliff at dusk", "motion": "the camera drifts"}
    return tiny_job(
        width=320, height=192, transition="continue", shots=[{**shot, "frames": frames}]
    )


def _segments(run: dict[str, Any]) -> dict[str, str]:
    return {n["id"]: n["key"] for n in run["nodes"] if n["stage"] == "segment"}


def _seam_motion(run: dict[str, Any]) -> list[float]:
    (assemble,) = [n for n in run["nodes"] if n["stage"] == "assemble"]
    return [s["motion"] for s in assemble["metrics"]["seams"]]


@pytest.mark.slow
def test_motion_frames_carry_the_camera_across_seams_through_the_cli(cli: Cli):
    """Same frame count as planned; the seam motion ratio (1: as inside a clip) at least 2x
    better with motion frames; only chained clips' keys change."""
    runs = {}
    for mode in ("frame", "motion"):
        args = ("preset=draft", "audio=none", "video.frames=17", f"video.continuation={mode}")
        result = ok(cli(*args, job=long_take()))
        assert probe_video(result.run_dir / "final.mp4").frames == 64
        runs[mode] = cli.run_json(result)
    frame, motion = (_seam_motion(runs[m]) for m in ("frame", "motion"))
    assert len(frame) == len(motion) == 3
    assert np.mean(frame) >= 2 * np.mean(motion), (frame, motion)
    assert max(motion) < 2.0, motion
    keys = {mode: _segments(run) for mode, run in runs.items()}
    assert keys["frame"]["segment/0.0"] == keys["motion"]["segment/0.0"]
    for segment in ("segment/0.1", "segment/0.2", "segment/0.3"):
        assert keys["frame"][segment] != keys["motion"][segment]


@pytest.mark.parametrize(
    ("overrides", "key", "text"),
    [
        (("video.continuation=fused",), "video.continuation", "must be frame, motion or latent"),
        (("video.motion_frames=1",), "video.motion_frames", "at least 2"),
    ],
)
def test_bad_continuation_is_one_line(cli: Cli, overrides, key, text):
    result = cli("preset=draft", *overrides, job=long_take())
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}: "), result.stderr
    assert text in lines[0]
    assert not (result.run_dir / "final.mp4").exists()


@pytest.mark.parametrize(
    ("video", "overrides", "key", "text"),
    [
        ("wan22_i2v_a14b", ("video.motion_frames=6",), "video.motion_frames", "4k+1"),
        ("wan22_ti2v_5b", ("video.motion_frames=7",), "video.motion_frames", "4k+1"),
    ],
)
def test_wan_refuses_what_it_cannot_do_at_plan_time(
    cli: Cli, tiny_models, offline_env, video, overrides, key, text
):
    args = (*models_args(tiny_models, video), *TINY, "video.continuation=motion", *overrides)
    result = cli(*args, job=job(transition="continue"), env=offline_env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}: "), result.stderr
    assert text in lines[0]


def vae_reference(pipe: Any, frames: list[np.ndarray]) -> torch.Tensor:
    """`frames` through the pipeline's VAE (its mode), normalised by hand: the reference a
    condition built by the backend must equal."""
    pixels = torch.from_numpy(np.stack(frames)).float().div(127.5).sub(1.0).permute(3, 0, 1, 2)
    config = pipe.vae.config
    mean = torch.tensor(config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(config.latents_std).view(1, -1, 1, 1, 1)
    return (pipe.vae.encode(pixels[None]).latent_dist.mode() - mean) / std


def _texture(seed: int, n: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(n)]


def test_wan_conditions_on_the_context_frames_masked_as_known(tiny_models, tmp_path):
    """The condition video the VAE encodes starts with the 5 context frames exactly, zeros
    after; the mask the transformer sees marks latent frames 0-1 (pixel frames 0-4) known; the
    clip still has the requested 9 frames."""
    backend = Wan22I2V(
        model=str(tiny_models["a14b"]), steps=2, frames=9, max_sequence_length=16,
        continuation="motion", guidance_scale=1.0, guidance_scale_2=1.0,
    )  # fmt: skip
    pool = ModelPool()
    ctx = NodeContext("segment/0.1", tmp_path, {}, pool)
    pipe = backend.pipe(ctx)
    encoded: list[Any] = []
    encode = pipe.vae.encode
    pipe.vae.encode = lambda x, *a, **k: (encoded.append(x.detach().clone()), encode(x, *a, **k))[1]
    seen: list[Any] = []
    pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"].detach().clone()),
        with_kwargs=True,
    )
    context = _texture(3)
    request = SegmentRequest(0, 1, "the kite climbs", "", 32, 32, 9, Fraction(16), 7)
    frames = list(backend.generate(request, context[-1], None, ctx, context=context))
    assert len(frames) == 9 and frames[0].shape == (32, 32, 3)
    (video,) = encoded
    assert video.shape[2] == 13  # 9 frames + the 4 before the start frame
    pixels = ((video[0, :, :5].float() + 1) * 127.5).round().permute(1, 2, 3, 0).numpy()
    np.testing.assert_array_equal(pixels.astype(np.uint8), np.stack(context))
    assert not video[:, :, 5:].any()
    mask = seen[0][:, 16:20]  # latents (16 channels), mask (4), condition (16)
    assert mask.shape[2] == 4 and mask[:, :, :2].eq(1).all() and not mask[:, :, 2:].any()
    assert not hasattr(pipe, "prepare_latents") or "prepare_latents" not in vars(pipe)


def test_chained_wan_clip_gets_the_previous_clips_last_frames_from_the_store(
    make_config, tiny_models, tmp_path, monkeypatch
):
    """Through the render path: segment/0.1's condition frames are frames 4-8 of segment/0.0's
    lossless clip, bit-exact; the first clip has no context."""
    calls: list[list[np.ndarray]] = []
    condition_frames = wan_motion.condition_frames

    def recorded(pipe: Any, frames: Any, height: int, width: int) -> Any:
        calls.append([np.array(f) for f in frames])
        return condition_frames(pipe, frames, height, width)

    monkeypatch.setattr(wan_motion, "condition_frames", recorded)
    # Uncorrected: colour matching (on by default for chained clips) would shift the frames.
    args = (
        *models_args(tiny_models),
        *TINY,
        "video.continuation=motion",
        "assemble.color_match=none",
    )
    cfg = make_config(*args, f"cache_dir={tmp_path / 'cache'}", job=job(), draft=False)
    reporter = Reporter(Console(file=io.StringIO()))
    with reporter:
        run = execute(cfg, tmp_path / "run", reporter)
    store = Path(run["store"])
    keys = _segments(run)
    previous = list(read_frames(store / "segment" / keys["segment/0.0"] / "clip.mkv"))
    (context,) = calls
    np.testing.assert_array_equal(np.stack(context), np.stack(previous[4:9]))
    assert probe_video(store / "segment" / keys["segment/0.1"] / "clip.mkv").frames == 5


def test_ti2v_replaces_the_first_latents_with_the_context_at_timestep_0(tiny_models, tmp_path):
    """TI2V-5B has no condition channels: the 5 context frames' latents (exactly their VAE
    encoding) replace latents 0-1 of what the transformer sees, whose tokens get timestep 0;
    the rest is noise at the step's timestep. The clip has the requested 9 frames."""
    backend = Wan22TI2V(
        model=str(tiny_models["ti2v"]), steps=2, frames=9, max_sequence_length=16,
        continuation="motion", guidance_scale=1.0,
    )  # fmt: skip
    ctx = NodeContext("segment/0.1", tmp_path, {}, ModelPool())
    pipe = backend.pipe(ctx)
    seen: list[tuple[Any, Any]] = []
    pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(
            (kwargs["hidden_states"].detach().clone(), kwargs["timestep"].detach().clone())
        ),
        with_kwargs=True,
    )
    context = _texture(4)
    reference = vae_reference(pipe, context)
    assert reference.shape[2] == 2
    request = SegmentRequest(0, 1, "the kite climbs", "", 32, 32, 9, Fraction(24), 7)
    frames = list(backend.generate(request, context[-1], None, ctx, context=context))
    assert len(frames) == 9
    for hidden, timestep in seen:
        assert hidden.shape[2] == 4  # 9 + 4 frames
        torch.testing.assert_close(hidden[:, :, :2], reference, rtol=0, atol=1e-5)
        per_frame = timestep.view(hidden.shape[0], 4, -1)
        assert not per_frame[:, :2].any() and per_frame[:, 2:].gt(0).all()
    assert not hasattr(pipe, "prepare_latents") or "prepare_latents" not in vars(pipe)


@pytest.mark.slow
def test_ti2v_motion_chain_renders_through_the_cli(cli: Cli, tiny_models, offline_env):
    """TI2V-5B with continuation=motion: the planned frames, at TI2V's 32-pixel grid."""
    args = (*models_args(tiny_models, "wan22_ti2v_5b"), *TINY, "video.continuation=motion")
    result = ok(cli(*args, job=job(), env=offline_env))
    assert probe_video(result.run_dir / "final.mp4").frames == 20
