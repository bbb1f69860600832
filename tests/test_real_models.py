"""ZIT keyframes and Wan 2.2 segments on tiny random models: the real loading path, the real
pipelines, the real CLI. Offline: a socket guard fails any run that tries the network."""

from __future__ import annotations

import io
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli, ok, tiny_job
from PIL import Image
from rich.console import Console

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.engine.progress import Reporter
from orchestrator.media.video import VideoInfo, probe_video, read_frames
from orchestrator.render.run import execute, prepare
from orchestrator.stage import KeyframeRequest, SegmentRequest
from stages.diffusion.loading import load_pipeline
from stages.diffusion.pool import ModelPool
from stages.keyframes.zit import ZitKeyframes
from stages.video.wan import Wan22I2V, Wan22TI2V

TINY = (
    "keyframes.steps=2",
    "keyframes.resolution=48",
    "keyframes.max_sequence_length=32",
    "video.steps=2",
    "video.frames=9",
    "video.max_sequence_length=16",
    "audio=none",
)


def job(**overrides: Any) -> dict[str, Any]:
    """32x32, two shots of 12 and 8 frames: two clips for the first shot, one for the second."""
    shots = [
        {"prompt": "# A red kite\n- over a field", "motion": "the kite climbs", "frames": 12},
        {"prompt": "a lighthouse at night", "motion": "the beam sweeps", "frames": 8},
    ]
    values = {"width": 32, "height": 32, "negative_prompt": "blurry", "shots": shots}
    return tiny_job(**{**values, **overrides})


def models_args(models: dict[str, Path], video: str = "wan22_i2v_a14b") -> tuple[str, ...]:
    folder = models["a14b"] if video == "wan22_i2v_a14b" else models["ti2v"]
    return (f"keyframes.model={models['zit']}", f"video={video}", f"video.model={folder}")


def _in_hf_cache(hub: Path, repo: str, folder: Path) -> None:
    """Lay out `folder` as the Hugging Face cache stores a downloaded repo."""
    entry = hub / f"models--{repo.replace('/', '--')}"
    revision = "0" * 40
    shutil.copytree(folder, entry / "snapshots" / revision)
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(revision)


def _entries(run: dict[str, Any], stage: str) -> dict[str, Path]:
    store = Path(run["store"])
    return {n["id"]: store / stage / n["key"] for n in run["nodes"] if n["stage"] == stage}


def _final(result: Any) -> VideoInfo:
    return probe_video(result.run_dir / "final.mp4")


@pytest.mark.slow
def test_cut_job_from_the_hf_cache_runs_offline(cli: Cli, tiny_models, offline_env):
    _in_hf_cache(Path(offline_env["HF_HUB_CACHE"]), "tiny-org/tiny-zit", tiny_models["zit"])
    args = (*models_args(tiny_models), "keyframes.model=tiny-org/tiny-zit", *TINY)
    result = ok(cli(*args, job=job(), env=offline_env))
    run = cli.run_json(result)
    info = _final(result)
    assert (info.frames, info.fps, info.width, info.height) == (20, Fraction(16), 32, 32)
    segments = [n for n in run["nodes"] if n["stage"] == "segment"]
    assert len(segments) == 3
    for node in segments:
        calls = node["metrics"]["denoiser_calls"]
        assert calls["transformer"] > 0 and calls["transformer_2"] > 0, calls
    for shot in (0, 1):
        assert Image.open(result.run_dir / "keyframes" / f"shot_{shot:03d}.png").size == (32, 32)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("transition", "loop", "frames"),
    [("continue", "closure", 20), ("morph", "none", 20)],
)
def test_a14b_chains_morphs_and_closes_loops(
    cli: Cli, tiny_models, offline_env, transition, loop, frames
):
    args = (*models_args(tiny_models), *TINY)
    result = ok(cli(*args, job=job(transition=transition, loop=loop), env=offline_env))
    info = _final(result)
    assert (info.frames, info.fps) == (frames, Fraction(16))
    run = cli.run_json(result)
    assert all(n["status"] == "ran" for n in run["nodes"])


@pytest.mark.slow
def test_ti2v_5b_renders_at_its_own_rate_with_one_transformer(cli: Cli, tiny_models, offline_env):
    args = (*models_args(tiny_models, "wan22_ti2v_5b"), *TINY)
    result = ok(cli(*args, job=job(), env=offline_env))
    info = _final(result)
    assert (info.frames, info.fps) == (20, Fraction(24))
    run = cli.run_json(result)
    for node in run["nodes"]:
        if node["stage"] == "segment":
            assert set(node["metrics"]["denoiser_calls"]) == {"transformer"}


@pytest.mark.parametrize(
    ("extra", "job_overrides", "key", "text"),
    [
        ((), {}, "keyframes.model", "hf download Tongyi-MAI/Z-Image-Turbo --local-dir"),
        (("video=wan22_ti2v_5b",), {"transition": "morph"}, "job.transition", "last_image"),
    ],
)
def test_cli_errors_are_one_line_before_anything_loads(
    cli: Cli, tiny_models, offline_env, extra, job_overrides, key, text
):
    args = () if not extra else (f"keyframes.model={tiny_models['zit']}", *extra)
    if extra:
        args += (f"video.model={tiny_models['ti2v']}",)
    result = cli(*args, job=job(**job_overrides), env=offline_env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}: "), result.stderr
    assert text in lines[0]


def _run(make_config, tmp_path: Path, name: str, *overrides: str, **job_overrides) -> dict:
    cache = f"cache_dir={tmp_path / 'cache'}"
    cfg = make_config(*overrides, cache, job=job(**job_overrides), draft=False)
    reporter = Reporter(Console(file=io.StringIO()))
    with reporter:
        return execute(cfg, tmp_path / name, reporter)


def _frames(entries: dict[str, Path], node: str, file: str = "clip.mkv") -> np.ndarray:
    return np.stack([f for f in read_frames(entries[node] / file)])


def _keyframe(run: dict, node: str) -> np.ndarray:
    return np.asarray(Image.open(_entries(run, "keyframe")[node] / "keyframe.png"))


@pytest.mark.slow
def test_same_seed_same_frames_and_a_shot_seed_changes_only_that_shot(
    make_config, tiny_models, tmp_path
):
    args = (*models_args(tiny_models), *TINY)
    first = _run(make_config, tmp_path / "a", "run", *args)
    again = _run(make_config, tmp_path / "b", "run", *args)
    a, b = _entries(first, "segment"), _entries(again, "segment")
    assert a.keys() == b.keys()
    for node in a:
        assert np.array_equal(_frames(a, node), _frames(b, node)), node
    for node in ("keyframe/0", "keyframe/1"):
        assert np.array_equal(_keyframe(first, node), _keyframe(again, node))

    shots = job()["shots"]
    shots[1]["seed"] = 12345
    changed = _run(make_config, tmp_path / "a", "run2", *args, shots=shots)
    status = {n["id"]: n["status"] for n in changed["nodes"]}
    assert status["keyframe/0"] == status["segment/0.0"] == status["segment/0.1"] == "cached"
    assert status["keyframe/1"] == status["segment/1.0"] == "ran"
    assert not np.array_equal(_keyframe(first, "keyframe/1"), _keyframe(changed, "keyframe/1"))


@pytest.mark.slow
def test_candidates_all_reach_the_contact_sheet_and_pick_chooses(
    make_config, tiny_models, tmp_path
):
    args = (*models_args(tiny_models), *TINY, "mode=stills")
    shots = job()["shots"]
    single = _run(make_config, tmp_path, "run0", *args, shots=shots)
    args += ("keyframes.candidates=2",)
    first = _run(make_config, tmp_path, "run", *args, shots=shots)
    status = {n["id"]: n["status"] for n in first["nodes"]}
    assert status["keyframe/0"] == status["keyframe/1"] == "cached"
    assert np.array_equal(_keyframe(single, "keyframe/0"), _keyframe(first, "keyframe/0"))
    keyframes = _entries(first, "keyframe")
    assert len(keyframes) == 4
    assert (tmp_path / "run" / "contact_sheet.png").is_file()
    shots[0]["pick"] = 1
    picked = _run(make_config, tmp_path, "run2", *args, shots=shots)
    assert all(n["status"] == "cached" for n in picked["nodes"] if n["stage"] == "keyframe")
    published = np.asarray(Image.open(tmp_path / "run2" / "keyframes" / "shot_000.png"))
    assert np.array_equal(published, _keyframe(first, "keyframe/0/candidate1"))
    assert not np.array_equal(published, _keyframe(first, "keyframe/0"))


@pytest.mark.slow
def test_a_shot_image_is_refined_by_img2img(make_config, tiny_models, tmp_path):
    image = tmp_path / "mine.png"
    pixels = np.zeros((40, 40, 3), np.uint8)
    pixels[:, :20] = (250, 30, 30)
    Image.fromarray(pixels).save(image)
    shots = job()["shots"][:1]
    shots[0]["image"] = str(image)
    args = (*models_args(tiny_models), *TINY, "mode=stills")
    low = _run(make_config, tmp_path, "low", *args, "keyframes.strength=0.5", shots=shots)
    high = _run(make_config, tmp_path, "high", *args, "keyframes.strength=1.0", shots=shots)
    a, b = _keyframe(low, "keyframe/0"), _keyframe(high, "keyframe/0")
    assert a.shape == b.shape == (32, 32, 3)
    assert not np.array_equal(a, b)


def _segment(backend: Any, pool: ModelPool, tmp_path: Path, end: bool = False) -> tuple:
    steps: list[tuple[int, int]] = []
    request = SegmentRequest(
        shot=0, index=0, prompt="the kite climbs", negative_prompt="blurry",
        width=32, height=32, num_frames=9, fps=Fraction(16), seed=7,
    )  # fmt: skip
    ramp = np.linspace(0, 255, 32, dtype=np.uint8)
    start = np.stack([np.tile(ramp, (32, 1))] * 3, axis=-1)
    ctx = NodeContext("segment/0.0", tmp_path, {}, pool, steps=lambda d, t: steps.append((d, t)))
    frames = np.stack(list(backend.generate(request, start, start[::-1] if end else None, ctx)))
    return frames, steps, ctx


def _wan(models: dict[str, Path], **settings: Any) -> Wan22I2V:
    return Wan22I2V(
        model=str(models["a14b"]), steps=2, frames=9, max_sequence_length=16, **settings
    )


def test_wan_reports_steps_and_encodes_each_prompt_once(tiny_models, tmp_path):
    backend = _wan(tiny_models)
    pool = ModelPool()
    pipe = backend.pipe(NodeContext("x", tmp_path, {}, pool))
    encodes: list[int] = []
    pipe.text_encoder.register_forward_pre_hook(lambda *a: encodes.append(1))
    frames, steps, ctx = _segment(backend, pool, tmp_path)
    assert frames.shape == (9, 32, 32, 3) and frames.dtype == np.uint8
    assert steps == [(1, 2), (2, 2)]
    assert ctx.metrics["denoiser_calls"] == {"transformer": 2, "transformer_2": 2}
    once = len(encodes)
    assert once > 0
    _segment(backend, pool, tmp_path)
    assert len(encodes) == once
    assert pool.loads == 2  # the pipeline and one prompt's embeddings


def test_lora_changes_the_output_and_goes_to_the_expert_it_names(tiny_models, tmp_path):
    lora = str(tiny_models["wan_lora"])
    base, _, _ = _segment(_wan(tiny_models), ModelPool(), tmp_path)
    outputs = {}
    for expert, target in (("high", "transformer"), ("low", "transformer_2")):
        backend = _wan(tiny_models, loras=[{"path": lora, "scale": 1.0, "expert": expert}])
        pipe = load_pipeline(backend.spec())
        assert pipe.get_list_adapters() == {target: [f"lora0_{target}"]}
        outputs[expert], _, _ = _segment(backend, ModelPool(), tmp_path)
    assert not np.array_equal(outputs["high"], base)
    assert not np.array_equal(outputs["low"], base)
    assert not np.array_equal(outputs["high"], outputs["low"])
    both = _wan(tiny_models, loras=[{"path": lora, "expert": "both"}])
    assert set(load_pipeline(both.spec()).get_list_adapters()) == {"transformer", "transformer_2"}


def _keyframe_render(backend: ZitKeyframes, tmp_path: Path) -> np.ndarray:
    request = KeyframeRequest(
        shot=0, shots=1, prompt="a red kite", negative_prompt="", width=32, height=24, seed=3
    )
    ctx = NodeContext("keyframe/0", tmp_path, {}, ModelPool())
    return np.asarray(backend.render(request, None, ctx))


def _zit(models: dict[str, Path], **settings: Any) -> ZitKeyframes:
    return ZitKeyframes(
        model=str(models["zit"]), steps=2, resolution=48, max_sequence_length=32, **settings
    )


def test_zit_lora_changes_the_keyframe(tiny_models, tmp_path):
    base = _keyframe_render(_zit(tiny_models), tmp_path)
    lora = _zit(tiny_models, loras=[{"path": str(tiny_models["zit_lora"]), "scale": 1.0}])
    styled = _keyframe_render(lora, tmp_path)
    assert base.shape == styled.shape == (24, 32, 3)
    assert not np.array_equal(base, styled)


def test_memory_settings_apply_on_cpu(tiny_models, tmp_path):
    import torch

    backend = _wan(
        tiny_models, offload="group", fp8=True, vae_tiling=True, attention="native",
        step_cache="first_block", cache_threshold=0.2,
    )  # fmt: skip
    backend.validate(None)
    pool = ModelPool()
    frames, _, _ = _segment(backend, pool, tmp_path, end=True)
    assert frames.shape == (9, 32, 32, 3)
    pipe = backend.pipe(NodeContext("x", tmp_path, {}, pool))
    assert pipe.vae.use_tiling
    for expert in (pipe.transformer, pipe.transformer_2):
        assert expert.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn
        assert expert.is_cache_enabled
    zit = _zit(tiny_models, offload="group", step_cache="taylorseer", fp8=True)
    assert _keyframe_render(zit, tmp_path).shape == (24, 32, 3)


@pytest.mark.parametrize(
    ("overrides", "job_overrides", "key"),
    [
        (("video.offload=model",), {}, "video.offload"),
        (("keyframes.offload=sequential",), {}, "keyframes.offload"),
        (("keyframes.step_cache=first_block",), {}, "keyframes.step_cache"),
        (("video.step_cache=magcache",), {}, "video.mag_ratios"),
        (("video.attention=warp_drive",), {}, "video.attention"),
        (("video.loras=[{path: nowhere.safetensors}]",), {}, "video.loras[0].path"),
        (("video.transformer=nowhere.safetensors",), {}, "video.transformer"),
        (("video.boundary_ratio=1.5",), {}, "video.boundary_ratio"),
        (("video.guidance_scale=1.0",), {}, "video.guidance_scale_2"),
        (("keyframes.dtype=fp12",), {}, "keyframes.dtype"),
        (("keyframes.candidates=2",), {"shots": [{"prompt": "a", "frames": 8, "pick": 2}]},
         "job.shots[0].pick"),
        (("video=wan22_ti2v_5b",), {"loop": "closure"}, "job.loop"),
    ],
)  # fmt: skip
def test_bad_model_settings_fail_at_plan_time(
    make_config, tiny_models, tmp_path, overrides, job_overrides, key
):
    folder = tiny_models["ti2v"] if "video=wan22_ti2v_5b" in overrides else tiny_models["a14b"]
    base = (f"keyframes.model={tiny_models['zit']}", *overrides, f"video.model={folder}")
    cfg = make_config(*base, job=job(**job_overrides), draft=False)
    with pytest.raises(UserError) as error:
        prepare(cfg, tmp_path / "run")
    assert error.value.key == key


def test_ti2v_rejects_a_second_expert(tiny_models):
    backend = Wan22TI2V(model=str(tiny_models["ti2v"]), boundary_ratio=0.9)
    with pytest.raises(UserError) as error:
        backend.validate(None)
    assert error.value.key == "video.boundary_ratio"


def test_allow_download_still_respects_hf_hub_offline(monkeypatch, tmp_path):
    from stages.diffusion.files import locate

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert locate("some-org/some-model", "video.model", allow_download=True) == (
        "some-org/some-model"
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE is set") as error:
        locate("some-org/some-model", "video.model", allow_download=True)
    assert "hf download some-org/some-model --local-dir" in error.value.message


def test_pool_loads_once_and_releases_a_group_before_the_next():
    pool = ModelPool()
    pool.switch("zit")
    first = pool.get("zit-model", object)
    assert pool.get("zit-model", object) is first and pool.loads == 1
    pool.switch("zit")
    assert pool.get("zit-model", object) is first
    pool.switch("wan")
    assert pool.get("zit-model", object) is not first and pool.loads == 2


def test_presets_bundle_memory_and_speed_settings(make_config, tiny_models, tmp_path):
    low = make_config("preset=low_vram", draft=False)
    for group in ("keyframes", "video"):
        assert (low[group].offload, low[group].fp8, low[group].vae_tiling) == ("group", True, True)
    quality = make_config("preset=quality", draft=False)
    assert quality.video.steps == 50 and quality.keyframes.render_at == "model"
    models = (f"keyframes.model={tiny_models['zit']}", f"video.model={tiny_models['a14b']}")
    lightning = make_config("preset=lightning", *models, draft=False, job=job())
    video = lightning.video
    assert (video.steps, video.guidance_scale, video.guidance_scale_2) == (4, 1.0, 1.0)
    assert [lora.expert for lora in video.lora_sets.lightning] == ["high", "low"]
    with pytest.raises(UserError) as error:
        prepare(lightning, tmp_path / "run")
    assert error.value.key == "video.lora_sets.lightning[0].path"
    assert "Lightning" in error.value.message
