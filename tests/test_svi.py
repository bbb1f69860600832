"""`preset=svi`: SVI 2.0 Pro on Wan 2.2 A14B (continuation=latent, latent_layout=svi).

Every clip's condition is the chain's first keyframe encoded alone (the anchor) in slot 0, then
the last stored latent of the clip before (none for a chain's first clip), then zeros, with
only the anchor's frame known; the preset loads the LoRA pair under the names users download.
Checked on the tiny A14B model against references built here by hand, and through the CLI."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import Cli, ok
from diffusers import AutoencoderKLWan
from safetensors import safe_open
from test_continuation import vae_reference
from test_real_models import TINY, job, models_args

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.video import probe_video
from orchestrator.render.run import prepare
from orchestrator.stage import LatentContext, SegmentRequest
from stages.diffusion.pool import ModelPool
from stages.video import wan_latent
from stages.video.wan import Wan22I2V

SVI_FILES = (
    "SVI_v2_PRO_Wan2.2-I2V-A14B_HIGH_lora_rank_128_fp16.safetensors",
    "SVI_v2_PRO_Wan2.2-I2V-A14B_LOW_lora_rank_128_fp16.safetensors",
)


def _backend(tiny_models: dict[str, Path]) -> Wan22I2V:
    return Wan22I2V(
        model=str(tiny_models["a14b"]), steps=2, frames=9, max_sequence_length=16,
        continuation="latent", latent_layout="svi", guidance_scale=1.0, guidance_scale_2=1.0,
    )  # fmt: skip


def _conditions(pipe: Any) -> list[torch.Tensor]:
    """The mask and condition channels of every transformer call."""
    seen: list[torch.Tensor] = []
    pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"][:, 16:].clone()),
        with_kwargs=True,
    )
    return seen


def _request(index: int) -> SegmentRequest:
    return SegmentRequest(0, index, "the kite climbs", "", 32, 32, 9, Fraction(16), 7 + index)


def test_svi_condition_reaches_the_transformer_as_built_by_hand(tiny_models, tmp_path, monkeypatch):
    """First clip: [anchor(keyframe), zeros]. Chained clip: [anchor(chain keyframe), the stored
    latent ending on its start frame, zeros], 4 frames longer (the anchor's frame and the
    handed-over latent's 3 others come first and are dropped); the encoder sees one frame."""
    rng = np.random.default_rng(0)
    keyframe = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    backend = _backend(tiny_models)
    pool = ModelPool()
    ctx = NodeContext("segment/0.0", tmp_path / "first", {}, pool)
    ctx.out_dir.mkdir()
    pipe = backend.pipe(ctx)
    seen = _conditions(pipe)
    anchor = vae_reference(pipe, [keyframe])
    encodes: list[tuple[int, ...]] = []
    encode = AutoencoderKLWan._encode
    monkeypatch.setattr(
        AutoencoderKLWan,
        "_encode",
        lambda self, x: encodes.append(tuple(x.shape)) or encode(self, x),
    )

    first = list(backend.generate(_request(0), keyframe, None, ctx))
    assert len(first) == 9
    mask, condition = seen[0][:, :4], seen[0][:, 4:]
    assert condition.shape[2] == 3  # 9 frames
    torch.testing.assert_close(condition[:, :, :1], anchor, rtol=0, atol=1e-6)
    assert not condition[:, :, 1:].any()
    assert mask[:, :, 0].eq(1).all() and not mask[:, :, 1:].any()
    assert encodes == [(1, 3, 1, 32, 32)]

    stored = wan_latent.handed_over(ctx.out_dir / "latents.safetensors", 8, 1)
    seen.clear()
    encodes.clear()
    chained_ctx = NodeContext("segment/0.1", tmp_path / "chained", {}, pool)
    chained_ctx.out_dir.mkdir()
    handed = LatentContext(ctx.out_dir / "latents.safetensors", 8, keyframe)
    start = first[8]
    chained = list(backend.generate(_request(1), start, None, chained_ctx, latents=handed))
    assert len(chained) == 9
    mask, condition = seen[0][:, :4], seen[0][:, 4:]
    assert condition.shape[2] == 4  # 9 + 4 frames
    torch.testing.assert_close(condition[:, :, :1], anchor, rtol=0, atol=1e-6)
    assert torch.equal(condition[:, :, 1:2], stored)
    assert not condition[:, :, 2:].any()
    assert mask[:, :, 0].eq(1).all() and not mask[:, :, 1:].any()
    assert encodes == [(1, 3, 1, 32, 32)]
    with safe_open(str(chained_ctx.out_dir / "latents.safetensors"), framework="pt") as own:
        # Latent 1 (the handed-over one) ends on the clip's frame 0.
        assert own.metadata()["first"] == "1" and own.get_tensor("latents").shape[2] == 4


def test_svi_preset_names_the_pair_users_download_and_merges_with_lightning(
    make_config, tiny_models, tmp_path
):
    models = (f"keyframes.model={tiny_models['zit']}", f"video.model={tiny_models['a14b']}")
    svi = make_config("preset=svi", *models, draft=False, job=job()).video
    assert (svi.continuation, svi.latent_layout, svi.motion_latents) == ("latent", "svi", 1)
    pair = svi.lora_sets.svi
    assert [Path(lora.path).name for lora in pair] == list(SVI_FILES)
    assert [lora.expert for lora in pair] == ["high", "low"]
    both = make_config("preset=[svi,lightning]", *models, draft=False, job=job())
    assert set(both.video.lora_sets) == {"svi", "lightning"}
    assert both.video.steps == 4
    with pytest.raises(UserError) as error:
        prepare(both, tmp_path / "run")
    assert error.value.key == "video.lora_sets.lightning[0].path"


def _pair(tiny_models: dict[str, Path], folder: Path) -> str:
    """The tiny LoRA under SVI's two file names, as a `video.lora_sets.svi` override."""
    folder.mkdir()
    paths = [folder / name for name in SVI_FILES]
    for path in paths:
        shutil.copy(tiny_models["wan_lora"], path)
    high, low = paths
    return f"video.lora_sets.svi=[{{path: {high}, expert: high}}, {{path: {low}, expert: low}}]"


@pytest.mark.slow
def test_svi_chain_renders_through_the_cli(cli: Cli, tiny_models, offline_env, tmp_path):
    """preset=svi with the pair loaded: the planned frames, and chained clips' keys differ
    from the plain latent handover's."""
    pair = _pair(tiny_models, tmp_path / "loras")
    keys = {}
    for name, args in (("svi", ("preset=svi", pair)), ("latent", ("video.continuation=latent",))):
        result = ok(cli(*models_args(tiny_models), *TINY, *args, job=job(), env=offline_env))
        assert probe_video(result.run_dir / "final.mp4").frames == 20
        run = cli.run_json(result)
        keys[name] = {n["id"]: n["key"] for n in run["nodes"] if n["stage"] == "segment"}
    assert keys["svi"].keys() == keys["latent"].keys()
    assert all(keys["svi"][s] != keys["latent"][s] for s in keys["svi"])


@pytest.mark.parametrize(
    ("overrides", "job_overrides", "text"),
    [
        (("video.latent_layout=svi",), {}, "svi hands over stored latents"),
        (("video.latent_layout=anchor",), {}, "unknown value 'anchor'"),
        (("preset=svi",), {"transition": "morph"}, "svi cannot end segment/0.1 on a keyframe"),
        (("preset=svi", "video.motion_amplitude=1.2"), {}, "set it to 1.0 with latent_layout=svi"),
    ],
)
def test_svi_refusals_are_one_line(
    cli: Cli, tiny_models, offline_env, tmp_path, overrides, job_overrides, text
):
    pair = (_pair(tiny_models, tmp_path / "loras"),) if "preset=svi" in overrides else ()
    args = (*models_args(tiny_models), *TINY, *overrides, *pair)
    result = cli(*args, job=job(**job_overrides), env=offline_env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: video."), result.stderr
    assert text in lines[0]
    assert not (result.run_dir / "final.mp4").exists()


def test_new_wan_options_leave_keys_as_they_were_at_their_defaults(make_config, tiny_models):
    """latent_layout and lora_sets enter the video params only when set, so jobs rendered
    before they existed keep their keys; set, they change them."""
    from orchestrator.render.stages import Stages

    models = (f"keyframes.model={tiny_models['zit']}", f"video.model={tiny_models['a14b']}")
    plain = Stages.from_config(make_config(*models, draft=False)).params("video")
    assert "latent_layout" not in plain and "lora_sets" not in plain
    svi = make_config(*models, "video.continuation=latent", "video.latent_layout=svi", draft=False)
    assert Stages.from_config(svi).params("video")["latent_layout"] == "svi"
