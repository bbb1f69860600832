# ruff: noqa: E501  (a table of cases reads best one per line)
"""Bad input files through the real CLI: audio whose samples are not numbers, run directories
that take no file, the wrong model in the right place, and a long soundtrack under a short
music video (memory must follow the window, not the file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import ROOT, Cli, ok, tiny_job, write_job
from safetensors.numpy import save_file
from test_bad_config import one_line_error

from orchestrator.media.audio import read_audio, write_audio
from orchestrator.plan.beats import analyse, region

# Dozens of CLI runs, each rejected at plan time: the full suite's, not the quick subset's.
pytestmark = pytest.mark.slow

RATE = 8000


def float_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """A mono 32-bit float WAV holding exactly `samples` (NaN and inf included)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_f32le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            samples.astype(np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def tone(seconds: float, bad: slice | None = None, value: float = np.nan) -> np.ndarray:
    samples = 0.5 * np.sin(np.arange(int(seconds * RATE)) / RATE * 2 * np.pi * 440)
    if bad is not None:
        samples[bad] = value
    return samples


def warnings_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


# ----------------------------------------------------------------------------- audio content


def test_nan_in_a_soundtrack_is_silenced_with_a_warning_and_the_mix_still_plays(cli: Cli):
    track = float_wav(cli.tmp / "glitch.wav", tone(2.0, slice(1000, 1100)))
    result = ok(cli("preset=draft", job=tiny_job(soundtrack=str(track))))
    assert warnings_of(result) == [
        f"warning: job.soundtrack: 100 of 16000 samples of {track} are NaN or infinite; "
        "they play as silence"
    ]
    audio = read_audio(result.run_dir / "final.mp4", rate=RATE, channels=1)  # type: ignore[attr-defined]
    assert np.isfinite(audio).all()
    assert np.sqrt(np.mean(audio**2)) > 0.05


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_samples_in_vocals_are_counted_at_plan_time(cli: Cli, value: float):
    vocals = float_wav(cli.tmp / "tts.wav", tone(1.5, slice(0, 7), value))
    result = ok(cli("preset=draft", job=tiny_job(vocals=str(vocals)), command="plan"))
    [line] = warnings_of(result)
    assert line.startswith(f"warning: job.vocals: 7 of 12000 samples of {vocals}")


@pytest.mark.parametrize(
    ("field", "key"),
    [("soundtrack", "job.soundtrack"), ("vocals", "job.vocals"), ("speech", "job.shots[0].speech")],
)
def test_audio_with_no_finite_sample_is_refused(cli: Cli, field: str, key: str):
    path = float_wav(cli.tmp / "broken.wav", np.full(RATE, np.nan))
    job = tiny_job()
    if field == "speech":
        job["shots"][0]["speech"] = str(path)
    else:
        job[field] = str(path)
    line = one_line_error(cli("preset=draft", job=job), key, str(path))
    assert "would play as silence" in line


# ----------------------------------------------------------------------------- run directory


def _read_only_dir(tmp: Path) -> Path:
    """An existing directory this process cannot write: chmod for a user, sysfs for root."""
    if os.geteuid() != 0:
        folder = tmp / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    folder = Path("/sys/kernel")
    if not folder.is_dir() or os.access(folder, os.W_OK) and _writable(folder):
        pytest.skip("no read-only directory for root here")
    return folder


def _writable(folder: Path) -> bool:
    try:
        (folder / ".renga-probe").write_bytes(b"x")
    except OSError:
        return False
    (folder / ".renga-probe").unlink()
    return True


def _disk_full(monkeypatch: pytest.MonkeyPatch, hooks: Path, under: Path, *names: str) -> None:
    """Make the CLI's writes under `under` fail as on a full disk (ENOSPC, no file name, as a
    failing write reports it), for `open` or the named functions of `os`/`shutil`."""
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        f"import builtins, errno, io, os, shutil, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        f"UNDER = {str(under)!r}\n"
        "def full(real):\n"
        "    def call(*args, **kwargs):\n"
        "        if any(str(a).startswith(UNDER) for a in args[:2]):\n"
        "            raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "        return real(*args, **kwargs)\n"
        "    return call\n"
        + "".join(f"{module}.{name} = full({module}.{name})\n" for module, name in names)
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hooks), str(ROOT)]))


def test_an_existing_read_only_run_dir_is_named(cli: Cli):
    folder = _read_only_dir(cli.tmp)
    result = cli("preset=draft", job=tiny_job(), run_dir=folder)
    one_line_error(result, "hydra.run.dir", str(folder))


def test_a_run_dir_below_a_file_is_named(cli: Cli):
    blocker = cli.tmp / "a-file"
    blocker.write_text("not a folder")
    one_line_error(cli("preset=draft", job=tiny_job(), run_dir=blocker / "run"), "hydra.run.dir")


def test_a_full_disk_under_the_run_dir_is_named_before_hydra_writes(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
):
    run_dir = cli.tmp / "full" / "run"
    _disk_full(monkeypatch, cli.tmp / "hooks", run_dir, ("builtins", "open"), ("io", "open"))
    line = one_line_error(cli("preset=draft", job=tiny_job(), run_dir=run_dir), "hydra.run.dir")
    assert f"{run_dir}: No space left on device" in line


def test_a_disk_that_fills_at_publish_names_the_run_dir_and_keeps_the_nodes(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
):
    run_dir = cli.tmp / "filling"
    hooks = cli.tmp / "hooks"
    _disk_full(monkeypatch, hooks, run_dir, ("os", "link"), ("shutil", "copyfile"))
    result = cli("preset=draft", job=tiny_job(), run_dir=run_dir)
    assert result.returncode == 1, result.stderr
    # The nodes ran (their progress bars are on stderr too); the run ends in one error line.
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.rstrip().endswith(lines[0])
    assert lines[0].startswith(f"error: hydra.run.dir: cannot write {run_dir}")
    assert "No space left on device" in lines[0] and "run the same command again" in lines[0]
    assert not (run_dir / "final.mp4").exists()
    assert list(cli.cache.glob("mux/*/manifest.json"))


# ----------------------------------------------------------------------------- model folders


@pytest.fixture(scope="module")
def folders(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny saved models, a Wan 2.1-like folder (one transformer, no expand_timesteps) and
    a TI2V-5B-shaped single file (48 input channels)."""
    root = tmp_path_factory.mktemp("wrong-models")
    wan21 = root / "wan21"
    shutil.copytree(tiny_models["ti2v"], wan21)
    index = json.loads((wan21 / "model_index.json").read_text())
    (wan21 / "model_index.json").write_text(json.dumps(index | {"expand_timesteps": False}))
    config = json.loads((wan21 / "transformer" / "config.json").read_text())
    (wan21 / "transformer" / "config.json").write_text(json.dumps(config | {"in_channels": 36}))
    single = root / "wan22_ti2v_5b_fp16.safetensors"
    save_file({"patch_embedding.weight": np.zeros((4, 48, 1, 2, 2), np.float16)}, str(single))
    return {**tiny_models, "wan21": wan21, "single_5b": single}


# fmt: off
MODELS = {
    "zit_as_video": (("video.model={zit}",), "video.model", "holds Z-Image", "keyframes=zit"),
    "a14b_as_keyframes": (("keyframes.model={a14b}",), "keyframes.model", "holds Wan 2.2 I2V A14B", "video=wan22_i2v_a14b"),
    "ti2v_with_a14b_config": (("video.model={ti2v}",), "video.model", "holds Wan 2.2 TI2V-5B", "video=wan22_ti2v_5b"),
    "a14b_with_ti2v_config": (("video=wan22_ti2v_5b", "video.model={a14b}"), "video.model", "holds Wan 2.2 I2V A14B", "video=wan22_i2v_a14b"),
    "wan21_folder": (("video.model={wan21}",), "video.model", "without expand_timesteps", "no video=/keyframes= option fits"),
    "5b_single_file_with_a14b": (("video.transformer={single_5b}",), "video.transformer", "TI2V-5B", "video=wan22_ti2v_5b"),
}
# fmt: on


@pytest.mark.parametrize("case", sorted(MODELS))
def test_the_wrong_model_in_the_right_place_is_named_at_plan_time(
    cli: Cli, folders: dict, case: str
):
    overrides, key, holds, option = MODELS[case]
    base = {"keyframes.model": folders["zit"], "video.model": folders["a14b"]}
    args = [o.format(**folders) for o in overrides]
    given = {a.split("=")[0] for a in args}
    args += [f"{k}={v}" for k, v in base.items() if k not in given]
    result = cli(*args, job=tiny_job(width=64, height=64), command="plan")
    line = one_line_error(result, key, holds, option)
    assert line.count("holds") == 1


def test_every_missing_model_of_a_job_in_one_message(cli: Cli):
    args = (f"keyframes.model={cli.tmp / 'no-zit'}", f"video.model={cli.tmp / 'no-wan'}")
    line = one_line_error(cli(*args, job=tiny_job()), "keyframes.model")
    assert f"video.model: model folder not found: {cli.tmp / 'no-wan'}" in line


# ----------------------------------------------------------------------------- long inputs


def click_track(path: Path, seconds: int, rate: int = 22050) -> Path:
    """120 BPM clicks over a quiet tone, written in 10 s blocks (20 minutes in about 2 s)."""
    beat = np.zeros(rate // 2, np.float32)
    beat[:200] = np.hanning(400)[200:] * 0.8
    hum = 0.1 * np.sin(2 * np.pi * 220 * np.arange(10 * rate) / rate).astype(np.float32)
    clicks = np.tile(beat, 20)
    blocks = ((hum + clicks)[None, : min(10, seconds - s) * rate] for s in range(0, seconds, 10))
    write_audio(path, blocks, rate)
    return path


def music_job(track: Path, **music: object) -> dict:
    return tiny_job(soundtrack=str(track), shots=[{"prompt": "a dancer"}],
                    music={"enabled": True, **music})  # fmt: skip


def _peak_rss_mib(argv: list[str]) -> float:
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read() if process.stderr else ""
    return usage.ru_maxrss / 1024


@pytest.mark.slow
def test_beat_analysis_memory_follows_the_window_not_the_file(cli: Cli):
    peaks = {}
    for minutes in (1, 20):
        track = click_track(cli.tmp / f"track{minutes}.flac", minutes * 60)
        write_job(cli.jobs, music_job(track, max_seconds=30.0))
        argv = [sys.executable, "-m", "orchestrator", "plan", "--config-dir", str(cli.jobs),
                "job=tiny", "preset=draft", f"cache_dir={cli.tmp / f'cache{minutes}'}"]  # fmt: skip
        peaks[minutes] = _peak_rss_mib(argv)
    # Decoding the whole 20-minute file (and its spectrogram) took gigabytes before.
    assert peaks[20] <= 1.25 * peaks[1], peaks


def test_a_window_of_a_long_track_has_the_beats_of_the_whole_track(tmp_path: Path):
    track = click_track(tmp_path / "track.flac", 120)
    whole = analyse(track, fps=Fraction(16))
    begin, stop = region(60.0, 20.0, Fraction(16))
    window = analyse(track, fps=Fraction(16), start=begin, stop=stop)
    assert (begin, stop, window.offset) == (50.0, 90.0, 50.0)
    assert abs(window.duration - 90.0) < 0.01
    assert len(window.onset) == 40 * 16
    inside = np.array([t for t in whole.beats if 60.2 <= t <= 79.8])
    found = np.array([t for t in window.beats if 60.2 <= t <= 79.8])
    assert len(found) == len(inside) == 39
    # Within one analysis hop (11.6 ms) of the whole-track beats.
    assert np.max(np.abs(found - inside)) < 0.012


@pytest.mark.parametrize(
    ("music", "key", "text"),
    [
        ({"start": 3000.0}, "job.music.start", "track's 60.00 s"),
        ({"start": 1e6}, "job.music.start", "at most 86400"),
        ({"max_seconds": 1e5}, "job.music.max_seconds", "at most 3600"),
    ],
)
def test_a_window_outside_a_long_track_is_refused_before_decoding(
    cli: Cli, music: dict, key: str, text: str
):
    track = click_track(cli.tmp / "minute.flac", 60)
    one_line_error(cli("preset=draft", job=music_job(track, **music), command="plan"), key, text)
