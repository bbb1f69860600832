"""Parity with the model authors' scripts: renga's default config (and the recipe presets),
composed as a user gets it, hands the real pipelines (tiny random weights) the authors' values.

Each row is copied from the file named beside it, not from renga; the call is stopped at the
pipeline's `__call__`, so no denoising runs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_recipes import UPSTREAM_NEGATIVE

from orchestrator.engine.context import NodeContext
from orchestrator.render.stages import Stages
from orchestrator.stage import SegmentRequest
from stages.diffusion.pool import ModelPool

A14B = {  # Wan2.2 wan/configs/wan_i2v_A14B.py (+ shared_config.py)
    "num_inference_steps": 40, "guidance_scale": 3.5, "guidance_scale_2": 3.5,
    "num_frames": 81, "boundary_ratio": 0.9, "shift": 5.0, "fps": 16,
}  # fmt: skip
TI2V = {  # Wan2.2 wan/configs/wan_ti2v_5B.py
    "num_inference_steps": 50, "guidance_scale": 5.0, "num_frames": 121, "shift": 5.0,
    "fps": 24,
}  # fmt: skip
SKYREELS = {  # SkyReels-V2 README.md: I2V table, "Diffusion Forcing Additional Parameters"
    "num_inference_steps": 50, "guidance_scale": 5.0, "shift": 5.0, "base_num_frames": 97,
    "addnoise_condition": 20.0, "ar_step": 0, "fps": 24,
}  # fmt: skip
# Stable-Video-Infinity (svi_wan22 branch) inference_svi_2.0_pro.py: --cfg_scale 5.0,
# --frames_per_clip 81, --num_motion_latent 1; diffsynth/pipelines/wan_video_svi_pro.py
# WanVideoSviProPipeline.__call__ defaults: num_inference_steps 50, switch_DiT_boundary 0.875,
# sigma_shift 5.0 (one cfg_scale for both experts).
SVI = {
    "num_inference_steps": 50, "guidance_scale": 5.0, "guidance_scale_2": 5.0,
    "num_frames": 81, "boundary_ratio": 0.875, "shift": 5.0, "fps": 16,
}  # fmt: skip
# SkyReels-V2 README.md "asynchronous generation": --ar_step 5 --causal_block_size 5
# --base_num_frames 97 (97-frame windows) --addnoise_condition 20.
SKYREELS_ASYNC = {
    **SKYREELS, "ar_step": 5, "causal_block_size": 5, "num_frames": 97,
}  # fmt: skip

CASES = [
    ("wan22_i2v_a14b", (), A14B),
    ("wan22_ti2v_5b", (), TI2V),
    ("skyreels_v2_df", (), SKYREELS),
    ("skyreels_v2_df", ("preset=skyreels_async",), SKYREELS_ASYNC),
    # SVI's chained clips' 81-frame calls are in test_recipes.py. The LoRA pair is left out:
    # only the call is looked at.
    ("wan22_i2v_a14b", ("preset=svi", "~video.lora_sets.svi"), SVI),
]


@pytest.fixture(scope="module")
def skyreels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tiny_models

    return tiny_models.skyreels_df(tmp_path_factory.mktemp("tiny-skyreels") / "skyreels")


class Stop(Exception):
    """Raised from the pipeline's `__call__` once its arguments are recorded."""


def _called(backend: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
    pipe = backend.pipe(ctx)
    seen: dict[str, Any] = {}
    encode = pipe.encode_prompt

    def spy(**kwargs: Any) -> Any:
        seen["negative_prompt"] = kwargs["negative_prompt"]
        return encode(**kwargs)

    monkeypatch.setattr(pipe, "encode_prompt", spy)

    def call(self: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(type(pipe), "__call__", call)
    # The request as the segment node builds it when the job sets no negative prompt.
    request = SegmentRequest(
        0, 0, "the kite climbs", backend.negative_prompt, 32, 32, backend.clip_frames,
        Fraction(backend.fps), 7,
    )  # fmt: skip
    start = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(Stop):
        next(iter(backend.generate(request, start, None, ctx)))
    seen["shift"] = pipe.scheduler.config.flow_shift
    seen["boundary_ratio"] = pipe.config.get("boundary_ratio")
    return seen


@pytest.mark.parametrize(("video", "presets", "recipe"), CASES)
def test_the_pipeline_gets_the_authors_recipe(
    make_config, tiny_models, skyreels, tmp_path, monkeypatch, video, presets, recipe
):
    folder = {"wan22_i2v_a14b": tiny_models["a14b"], "wan22_ti2v_5b": tiny_models["ti2v"]}
    overrides = (*presets, f"video={video}", f"video.model={folder.get(video, skyreels)}")
    cfg = make_config(*overrides, "keyframes=draft", "audio=none", draft=False)
    backend = Stages.from_config(cfg).video
    seen = _called(backend, tmp_path, monkeypatch)
    got = {key: seen.get(key) for key in recipe}
    got["fps"] = seen.get("fps", backend.fps)
    if "base_num_frames" in recipe:
        # The window, as the pipeline needs it no longer than the clip (renga's synchronous
        # default clip is 81 frames: 97 with the 17-frame history of a chained clip).
        assert backend.base_num_frames == recipe["base_num_frames"]
        got["base_num_frames"] = recipe["base_num_frames"]
        assert seen["base_num_frames"] == min(recipe["base_num_frames"], seen["num_frames"])
    assert got == recipe
    assert seen["negative_prompt"] == UPSTREAM_NEGATIVE
