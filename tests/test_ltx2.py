"""`video=ltx2` on a tiny random LTX-2 pipeline built in-process: a clip equals a plain
diffusers call with the same inputs, picture and sound; the keyframes and the context frames
reach the pipeline as the conditions LTX-2 takes; and the plan-time refusals."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli

from orchestrator.engine.context import NodeContext
from orchestrator.media.audio import read_audio
from orchestrator.stage import SOUND_FILE, SegmentRequest
from stages.diffusion.pool import ModelPool
from stages.video.ltx2 import LTX2Video

PROMPT, NEGATIVE = "the kite climbs", "blurry"


@pytest.fixture(scope="session")
def ltx2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tiny_ltx2

    return tiny_ltx2.ltx2(tmp_path_factory.mktemp("tiny-ltx2") / "ltx2")


def backend(model: Path, **overrides: Any) -> LTX2Video:
    settings = {"steps": 2, "frames": 9, "max_sequence_length": 16, **overrides}
    return LTX2Video(model=str(model), **settings)


def frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def recorded(pipe: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every call of the pipeline class."""
    calls: list[dict[str, Any]] = []
    call = type(pipe).__call__
    monkeypatch.setattr(type(pipe), "__call__", lambda s, **k: (calls.append(k), call(s, **k))[1])
    return calls


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_a_clip_equals_a_plain_diffusers_call(ltx2, tmp_path, guidance):
    """Same keyframe, prompt, seed and settings: renga's frames are the pipeline's own, to the
    bit (after the same uint8 rounding), and the clip's sound file holds the pipeline's audio
    (to 16-bit WAV precision), with and without CFG."""
    import torch
    from diffusers import LTX2ConditionPipeline
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from PIL import Image

    start = frame(1)
    request = SegmentRequest(0, 0, PROMPT, NEGATIVE, 32, 32, 9, Fraction(24), 11)
    ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
    clip = backend(ltx2, guidance_scale=guidance).generate(request, start, None, ctx)
    ours = np.stack(list(clip))

    plain = LTX2ConditionPipeline.from_pretrained(ltx2)
    output = plain(
        conditions=[LTX2VideoCondition(frames=Image.fromarray(start), index=0)],
        prompt=PROMPT, negative_prompt=NEGATIVE, height=32, width=32, num_frames=9,
        frame_rate=24.0, num_inference_steps=2, guidance_scale=guidance, stg_scale=0.0,
        modality_scale=1.0, guidance_rescale=0.0, audio_guidance_scale=None,
        audio_stg_scale=None, audio_modality_scale=None, audio_guidance_rescale=None,
        spatio_temporal_guidance_blocks=[29], use_cross_timestep=False,
        generator=torch.Generator("cpu").manual_seed(11), output_type="np",
        max_sequence_length=16,
    )  # fmt: skip
    theirs = (np.clip(output.frames[0], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(ours, theirs)
    sound = read_audio(tmp_path / SOUND_FILE, rate=16000, channels=2)
    expected = output.audio[0].float().numpy()
    assert sound.shape == expected.shape
    np.testing.assert_allclose(sound, np.clip(expected, -1, 1), atol=1 / 16384)


def test_the_end_keyframe_conditions_the_last_latent(ltx2, tmp_path, monkeypatch):
    """morph / loop=closure: the start frame at latent 0, the end frame at the clip's last
    latent (frame 16 of 17 is latent 8 of the tiny VAE, which packs 2 frames a latent)."""
    b = backend(ltx2, frames=17)
    ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
    calls = recorded(b.pipe(ctx), monkeypatch)
    request = SegmentRequest(0, 0, PROMPT, "", 32, 32, 17, Fraction(24), 3)
    frames = list(b.generate(request, frame(1), frame(2), ctx))
    assert len(frames) == 17
    (kwargs,) = calls
    first, last = kwargs["conditions"]
    assert b.pipe(ctx).vae_temporal_compression_ratio == 2
    assert (first.index, last.index) == (0, 8)
    np.testing.assert_array_equal(np.asarray(first.frames), frame(1))
    np.testing.assert_array_equal(np.asarray(last.frames), frame(2))


def test_a_chained_clip_is_conditioned_on_the_last_frames(ltx2, tmp_path, monkeypatch):
    """continuation=motion: the last 9 (8k+1) of 11 context frames are one multi-frame
    condition at latent 0; the pipeline makes 9 + 8 frames and their first 8 are dropped,
    with their stretch of the sound."""
    b = backend(ltx2, continuation="motion", motion_frames=9)
    ctx = NodeContext("segment/0.1", tmp_path, {}, ModelPool())
    calls = recorded(b.pipe(ctx), monkeypatch)
    context = [frame(10 + i) for i in range(11)]
    request = SegmentRequest(0, 1, PROMPT, "", 32, 32, 9, Fraction(24), 5)
    frames = list(b.generate(request, context[-1], None, ctx, context=context))
    assert len(frames) == 9 and frames[0].dtype == np.uint8
    (kwargs,) = calls
    assert kwargs["num_frames"] == 17
    (condition,) = kwargs["conditions"]
    assert condition.index == 0 and len(condition.frames) == 9
    np.testing.assert_array_equal(np.stack([np.asarray(f) for f in condition.frames]),
                                  np.stack(context[2:]))  # fmt: skip
    assert ctx.metrics["context_frames"] == 9
    sound = read_audio(tmp_path / SOUND_FILE, rate=16000, channels=2)
    # 17 frames of sound (the vocoder's 11 333 samples), less the 8 frames dropped (5 333).
    assert 5500 <= sound.shape[1] <= 6000


def _cli_args(ltx2: Path, *extra: str) -> tuple[str, ...]:
    return (
        "keyframes=draft", "video=ltx2", f"video.model={ltx2}", "video.steps=2",
        "video.frames=9", "video.max_sequence_length=16", "audio=none", *extra,
    )  # fmt: skip


def _job(**overrides: Any) -> dict[str, Any]:
    from conftest import tiny_job

    shots = [
        {"prompt": "a red kite", "motion": "the kite climbs", "frames": 12},
        {"prompt": "a lighthouse", "motion": "the beam sweeps", "frames": 8},
    ]
    return tiny_job(**{"width": 32, "height": 32, "shots": shots, **overrides})


@pytest.mark.parametrize(
    ("overrides", "jobs", "key", "text"),
    [
        (("video.frames=13",), {}, "video.frames", "8k+1"),
        (("job.width=48",), {}, "job.width", "32"),
        (("video.continuation=motion", "video.motion_frames=5"), {}, "video.motion_frames", "8k+1"),
        (("video.stg_scale=1.0",), {}, "video.stg_blocks", "2 transformer blocks"),
        (("video.sigmas=[1.0]",), {}, "video.sigmas", "one per step"),
    ],
)
def test_ltx2_refuses_what_it_cannot_do_at_plan_time(
    cli: Cli, ltx2, offline_env, overrides, jobs, key, text
):
    result = cli(*_cli_args(ltx2, *overrides), job=_job(**jobs), env=offline_env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}: "), result.stderr
    assert text in lines[0]
    assert not (result.run_dir / "final.mp4").exists()


def test_another_models_folder_is_refused_by_name(cli: Cli, ltx2, tmp_path, offline_env):
    """A Wan folder given to video=ltx2, and the LTX-2 folder given to video=wan22_ti2v_5b."""
    import json

    wan = tmp_path / "wan"
    (wan / "transformer").mkdir(parents=True)
    index = {"_class_name": "WanImageToVideoPipeline", "transformer": ["diffusers", "WanX"]}
    (wan / "model_index.json").write_text(json.dumps(index))
    (wan / "transformer" / "config.json").write_text(json.dumps({"in_channels": 48}))
    args = (*_cli_args(ltx2)[:2], f"video.model={wan}", *_cli_args(ltx2)[3:])
    result = cli(*args, job=_job(), env=offline_env)
    assert result.returncode == 2 and "video.model" in result.stderr, result.stderr
    assert "video=wan22_ti2v_5b" in result.stderr
    args = ("keyframes=draft", "video=wan22_ti2v_5b", f"video.model={ltx2}", "audio=none")
    result = cli(*args, job=_job(), env=offline_env)
    assert result.returncode == 2 and "video=ltx2" in result.stderr, result.stderr


def test_speech_is_held_clean_while_the_picture_follows_it(ltx2, tmp_path):
    """A clip with speech: the audio VAE's encoding of the line (from `speech_at` s) enters
    every step unchanged at timestep 0, so the clip's sound is the speech's own decode,
    whatever the seed; the pooled pipeline is left as it was."""
    import tiny_ltx2
    import torch

    from stages.video.ltx2_sound import audio_latent_count, log_mel, speech_window

    speech = tmp_path / "line.wav"
    line = tiny_ltx2.spoken_line(speech)
    b = backend(ltx2)
    pool = ModelPool()
    pipe = b.pipe(NodeContext("segment/0.0", tmp_path, {}, pool))
    seen: list[tuple[Any, Any]] = []

    def hook(module, args, kwargs):
        seen.append((kwargs["audio_timestep"].clone(), kwargs["audio_hidden_states"].clone()))

    handle = pipe.transformer.register_forward_pre_hook(hook, with_kwargs=True)
    sounds = []
    for seed in (1, 2):
        out = tmp_path / str(seed)
        out.mkdir()
        ctx = NodeContext("segment/0.0", out, {}, pool)
        request = SegmentRequest(0, 0, PROMPT, "", 32, 32, 9, Fraction(24), seed, speech=speech,
                                 speech_at=0.25)  # fmt: skip
        assert len(list(b.generate(request, frame(1), None, ctx))) == 9
        sounds.append(read_audio(out / SOUND_FILE, rate=16000, channels=2))
        assert ctx.metrics["speech_latents"] == audio_latent_count(pipe, 9, 24.0)
    handle.remove()
    window = speech_window(speech, 16000, 2, 0.25, round(9 / 24 * 16000))
    np.testing.assert_allclose(window[:, :100], line[:, 4000:4100], atol=1e-4)
    mel = torch.from_numpy(log_mel(window, 16000, 160, 8))[None]
    with torch.inference_mode():
        encoded = pipe.audio_vae.encode(mel).latent_dist.mode()[:, :, :9]
    vae = pipe.audio_vae
    packed = pipe._normalize_audio_latents(
        pipe._pack_audio_latents(encoded), vae.latents_mean, vae.latents_std
    )
    assert len(seen) == 4  # two steps, two clips
    for timestep, hidden in seen:
        assert torch.all(timestep == 0)
        torch.testing.assert_close(hidden, packed.expand_as(hidden))  # CFG: both halves
    np.testing.assert_array_equal(sounds[0], sounds[1])
    assert pipe.audio_scheduler is None and "prepare_audio_latents" not in vars(pipe)


@pytest.mark.slow
def test_a_shot_with_speech_drives_its_clips_through_the_cli(cli: Cli, ltx2, tmp_path,
                                                             offline_env):  # fmt: skip
    """Each clip of a speaking shot is handed its stretch of the line (a chained clip from the
    time its first frame plays); a line longer than its shot is refused at plan time."""
    from orchestrator.media.audio import write_audio

    speech = tmp_path / "line.wav"
    write_audio(speech, np.full((2, 4000), 0.2, np.float32), 16000)
    job = _job()
    job["shots"][1]["speech"] = str(speech)
    from conftest import ok

    job["shots"][0]["speech"] = str(speech)
    result = ok(cli(*_cli_args(ltx2), job=job, env=offline_env))
    run = cli.run_json(result)
    segments = {n["id"]: n for n in run["nodes"] if n["stage"] == "segment"}
    assert all("speech_latents" in n["metrics"] for n in segments.values())
    # Where in its shot's line each clip starts: the chained clip at its first frame's time.
    import json

    requests = [json.loads(m.read_text())["params"]["request"]
                for m in (Path(run["store"]) / "segment").glob("*/manifest.json")]  # fmt: skip
    at = {(r["shot"], r["index"]): r["speech_at"] for r in requests}
    assert at[(0, 0)] == 0.0 and at[(1, 0)] == 0.0
    assert 0.0 < at[(0, 1)] < 12 / 24 and at[(0, 1)] * 24 == pytest.approx(round(at[(0, 1)] * 24))
    write_audio(speech, np.full((2, 16000), 0.2, np.float32), 16000)
    result = cli(*_cli_args(ltx2), job=job, env=offline_env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: job.shots[0].speech: ")


def test_the_distilled_preset_runs_8_steps_on_its_schedule_without_cfg(
    ltx2, tmp_path, make_config, monkeypatch
):
    """preset=ltx2_distilled composes onto video=ltx2 and reaches the pipeline as 8 steps on
    diffusers' distilled sigmas, every guidance off."""
    from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES
    from hydra.utils import instantiate

    cfg = make_config("video=ltx2", "preset=ltx2_distilled", f"video.model={ltx2}",
                      "video.frames=9", "video.max_sequence_length=16")  # fmt: skip
    b = instantiate(cfg.video, _convert_="all")
    assert (b.steps, list(b.sigmas), b.guidance_scale) == (8, DISTILLED_SIGMA_VALUES, 1.0)
    ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
    calls = recorded(b.pipe(ctx), monkeypatch)
    request = SegmentRequest(0, 0, PROMPT, "", 32, 32, 9, Fraction(24), 3)
    assert len(list(b.generate(request, frame(1), None, ctx))) == 9
    (kwargs,) = calls
    assert kwargs["num_inference_steps"] == 8 and kwargs["sigmas"] == DISTILLED_SIGMA_VALUES
    assert (kwargs["guidance_scale"], kwargs["stg_scale"], kwargs["modality_scale"]) == (1, 0, 1)
    assert kwargs["audio_guidance_scale"] == 1.0


def test_memory_options_reach_the_ltx2_pipeline(ltx2, tmp_path):
    """preset=low_vram's settings (group offload, fp8 storage, VAE tiling) through the shared
    loading code; the clip still renders on a CPU."""
    import torch

    b = backend(ltx2, offload="group", fp8=True, vae_tiling=True, guidance_scale=1.0)
    ctx = NodeContext("segment/0.0", tmp_path, {}, ModelPool())
    pipe = b.pipe(ctx)
    assert pipe.vae.use_tiling
    weight = next(p for n, p in pipe.transformer.named_parameters() if n.endswith("to_q.weight"))
    assert weight.dtype == torch.float8_e4m3fn
    request = SegmentRequest(0, 0, PROMPT, "", 32, 32, 9, Fraction(24), 3)
    assert len(list(b.generate(request, frame(1), None, ctx))) == 9


@pytest.mark.slow
def test_a_morph_loop_ends_every_clip_on_the_next_keyframe_through_the_cli(
    cli: Cli, ltx2, offline_env
):
    """transition=morph with loop=closure: each shot's last clip is asked to end on a
    keyframe (the next shot's, the first for the last), and the loop renders its frames."""
    from conftest import ok

    from orchestrator.media.video import probe_video

    result = ok(cli(*_cli_args(ltx2), job=_job(transition="morph", loop="closure"),
                    env=offline_env))  # fmt: skip
    assert probe_video(result.run_dir / "final.mp4").frames == 20
    import json

    run = cli.run_json(result)
    manifests = sorted((Path(run["store"]) / "segment").glob("*/manifest.json"))
    assert len(manifests) == sum(n["stage"] == "segment" for n in run["nodes"]) >= 2
    ends = [json.loads(m.read_text())["params"]["ends_on_keyframe"] for m in manifests]
    assert ends.count(True) == 2


@pytest.mark.slow
def test_a_music_video_drives_each_clip_with_its_slice_of_the_song(cli: Cli, ltx2, offline_env):
    """video.song_driven: every clip follows the soundtrack from the time it plays (after the
    soundtrack's own start); refused without a soundtrack and with audio=native."""
    import json

    from conftest import ROOT, ok

    song = ROOT / "assets" / "music" / "loop_120bpm.flac"
    args = _cli_args(ltx2, "video.song_driven=true")
    args = tuple(a for a in args if a != "audio=none") + ("audio=track",)
    result = ok(cli(*args, job=_job(soundtrack=str(song)), env=offline_env))
    run = cli.run_json(result)
    segments = [n for n in run["nodes"] if n["stage"] == "segment"]
    assert len(segments) == 3 and all("speech_latents" in n["metrics"] for n in segments)
    requests = [json.loads(m.read_text())["params"]["request"]
                for m in (Path(run["store"]) / "segment").glob("*/manifest.json")]  # fmt: skip
    at = sorted(r["speech_at"] for r in requests)
    assert at[0] == 0.0 and at[2] == pytest.approx(12 / 24) and 0.0 < at[1] < 12 / 24
    result = cli(*args, job=_job(), env=offline_env)
    assert result.returncode == 2 and result.stderr.startswith("error: video.song_driven: ")
    native = (*args[:-1], "audio=native")
    result = cli(*native, job=_job(soundtrack=str(song)), env=offline_env)
    assert result.returncode == 2 and result.stderr.startswith("error: audio: "), result.stderr
