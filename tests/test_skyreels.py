"""`video=skyreels_v2_df` on a tiny random SkyReels-V2 diffusion-forcing model: the V2V
continuation gets the previous clip's last frames as its history, the clip has the requested
frames, and a chained job through the real CLI renders the planned frames with one load."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli, ok
from test_real_models import TINY, job

from orchestrator.engine.context import NodeContext
from orchestrator.media.video import probe_video
from orchestrator.stage import SegmentRequest
from stages.diffusion.pool import ModelPool
from stages.video.skyreels import SkyReelsV2DF

LOADING = "loading SkyReelsV2DiffusionForcingImageToVideoPipeline"


@pytest.fixture(scope="session")
def skyreels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tiny_models

    return tiny_models.skyreels_df(tmp_path_factory.mktemp("tiny-skyreels") / "skyreels")


def _args(tiny_models: dict[str, Path], skyreels: Path, *extra: str) -> tuple[str, ...]:
    return (
        f"keyframes.model={tiny_models['zit']}", "video=skyreels_v2_df",
        f"video.model={skyreels}", *TINY, *extra,
    )  # fmt: skip


def test_a_chained_clip_continues_the_context_frames_as_history(skyreels, tmp_path, monkeypatch):
    """The VAE encodes exactly the 5 context frames (the V2V history, overlap_history=5), the
    pipeline is asked for 9 + 4 frames, and 9 come back; the first clip takes the I2V pipeline
    from one frame; both share one load."""
    backend = SkyReelsV2DF(
        model=str(skyreels), steps=2, frames=9, max_sequence_length=16,
        continuation="motion", motion_frames=5, guidance_scale=1.0,
    )  # fmt: skip
    pool = ModelPool()
    ctx = NodeContext("segment/0.1", tmp_path, {}, pool)
    pipe = backend.video_pipe(ctx)
    encoded: list[Any] = []
    encode = pipe.vae.encode
    pipe.vae.encode = lambda x, *a, **k: (encoded.append(x.detach().clone()), encode(x, *a, **k))[1]
    calls: list[dict[str, Any]] = []
    call = type(pipe).__call__
    monkeypatch.setattr(type(pipe), "__call__", lambda s, **k: (calls.append(k), call(s, **k))[1])
    rng = np.random.default_rng(3)
    context = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(7)]
    request = SegmentRequest(0, 1, "the kite climbs", "", 32, 32, 9, Fraction(24), 7)
    frames = list(backend.generate(request, context[-1], None, ctx, context=context))
    pipe.vae.encode = encode
    assert len(frames) == 9 and frames[0].shape == (32, 32, 3) and frames[0].dtype == np.uint8
    (kwargs,) = calls
    assert (kwargs["overlap_history"], kwargs["num_frames"]) == (5, 13)
    assert kwargs["addnoise_condition"] == 20.0 and kwargs["fps"] == 24
    (video,) = encoded
    assert video.shape[2] == 5  # the last 4k+1 of the 7 context frames
    pixels = ((video[0].float() + 1) * 127.5).round().permute(1, 2, 3, 0).numpy()
    np.testing.assert_array_equal(pixels.astype(np.uint8), np.stack(context[2:]))
    assert ctx.metrics["history_frames"] == 5
    first = NodeContext("segment/0.0", tmp_path, {}, pool)
    assert len(list(backend.generate(request, context[0], None, first))) == 9
    assert "history_frames" not in first.metrics
    assert backend.pipe(first) is not pipe and backend.pipe(first).transformer is pipe.transformer


@pytest.mark.slow
def test_a_chained_job_renders_the_planned_frames_through_the_cli(
    cli: Cli, tiny_models, skyreels, offline_env
):
    """Shot 0 is two clips (the second the V2V continuation of the first's last 5 frames),
    shot 1 one: 20 frames at 24 fps, and the model loaded once for all three."""
    args = _args(tiny_models, skyreels, "video.continuation=motion", "video.motion_frames=5")
    result = ok(cli(*args, job=job(), env=offline_env))
    info = probe_video(result.run_dir / "final.mp4")
    assert (info.frames, info.fps, info.width, info.height) == (20, Fraction(24), 32, 32)
    run = cli.run_json(result)
    segments = {n["id"]: n for n in run["nodes"] if n["stage"] == "segment"}
    assert sorted(segments) == ["segment/0.0", "segment/0.1", "segment/1.0"]
    assert segments["segment/0.1"]["metrics"]["history_frames"] == 5
    assert "history_frames" not in segments["segment/0.0"].get("metrics", {})
    assert (result.stdout + result.stderr).count(LOADING) == 1


@pytest.mark.parametrize(
    ("overrides", "jobs", "key", "text"),
    [
        (("video.continuation=motion", "video.motion_frames=6"), {}, "video.motion_frames", "4k+1"),
        (("video.base_num_frames=96",), {}, "video.base_num_frames", "4k+1"),
        ((), {"transition": "morph"}, "job.transition", "last_image"),
        (("job.width=40",), {}, "job.width", "16"),
    ],
)
def test_skyreels_refuses_what_it_cannot_do_at_plan_time(
    cli: Cli, tiny_models, skyreels, offline_env, overrides, jobs, key, text
):
    result = cli(*_args(tiny_models, skyreels, *overrides), job=job(**jobs), env=offline_env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}: "), result.stderr
    assert text in lines[0]
    assert not (result.run_dir / "final.mp4").exists()


def test_a_wan_folder_is_refused_by_name(cli: Cli, tiny_models, offline_env):
    args = (f"keyframes.model={tiny_models['zit']}", "video=skyreels_v2_df",
            f"video.model={tiny_models['a14b']}", *TINY)  # fmt: skip
    result = cli(*args, job=job(), env=offline_env)
    assert result.returncode == 2, result.stderr
    assert "video.model" in result.stderr and "video=wan22_i2v_a14b" in result.stderr
