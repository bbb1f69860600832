"""MagCache on Wan 2.2 (tiny random models, offline): calibration through the real CLI, each
expert's slice of the ratios, real skipping, and the plan-time checks."""

from __future__ import annotations

import re
import shlex
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli, ok, tiny_job
from PIL import Image

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.render.run import prepare
from orchestrator.stage import SegmentRequest
from stages.diffusion.pool import ModelPool
from stages.diffusion.step_caches import count_calls
from stages.video.wan import Wan22I2V, Wan22TI2V

TINY = (
    "keyframes.steps=2",
    "keyframes.resolution=48",
    "keyframes.max_sequence_length=32",
    "video.frames=9",
    "video.max_sequence_length=16",
    "audio=none",
)
PASTE = re.compile(r"^magcache ratios \(paste as an override\): ('video\.mag_ratios=\[\S+\]')$")


def _job() -> dict[str, Any]:
    shot = {"prompt": "a red kite over a field", "motion": "the kite climbs", "frames": 8}
    return tiny_job(width=32, height=32, shots=[shot])


def _wan(models: dict[str, Path], **settings: Any) -> Wan22I2V:
    values = {"steps": 8, "frames": 9, "max_sequence_length": 16, **settings}
    return Wan22I2V(model=str(models["a14b"]), **values)


def _segment(backend: Any, size: int = 32, frames: int = 9) -> tuple[np.ndarray, dict]:
    request = SegmentRequest(
        shot=0, index=0, prompt="the kite climbs", negative_prompt="blurry",
        width=size, height=size, num_frames=frames, fps=Fraction(16), seed=7,
    )  # fmt: skip
    ramp = np.linspace(0, 255, size, dtype=np.uint8)
    start = np.stack([np.tile(ramp, (size, 1))] * 3, axis=-1)
    ctx = NodeContext("segment/0.0", Path("."), {}, ModelPool())
    clip = np.stack(list(backend.generate(request, start, None, ctx)))
    return clip, ctx.metrics


@pytest.mark.slow
def test_calibrate_then_render_with_the_pasted_ratios(cli: Cli, tiny_models, offline_env):
    models = (f"keyframes.model={tiny_models['zit']}", f"video.model={tiny_models['a14b']}")
    calibrate = ("video.step_cache=magcache", "video.mag_calibrate=true", "video.steps=4")
    result = ok(cli(*models, *TINY, *calibrate, job=_job(), env=offline_env))
    pasted = [m.group(1) for line in result.stderr.splitlines() if (m := PASTE.match(line))]
    pasted = [shlex.split(line)[0] for line in pasted]  # as a shell passes it on
    assert len(pasted) == 1, result.stderr
    (segment,) = [n for n in cli.run_json(result)["nodes"] if n["stage"] == "segment"]
    ratios = segment["metrics"]["mag_ratios"]
    assert len(ratios) == 4 and ratios[0] == 1.0
    assert pasted[0] == f"video.mag_ratios=[{','.join(repr(r) for r in ratios)}]"
    assert "mag_skipped" not in segment["metrics"]

    use = ("video.step_cache=magcache", pasted[0], "video.cache_threshold=1.0", "video.steps=4")
    result = ok(cli(*models, *TINY, *use, job=_job(), env=offline_env))
    (segment,) = [n for n in cli.run_json(result)["nodes"] if n["stage"] == "segment"]
    skipped = segment["metrics"]["mag_skipped"]
    assert skipped["transformer"] > 0 and skipped["transformer_2"] > 0, skipped
    assert not any(PASTE.match(line) for line in result.stderr.splitlines())


@pytest.mark.parametrize(
    ("steps", "boundary", "shift"), [(6, 0.9, 5.0), (5, 0.5, 1.0), (4, 0.3, 12.0)]
)
def test_the_split_matches_the_steps_each_expert_really_takes(tiny_models, steps, boundary, shift):
    backend = _wan(
        tiny_models, steps=steps, boundary_ratio=boundary, shift=shift,
        guidance_scale=1.0, guidance_scale_2=1.0, frames=5,
    )  # fmt: skip
    high, low = backend.expert_steps(str(tiny_models["a14b"]))
    assert high + low == steps
    counts: dict[str, int] = {}
    pipe = backend.pipe(NodeContext("x", Path("."), {}, ModelPool()))
    handles = count_calls(pipe, backend.denoisers, counts)
    pipe(
        image=Image.new("RGB", (16, 16)), prompt="a kite",
        height=16, width=16, num_frames=5, num_inference_steps=steps, guidance_scale=1.0,
        guidance_scale_2=1.0, max_sequence_length=16, output_type="latent",
    )  # fmt: skip
    for handle in handles:
        handle.remove()
    assert (counts.get("transformer", 0), counts.get("transformer_2", 0)) == (high, low)


def test_each_expert_gets_its_own_slice_of_the_ratios(tiny_models):
    """High expert's 3 steps: ratios 1.0, so it skips every step MagCache allows (its steps
    1-2, after one retained step, in both the cond and uncond pass). Low expert's 5 steps:
    ratio 2.0 blows the threshold, so it computes everything. Given the whole list from its
    own step 0, the low expert would have skipped too."""
    backend = _wan(tiny_models, step_cache="magcache", cache_threshold=0.5)
    assert backend.expert_steps(str(tiny_models["a14b"])) == (3, 5)
    ratios = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    backend = _wan(tiny_models, step_cache="magcache", cache_threshold=0.5, mag_ratios=ratios)
    backend.validate(None)
    assert backend.spec().runtime.mag_steps == (3, 5)
    _, metrics = _segment(backend)
    assert metrics["denoiser_calls"] == {"transformer": 6, "transformer_2": 10}
    assert metrics["mag_skipped"] == {"transformer": 4, "transformer_2": 0}
    _, again = _segment(backend)
    assert again["mag_skipped"] == metrics["mag_skipped"]  # every clip starts afresh


def test_calibrated_ratios_at_threshold_zero_match_the_uncached_render(tiny_models):
    plain, _ = _segment(_wan(tiny_models))
    calibrating = _wan(tiny_models, step_cache="magcache", mag_calibrate=True)
    calibrated, metrics = _segment(calibrating)
    assert np.array_equal(calibrated, plain)
    ratios = metrics["mag_ratios"]
    assert len(ratios) == 8 and ratios[0] == 1.0 and ratios[3] == 1.0  # each expert's first
    cached, metrics = _segment(
        _wan(tiny_models, step_cache="magcache", mag_ratios=ratios, cache_threshold=0.0)
    )
    assert metrics["mag_skipped"] == {"transformer": 0, "transformer_2": 0}
    assert np.array_equal(cached, plain)
    skipping, metrics = _segment(
        _wan(tiny_models, step_cache="magcache", mag_ratios=ratios, cache_threshold=1.0)
    )
    assert metrics["mag_skipped"]["transformer_2"] > 0
    assert not np.array_equal(skipping, plain)


def test_ti2v_calibrates_and_uses_the_whole_list_on_its_one_transformer(tiny_models):
    settings = {"steps": 5, "frames": 9, "max_sequence_length": 16, "step_cache": "magcache"}
    calibrating = Wan22TI2V(model=str(tiny_models["ti2v"]), mag_calibrate=True, **settings)
    _, metrics = _segment(calibrating)
    assert len(metrics["mag_ratios"]) == 5
    backend = Wan22TI2V(
        model=str(tiny_models["ti2v"]), mag_ratios=[1.0] * 5, cache_threshold=1.0, **settings
    )
    backend.validate(None)
    assert backend.spec().runtime.mag_steps == (5,)
    _, metrics = _segment(backend)
    # 5 steps: 1 retained, then 3 skipped before MagCache must compute again; cond and uncond.
    assert metrics["mag_skipped"] == {"transformer": 6}


@pytest.mark.parametrize(
    ("overrides", "key", "text"),
    [
        (("video.step_cache=magcache",), "video.mag_ratios", "video.mag_calibrate=true"),
        (
            ("video.step_cache=magcache", "video.steps=3", "video.mag_ratios=[1.0,0.9]"),
            "video.mag_ratios",
            "has 2 ratios but video.steps is 3",
        ),
        (("video.mag_calibrate=true",), "video.mag_calibrate", "video.step_cache=magcache"),
    ],
)
def test_magcache_settings_fail_at_plan_time(
    make_config, tiny_models, tmp_path, overrides, key, text
):
    base = (f"keyframes.model={tiny_models['zit']}", f"video.model={tiny_models['a14b']}")
    cfg = make_config(*base, *overrides, job=_job(), draft=False)
    with pytest.raises(UserError) as error:
        prepare(cfg, tmp_path / "run")
    assert error.value.key == key
    assert text in str(error.value)
