"""Optical-flow interpolation: better than a blend on moving content, exact frame counts."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from conftest import ROOT, Cli, ok, tiny_job

from orchestrator.engine.errors import UserError
from orchestrator.media.video import probe_video
from stages.interpolate import FlowInterpolator, output_frames


def _texture(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    noise = cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.float32), (0, 0), sigma)
    return cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX)


def moving_pattern(t: float) -> np.ndarray:
    """A textured square crossing a panning textured background (so parts are occluded)."""
    rng = np.random.default_rng(0)
    background = 0.6 * _texture(rng, 240, 480, 8) + 0.4 * _texture(rng, 240, 480, 2)
    square = 0.6 * _texture(rng, 64, 64, 6) + 0.4 * _texture(rng, 64, 64, 1.5)
    x0 = round(80 + 3 * t)
    frame = background[20:200, x0 : x0 + 240].copy()
    x = round(100 - 6 * t)
    frame[50:114, x : x + 64] = square
    return frame.astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255**2 / mse))


def test_middle_frame_beats_a_plain_blend():
    a, truth, b = moving_pattern(0), moving_pattern(1), moving_pattern(2)
    (middle,) = FlowInterpolator(factor=2).between(a, b)
    blend = (a.astype(np.float32) + b) / 2
    assert psnr(middle, truth) > psnr(blend, truth) + 3


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("loop", [False, True])
def test_frame_counts_and_originals_kept(factor: int, loop: bool):
    frames = [moving_pattern(2 * t)[:64, :96].copy() for t in range(4)]
    out = list(FlowInterpolator(factor=factor).frames(frames, loop))
    assert len(out) == output_frames(4, factor, loop) == (4 * factor if loop else 3 * factor + 1)
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(out[i * factor], frame)


def test_bad_options_name_the_key():
    for options, key in (
        ({"factor": 3}, "interpolate.factor"),
        ({"preset": "slowest"}, "interpolate.preset"),
        ({"occlusion": 0}, "interpolate.occlusion"),
    ):
        with pytest.raises(UserError) as err:
            FlowInterpolator(**options).validate(None)  # type: ignore[arg-type]
        assert err.value.key == key


@pytest.mark.parametrize("loop", ["none", "closure", "pingpong"])
def test_cli_output_follows_the_interpolated_rate(cli: Cli, loop: str):
    job = tiny_job(loop=loop, soundtrack=str(ROOT / "assets" / "music" / "loop_120bpm.flac"))
    result = ok(cli("preset=draft", "video.frames=17", "interpolate=flow", job=job))
    run = cli.run_json(result)
    assembled = 62 if loop == "pingpong" else 32
    expected = assembled * 2 if loop != "none" else (assembled - 1) * 2 + 1
    assert (run["frames"], run["fps"]) == (expected, 32.0)
    assert run["duration"] == pytest.approx(expected / 32)
    node = next(n for n in run["nodes"] if n["id"] == "interpolate")
    assert node["metrics"]["frames"] == expected
    final = result.run_dir / "final.mp4"
    info = probe_video(final)
    assert (info.frames, info.fps) == (expected, 32)
    with av.open(str(final)) as container:
        audio = container.streams.audio[0]
        audio_seconds = float(audio.duration * audio.time_base)
    assert abs(audio_seconds - expected / 32) <= 1 / 32
    assert f"{expected} frames @ 32 fps" in result.stderr
