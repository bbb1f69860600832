"""`audio=mmaudio` and `audio=mix` end to end through the CLI, on a tiny MMAudio install.

The files are official-layout checkpoints of tiny random networks (tests/tiny_mmaudio.py); the
draft video backend makes the picture, so only the audio path is under test. Output is noise,
but every length, node, seed and join is the real one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiny_mmaudio
from conftest import Cli, ok, tiny_job

from orchestrator.engine.errors import UserError
from orchestrator.media.audio import probe_audio, read_audio
from orchestrator.media.video import probe_video
from orchestrator.render.run import prepare
from stages.audio.mmaudio.windows import plan_windows

RATE = 44100
MISSING_ALL = (
    "hf download hkchengrex/MMAudio weights/mmaudio_large_44k_v2.pth ext_weights/v1-44.pth "
    "ext_weights/synchformer_state_dict.pth --local-dir /nowhere"
)
FAST = ("preset=draft", "audio=mmaudio", "audio.steps=2", "audio.window=1.5", "audio.overlap=0.5")


@pytest.fixture(scope="session")
def mmaudio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_mmaudio.write_tiny_mmaudio(tmp_path_factory.mktemp("tiny-mmaudio"))


def job(**overrides: Any) -> dict[str, Any]:
    shots = [
        {"prompt": "a red kite", "motion": "the kite climbs", "sound": "wind", "seconds": 1.5},
        {"prompt": "a lighthouse", "motion": "the beam sweeps", "seconds": 1.25},
    ]
    return tiny_job(shots=shots, fps=16, **overrides)


def audio_of(cli: Cli, result: Any) -> tuple[np.ndarray, dict[str, Any]]:
    run = cli.run_json(result)
    node = next(n for n in run["nodes"] if n["id"] == "audio")
    path = cli.cache / "audio" / node["key"] / "audio.wav"
    return read_audio(path, rate=RATE, channels=1), run


@pytest.mark.slow
def test_effects_cover_the_video_exactly_in_resumable_windows(
    cli: Cli, mmaudio_files, offline_env
) -> None:
    args = (*FAST, *tiny_mmaudio.overrides(mmaudio_files))
    result = ok(cli(*args, job=job(), env=offline_env))
    samples, run = audio_of(cli, result)
    seconds = 44 / 16
    assert samples.shape == (1, round(seconds * RATE))
    assert np.abs(samples).max() > 0
    windows = plan_windows(round(seconds * RATE), RATE, 1.5, 0.5)
    ids = sorted(n["id"] for n in run["nodes"] if n["stage"] == "effects")
    assert ids == [f"effects/{w.index}" for w in windows] and len(ids) == 3
    assert sum(n["stage"] == "audio_weights" for n in run["nodes"]) == 1

    final = result.run_dir / "final.mp4"
    video, sound = probe_video(final), probe_audio(final)
    assert abs(sound.duration - video.duration) <= 1 / 16

    again = ok(cli(*args, job=job(), env=offline_env))
    assert {n["status"] for n in cli.run_json(again)["nodes"]} == {"cached"}


@pytest.mark.slow
def test_windows_take_their_shots_prompt_and_seed(cli: Cli, mmaudio_files, offline_env) -> None:
    args = (*FAST, *tiny_mmaudio.overrides(mmaudio_files))
    first = cli.run_json(ok(cli(*args, job=job(), env=offline_env)))
    changed = job()
    changed["shots"][1]["sound"] = "a foghorn far away"
    second = cli.run_json(ok(cli(*args, job=changed, env=offline_env)))

    def keys(run: dict[str, Any]) -> dict[str, str]:
        return {n["id"]: n["key"] for n in run["nodes"] if n["stage"] == "effects"}

    def prompts(run: dict[str, Any]) -> list[str]:
        manifests = [cli.cache / "effects" / key / "manifest.json" for key in keys(run).values()]
        return [json.loads(m.read_text())["params"]["prompt"] for m in manifests]

    before, after = keys(first), keys(second)
    # 2.75 s as windows of 1.25 s at 0, 0.75 and 1.5 s; shot 0 lasts 1.5 s, shot 1 the rest.
    assert prompts(first) == ["wind", "wind", "the beam sweeps"]
    assert prompts(second) == ["wind", "wind", "a foghorn far away"]
    assert before["effects/0"] == after["effects/0"] and before["effects/1"] == after["effects/1"]
    assert before["effects/2"] != after["effects/2"]
    rerun = {n["id"]: n["status"] for n in second["nodes"]}
    assert rerun["audio_weights"] == "cached" and rerun["effects/1"] == "cached"
    assert rerun["effects/2"] == "ran"
    seeds = [json.loads((cli.cache / "effects" / k / "manifest.json").read_text())["params"]["seed"]
             for k in keys(first).values()]  # fmt: skip
    assert len(set(seeds)) == 3


@pytest.mark.slow
def test_mix_lays_effects_under_the_soundtrack(cli: Cli, mmaudio_files, offline_env) -> None:
    track = Path(__file__).resolve().parent.parent / "assets" / "music" / "loop_120bpm.flac"
    args = (*FAST, "audio=mix", *tiny_mmaudio.overrides(mmaudio_files))
    result = ok(cli(*args, job=job(soundtrack=str(track)), env=offline_env))
    run = cli.run_json(result)
    node = next(n for n in run["nodes"] if n["id"] == "audio")
    path = cli.cache / "audio" / node["key"] / "audio.wav"
    mixed = read_audio(path, rate=48000, channels=2)
    assert mixed.shape == (2, round(44 / 16 * 48000))
    music = read_audio(track, rate=48000, channels=2, duration=44 / 16)
    assert not np.allclose(mixed, 0) and np.abs(mixed).max() <= 10 ** (-1 / 20) + 1e-3
    # The music leads: the mix follows the levelled track closely, but not exactly.
    correlation = np.corrcoef(mixed[0], music[0, : mixed.shape[1]])[0, 1]
    assert 0.5 < correlation < 0.9999


def test_a_file_for_another_variant_names_its_keys(
    cli: Cli, mmaudio_files, offline_env, tmp_path: Path
) -> None:
    """A v1 flow file where the v2 variant is configured: the conversion node fails with the
    keys that differ, and says how to resume."""
    weights = tmp_path / "mixed"
    for sub in ("weights", "ext_weights"):
        (weights / sub).mkdir(parents=True)
    for name in ("v1-44.pth", "synchformer_state_dict.pth"):
        (weights / "ext_weights" / name).symlink_to(
            mmaudio_files["weights_dir"] / "ext_weights" / name
        )
    from dataclasses import replace

    from tiny_mmaudio_flow import write_official_flow

    write_official_flow(
        weights / "weights" / "mmaudio_large_44k_v2.pth", replace(tiny_mmaudio.NETWORK, v2=False)
    )
    files = {**mmaudio_files, "weights_dir": weights}
    result = cli(*FAST, *tiny_mmaudio.overrides(files), job=job(), env=offline_env)
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "node audio_weights failed" in line and "missing keys" in line
    assert "clip_input_proj.2" in line or "text_input_proj.2" in line
    assert "run the same command again to resume" in line


def test_missing_weights_stop_the_cli_in_one_line(cli: Cli, mmaudio_files, offline_env) -> None:
    args = (*FAST, *tiny_mmaudio.overrides(mmaudio_files), "audio.weights_dir=/nowhere")
    result = cli(*args, job=job(), env=offline_env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: audio.weights_dir: ")
    assert MISSING_ALL in lines[0] and "Traceback" not in result.stderr
    assert not list(cli.cache.glob("*/*/manifest.json"))


@pytest.mark.parametrize(
    ("extra", "job_overrides", "expected"),
    [
        (("audio.model=/nowhere/flow.pth",), {}, "audio.model: file not found"),
        (("audio.clip=/nowhere/clip",), {}, "audio.clip"),
        (("audio.vocoder=/nowhere/bigvgan",), {}, "audio.vocoder"),
        (("audio.variant=huge",), {}, "audio.variant"),
        (("audio.window=0.5",), {}, "audio.window"),
        (("audio.overlap=1.0",), {}, "audio.overlap"),
        (("audio.steps=0",), {}, "audio.steps"),
        (("audio.shapes={network:{depth_typo:1}}",), {}, "audio.shapes"),
        (("audio.shapes={decoder:{latent_dim:7}}",), {}, "audio.shapes"),
        ((), {"soundtrack": "SOUNDTRACK"}, "use audio=mix"),
        (("audio=mix",), {}, "audio=mix needs a soundtrack"),
    ],
)
def test_bad_settings_stop_the_plan(
    make_config, mmaudio_files, tmp_path: Path, extra, job_overrides, expected
) -> None:
    track = Path(__file__).resolve().parent.parent / "assets" / "music" / "loop_120bpm.flac"
    overrides = {k: str(track) if v == "SOUNDTRACK" else v for k, v in job_overrides.items()}
    install = tiny_mmaudio.overrides(mmaudio_files)
    if any(e.startswith("audio.shapes=") for e in extra):
        install = install[:-1]
    cfg = make_config(*FAST, *install, *extra, job=job(**overrides))
    cfg.cache_dir = str(tmp_path / "cache")
    with pytest.raises(UserError) as caught:
        prepare(cfg, tmp_path / "run")
    assert expected in caught.value.line() and "\n" not in caught.value.line()


def test_shapes_override_reaches_the_config(mmaudio_files) -> None:
    shapes = tiny_mmaudio.shapes()
    override = tiny_mmaudio.overrides(mmaudio_files)[-1]
    assert json.loads(json.dumps(shapes))["network"]["clip_dim"] == 24
    assert override.startswith("audio.shapes={network:")


@pytest.mark.slow
def test_plan_lists_the_windows_with_their_share_of_frames(
    cli: Cli, mmaudio_files, offline_env
) -> None:
    args = (*FAST, *tiny_mmaudio.overrides(mmaudio_files))
    result = ok(cli(*args, job=job(), env=offline_env, command="plan"))
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["audio_weights"][4] == "1"
    # Windows of 1.25 s at 16 fps: 20 frames of video each.
    assert [rows[f"effects/{i}"][4] for i in range(3)] == ["20", "20", "20"]
    assert not list(cli.cache.glob("*/*/manifest.json"))
