"""LTX-2's two-stage recipe (`video.refine`, `preset=ltx2_two_stage`) on a tiny random LTX-2
folder with its own latent upsampler: a clip equals diffusers' documented two-stage sequence,
what each of the two calls is handed, LoRAs active in stage 2 only, and the plan-time refusals."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli, ok

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.audio import read_audio
from orchestrator.stage import SOUND_FILE, SegmentRequest
from stages.diffusion.pool import ModelPool
from stages.video.ltx2 import LTX2Video

PROMPT, NEGATIVE = "the kite climbs", "blurry"
STAGE_2 = [0.909375, 0.725, 0.421875]
LORA = "ltx-2-19b-distilled-lora-384.safetensors"


@pytest.fixture(scope="session")
def ltx2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LTX-2 folder laid out as Lightricks/LTX-2 is: `latent_upsampler/` beside the
    pipeline, the distilled LoRA at its root, and a scheduler that shifts its sigmas by the
    sequence length (as the real one does), so taking stage 2's sigmas as they are shows."""
    import tiny_ltx2
    from diffusers import LTX2ConditionPipeline

    folder = tiny_ltx2.ltx2(tmp_path_factory.mktemp("tiny-ltx2-two-stage") / "LTX-2")
    tiny_ltx2.latent_upsampler(folder / "latent_upsampler")
    scheduler = folder / "scheduler" / "scheduler_config.json"
    config = json.loads(scheduler.read_text())
    scheduler.write_text(json.dumps(config | {"use_dynamic_shifting": True,
                                              "shift_terminal": 0.1}))  # fmt: skip
    transformer = LTX2ConditionPipeline.from_pretrained(folder).transformer
    tiny_ltx2.lightricks_lora(folder / LORA, transformer, seed=5)
    return folder


def backend(model: Path, refine: dict[str, Any] | None = None, **overrides: Any) -> LTX2Video:
    settings = {"steps": 2, "frames": 9, "max_sequence_length": 16, **overrides}
    return LTX2Video(model=str(model), refine={"enabled": True, **(refine or {})}, **settings)


def frame(seed: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def recorded(pipe: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every call's keyword arguments, with whether a LoRA was active and the sigmas the
    scheduler was set to."""
    calls: list[dict[str, Any]] = []
    call = type(pipe).__call__

    def spy(self: Any, **kwargs: Any) -> Any:
        output = call(self, **kwargs)
        audio = self.audio_scheduler
        calls.append(kwargs | {"lora_on": lora_on(self), "ran": self.scheduler.sigmas.tolist(),
                               "audio_ran": audio.sigmas.tolist() if audio else None})  # fmt: skip
        return output

    monkeypatch.setattr(type(pipe), "__call__", spy)
    return calls


def lora_on(pipe: Any) -> bool:
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in pipe.transformer.modules() if isinstance(m, BaseTunerLayer)]
    return bool(layers) and not layers[0].disable_adapters and bool(layers[0].active_adapters)


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_a_two_stage_clip_equals_diffusers_documented_recipe(ltx2, tmp_path, guidance):
    """diffusers' LTX-2 "Two-stages Generation" by hand: stage 1 to latents at half size, the
    upsample pipeline, the distilled LoRA and an unshifted scheduler, stage 2 renoised to the
    first stage-2 sigma at full size, every guidance off (Lightricks' stage 2 runs its plain
    denoiser; diffusers 0.42's defaults would add STG and modality guidance). renga's frames
    are those to the bit and its sound file holds that audio, with and without CFG in
    stage 1."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2ConditionPipeline
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplePipeline
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from PIL import Image

    start = frame(1)
    request = SegmentRequest(0, 0, PROMPT, NEGATIVE, 64, 64, 9, Fraction(24), 11)
    ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
    b = backend(ltx2, {"loras": [{"path": str(ltx2 / LORA)}]}, guidance_scale=guidance)
    ours = np.stack(list(b.generate(request, start, None, ctx)))
    assert ctx.metrics["first_stage_size"] == "32x32"

    pipe = LTX2ConditionPipeline.from_pretrained(ltx2)
    generator = torch.Generator("cpu").manual_seed(11)
    common = {
        "conditions": [LTX2VideoCondition(frames=Image.fromarray(start), index=0)],
        "prompt": PROMPT, "negative_prompt": NEGATIVE, "num_frames": 9, "frame_rate": 24.0,
        "spatio_temporal_guidance_blocks": [29], "use_cross_timestep": False,
        "generator": generator, "max_sequence_length": 16,
    }  # fmt: skip
    video, audio = pipe(
        **common, height=32, width=32, num_inference_steps=2, guidance_scale=guidance,
        stg_scale=0.0, modality_scale=1.0, guidance_rescale=0.0, audio_guidance_scale=None,
        audio_stg_scale=None, audio_modality_scale=None, audio_guidance_rescale=None,
        output_type="latent", return_dict=False,
    )  # fmt: skip
    upsampler = LTX2LatentUpsamplerModel.from_pretrained(ltx2, subfolder="latent_upsampler")
    upsample = LTX2LatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=upsampler)
    latents = upsample(latents=video, output_type="latent", return_dict=False)[0]
    pipe.load_lora_weights(str(ltx2 / LORA), adapter_name="stage_2_distilled")
    pipe.set_adapters("stage_2_distilled", 1.0)
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(
        pipe.scheduler.config, use_dynamic_shifting=False, shift_terminal=None
    )
    output = pipe(
        **common, latents=latents, audio_latents=audio, height=64, width=64,
        num_inference_steps=3, sigmas=STAGE_2, noise_scale=STAGE_2[0], guidance_scale=1.0,
        stg_scale=0.0, modality_scale=1.0, guidance_rescale=0.0, audio_guidance_scale=1.0,
        audio_stg_scale=0.0, audio_modality_scale=1.0, audio_guidance_rescale=0.0,
        output_type="np",
    )  # fmt: skip
    theirs = (np.clip(output.frames[0], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    assert ours.shape == (9, 64, 64, 3)
    np.testing.assert_array_equal(ours, theirs)
    sound = read_audio(tmp_path / SOUND_FILE, rate=16000, channels=2)
    np.testing.assert_allclose(sound, np.clip(output.audio[0].numpy(), -1, 1), atol=1 / 16384)


def test_each_stage_gets_its_size_schedule_guidance_and_loras(ltx2, tmp_path, monkeypatch):
    """A chained clip ending on a keyframe: both calls take the same conditions (context frames
    at latent 0, the end frame at the last latent); stage 1 at half size with the backend's
    steps and CFG and no LoRA, to latents; stage 2 at full size on the stage-2 sigmas as
    given, unguided, renoised to the first, with the LoRA; afterwards the pooled pipeline
    has its own scheduler back and no LoRA active."""
    b = backend(ltx2, {"loras": [{"path": str(ltx2 / LORA), "scale": 0.5}]},
                guidance_scale=3.0, continuation="motion")  # fmt: skip
    ctx = NodeContext("segment/0.1", tmp_path, {}, ModelPool())
    steps: list[tuple[int, int]] = []
    monkeypatch.setattr(ctx, "steps", lambda done, total: steps.append((done, total)))
    pipe = b.pipe(ctx)
    scheduler = pipe.scheduler
    # A folder with its own audio scheduler (shifting too) has it taken as it is as well.
    monkeypatch.setattr(pipe, "audio_scheduler", type(scheduler).from_config(scheduler.config))
    audio_scheduler = pipe.audio_scheduler
    calls = recorded(pipe, monkeypatch)
    context = [frame(10 + i) for i in range(11)]
    request = SegmentRequest(0, 1, PROMPT, "", 64, 64, 9, Fraction(24), 5)
    frames = list(b.generate(request, context[-1], frame(2), ctx, context=context))
    assert len(frames) == 9 and frames[0].shape == (64, 64, 3)
    first, second = calls
    assert first["conditions"] is second["conditions"]
    motion, end = first["conditions"]
    assert (motion.index, len(motion.frames), end.index) == (0, 9, 8)
    assert (first["width"], first["height"], first["output_type"]) == (32, 32, "latent")
    assert (first["num_inference_steps"], first["guidance_scale"]) == (2, 3.0)
    assert first["lora_on"] is False and "latents" not in first
    assert (second["width"], second["height"], second["output_type"]) == (64, 64, "np")
    assert second["num_inference_steps"] == 3 and second["sigmas"] == STAGE_2
    assert second["ran"][:3] == pytest.approx(STAGE_2)  # not shifted by the sequence length
    assert second["audio_ran"][:3] == pytest.approx(STAGE_2)
    assert first["ran"][0] == pytest.approx(1.0) and first["ran"][1] != pytest.approx(0.5)
    assert second["noise_scale"] == STAGE_2[0]
    assert (second["guidance_scale"], second["stg_scale"], second["modality_scale"]) == (1, 0, 1)
    assert second["audio_guidance_scale"] == 1.0 and second["lora_on"] is True
    # Stage 1's latents (4 channels, 17 frames in 9 latents, 16 px) upsampled x2.
    assert tuple(second["latents"].shape) == (1, 4, 9, 32, 32)
    assert second["audio_latents"] is not None and second["num_frames"] == 17
    assert pipe.scheduler is scheduler and pipe.audio_scheduler is audio_scheduler
    assert not lora_on(pipe)
    assert steps == [(i, 5) for i in range(1, 6)]  # one bar over both stages


@pytest.mark.slow
@pytest.mark.parametrize(("scale", "size", "first"), [(1.5, 96, 64), (4.0, 128, 32)])
def test_other_upsampler_scales_set_the_sizes(ltx2, tmp_path, make_config, monkeypatch,
                                              scale, size, first):  # fmt: skip
    """An x1.5 or x4 upsampler of its own: sizes must be multiples of 32 x its numerator, the
    first call runs at size / scale, and the video comes out at the job's size."""
    import tiny_ltx2

    folder = tiny_ltx2.latent_upsampler(tmp_path / "upsampler", scale=scale)
    b = backend(ltx2, {"upsampler": str(folder)})
    assert b.size_multiple == {1.5: 96, 4.0: 128}[scale]
    _plan(make_config, b, width=size, height=size)
    with pytest.raises(UserError, match="not a multiple of"):
        _plan(make_config, backend(ltx2, {"upsampler": str(folder)}), width=64, height=size)
    ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
    calls = recorded(b.pipe(ctx), monkeypatch)
    request = SegmentRequest(0, 0, PROMPT, "", size, size, 9, Fraction(24), 2)
    frames = list(b.generate(request, frame(1, size), None, ctx))
    assert len(frames) == 9 and frames[0].shape == (size, size, 3)
    assert (calls[0]["width"], calls[0]["height"]) == (first, first)
    assert tuple(calls[1]["latents"].shape[-2:]) == (size // 2, size // 2)  # the VAE packs 2 px


@pytest.mark.slow
def test_the_refine_loras_load_once_and_switch_per_clip(ltx2, tmp_path, monkeypatch):
    """Two clips on one pooled pipeline: the LoRA file loads on the first clip's stage 2 only,
    and each stage 1 runs without it."""
    b = backend(ltx2, {"loras": [{"path": str(ltx2 / LORA)}]})
    pool = ModelPool()
    pipe = b.pipe(NodeContext("segment/0.0", tmp_path, {}, pool))
    loads: list[str] = []
    load = type(pipe).load_lora_weights
    monkeypatch.setattr(type(pipe), "load_lora_weights",
                        lambda s, p, **k: (loads.append(p), load(s, p, **k))[1])  # fmt: skip
    calls = recorded(pipe, monkeypatch)
    for seed in (1, 2):
        ctx = NodeContext(f"segment/0.{seed}", tmp_path / str(seed), {}, pool)
        (tmp_path / str(seed)).mkdir()
        request = SegmentRequest(0, seed, PROMPT, "", 64, 64, 9, Fraction(24), seed)
        assert len(list(b.generate(request, frame(seed), None, ctx))) == 9
    assert loads == [str(ltx2 / LORA)]
    assert [c["lora_on"] for c in calls] == [False, True, False, True]
    assert pool.loads == 3  # the pipeline, the prompt's embeddings and the upsampler


def test_a_lora_switched_on_under_fp8_runs_as_one_loaded_with_the_model(ltx2, tmp_path):
    """preset=low_vram's fp8 storage: a LoRA switched on after layerwise casting (stage 2's, a
    cast's) gets the casting hooks, so it runs (it used to compute in fp8 and fail) and gives
    the clip the same file in `video.loras` gives, to its fp8 rounding, far from the clip
    without it."""
    from stages.diffusion.adapters import use_loras

    request = SegmentRequest(0, 0, PROMPT, "", 32, 32, 9, Fraction(24), 4)
    clips = {}
    for how in ("with the model", "switched on", "none"):
        own = [{"path": str(ltx2 / LORA)}] if how == "with the model" else []
        b = LTX2Video(model=str(ltx2), steps=2, frames=9, max_sequence_length=16, fp8=True,
                      offload="group", loras=own)  # fmt: skip
        ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
        if how == "switched on":
            use_loras(b.pipe(ctx), [(str(ltx2 / LORA), 1.0)], b.spec())
        clip = np.stack(list(b.generate(request, frame(1, 32), None, ctx)))
        clips[how] = clip.astype(np.int16)
    rounding = np.abs(clips["switched on"] - clips["with the model"])
    effect = np.abs(clips["none"] - clips["with the model"])
    assert rounding.max() <= 4 and rounding.mean() < 1.0  # measured: 3 and 0.48
    assert effect.mean() > 20 * rounding.mean()  # measured: 41.3


@pytest.mark.slow
def test_speech_stays_clean_through_both_stages(ltx2, tmp_path):
    """A speaking shot's line is held clean in stage 1 and in stage 2 (timestep 0 at every one
    of the 2 + 3 steps), so the clip's sound is the line's own decode whatever the seed."""
    import tiny_ltx2
    import torch

    speech = tmp_path / "line.wav"
    tiny_ltx2.spoken_line(speech)
    b = backend(ltx2)
    pool = ModelPool()
    pipe = b.pipe(NodeContext("segment/0.0", tmp_path, {}, pool))
    timesteps: list[Any] = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda m, a, k: timesteps.append(k["audio_timestep"].clone()), with_kwargs=True
    )
    sounds = []
    for seed in (1, 2):
        out = tmp_path / str(seed)
        out.mkdir()
        ctx = NodeContext("segment/0.0", out, {}, pool)
        request = SegmentRequest(0, 0, PROMPT, "", 64, 64, 9, Fraction(24), seed,
                                 speech=speech)  # fmt: skip
        assert len(list(b.generate(request, frame(1), None, ctx))) == 9
        sounds.append(read_audio(out / SOUND_FILE, rate=16000, channels=2))
    handle.remove()
    assert len(timesteps) == 10 and all(torch.all(t == 0) for t in timesteps)
    np.testing.assert_array_equal(sounds[0], sounds[1])
    assert pipe.audio_scheduler is None and "prepare_audio_latents" not in vars(pipe)


def _plan(make_config, backend: LTX2Video, width: int = 64, height: int = 64) -> None:
    from conftest import tiny_job

    from orchestrator.plan.job import plan_job

    job = tiny_job(width=width, height=height)
    backend.validate(plan_job(make_config(job=job), backend))


def _upsampler_folder(tmp_path: Path, **config: Any) -> Path:
    import tiny_ltx2

    folder = tiny_ltx2.latent_upsampler(tmp_path / "upsampler")
    path = folder / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | config))
    return folder


@pytest.mark.parametrize(
    ("refine", "width", "key", "text"),
    [
        ({}, 96, "job.width", "not a multiple of 64"),
        ({"sigmas": []}, 64, "video.refine.sigmas", "at least one step"),
        ({"sigmas": [0.5, 0.7]}, 64, "video.refine.sigmas", "fall step by step"),
        ({"sigmas": [1.5]}, 64, "video.refine.sigmas", "(0, 1]"),
        ({"loras": [{"path": "missing.safetensors"}]}, 64, "video.refine.loras[0].path",
         "file not found"),
        ({"upsampler": "{tmp}/nowhere"}, 64, "video.refine.upsampler", "not found"),
        ({"upsampler": "{tmp}/empty"}, 64, "video.refine.upsampler", "no config.json"),
        ({"upsampler": "{tmp}/file.safetensors"}, 64, "video.refine.upsampler", "diffusers"),
        ({"upsampler": "{tmp}/ltx2"}, 64, "video.refine.upsampler", "not LTX2LatentUpsampler"),
        ({"upsampler": "{up:temporal_upsample=true}"}, 64, "video.refine.upsampler", "spatial"),
        ({"upsampler": "{up:in_channels=128}"}, 64, "video.refine.upsampler", "128-channel"),
        ({"upsampler": "{up:rational_spatial_scale=0.75}"}, 64, "video.refine.upsampler",
         "1.5, 2 or 4"),
    ],
)  # fmt: skip
def test_bad_two_stage_settings_are_refused_at_plan_time(
    ltx2, tmp_path, make_config, refine, width, key, text
):
    """Each mistake is one UserError naming its key, before any weight loads."""
    value = refine.get("upsampler", "")
    if value.startswith("{up:"):
        name, raw = value[4:-1].split("=")
        refine = refine | {"upsampler": str(_upsampler_folder(tmp_path, **{name: json.loads(raw)}))}
    elif value:
        (tmp_path / "empty").mkdir()
        (tmp_path / "file.safetensors").write_bytes(b"\0" * 8)
        (tmp_path / "ltx2").mkdir()
        (tmp_path / "ltx2" / "config.json").write_text(
            '{"_class_name": "LTX2VideoTransformer3DModel"}'
        )
        refine = refine | {"upsampler": value.format(tmp=tmp_path)}
    with pytest.raises(UserError) as caught:
        _plan(make_config, backend(ltx2, refine), width)
    assert caught.value.key == key and text in caught.value.message, caught.value


def test_a_model_folder_without_an_upsampler_names_the_key(ltx2, tmp_path, make_config):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(ltx2, bare, ignore=shutil.ignore_patterns("latent_upsampler"))
    with pytest.raises(UserError) as caught:
        _plan(make_config, backend(bare))
    assert caught.value.key == "video.refine.upsampler"
    assert "latent_upsampler/" in caught.value.message
    # The upsampler named on its own, as a folder of its own, is found.
    b = backend(bare, {"upsampler": str(ltx2 / "latent_upsampler")})
    _plan(make_config, b)
    assert b.upsampler().subfolder is None and b.upsampler().scale == 2


def test_a_clip_without_refine_keeps_its_key(make_config):
    """Clips rendered before the two-stage recipe existed keep their cache keys."""
    from orchestrator.render.stages import Stages

    def params(*overrides: str) -> dict[str, Any]:
        return Stages.from_config(make_config("video=ltx2", *overrides, draft=False)).params(
            "video"
        )

    assert "refine" not in params()
    assert params("video.refine.enabled=true")["refine"]["enabled"] is True


@pytest.mark.slow
def test_the_two_stage_preset_renders_through_the_cli(cli: Cli, ltx2, offline_env):
    """preset=ltx2_two_stage on a folder laid out as Lightricks/LTX-2: the model's own
    latent_upsampler/ and its distilled LoRA, found by the preset; the video is the job's
    size and every clip says where its first stage ran."""
    from conftest import tiny_job

    from orchestrator.media.video import probe_video

    shots = [{"prompt": "a red kite", "motion": "the kite climbs", "frames": 12}]
    args = ("keyframes=draft", "video=ltx2", "preset=ltx2_two_stage", f"video.model={ltx2}",
            "video.steps=2", "video.frames=9", "video.max_sequence_length=16",
            "audio=native")  # fmt: skip
    result = ok(cli(*args, job=tiny_job(width=64, height=64, shots=shots), env=offline_env))
    info = probe_video(result.run_dir / "final.mp4")
    assert (info.width, info.height, info.frames) == (64, 64, 12)
    segments = [n for n in cli.run_json(result)["nodes"] if n["stage"] == "segment"]
    assert len(segments) == 2
    assert all(n["metrics"]["first_stage_size"] == "32x32" for n in segments)
