"""Batch renders: a multirun over songs through the real CLI, its summary, launcher configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, tiny_job, write_job
from hydra import compose, initialize_config_dir
from music_tracks import write_track

from orchestrator.cli.batch import summarise
from orchestrator.config import CONF_DIR, readable_dirname

SUBMITIT_LOCAL = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"


def test_sweep_dirs_name_files_not_their_folders():
    name = "job.soundtrack=/music/2024/a.mp3,seed=1"
    assert readable_dirname(name) == "job.soundtrack=a.mp3,seed=1"
    assert readable_dirname("seed=2") == "seed=2"


@pytest.mark.parametrize(
    ("launcher", "expected"),
    [
        ("slurm", {"gpus_per_node": 1, "timeout_min": 240, "partition": "gpu",
                   "array_parallelism": 8}),
        ("local", {"n_jobs": 1}),
        ("submitit_local", {"_target_": SUBMITIT_LOCAL}),
    ],
)  # fmt: skip
def test_shipped_launcher_configs_compose(launcher, expected):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    for key, value in expected.items():
        assert cfg.hydra.launcher[key] == value


@pytest.mark.slow
def test_multirun_over_two_songs_renders_each_and_reports_a_failure(tmp_path: Path):
    songs = [tmp_path / "songs" / "a.wav", tmp_path / "songs" / "b.wav"]
    songs[0].parent.mkdir()
    for seed, song in enumerate(songs):
        write_track(song, 120, 6.0, seed=seed)
    missing = tmp_path / "songs" / "missing.wav"
    job = tiny_job(shots=[{"prompt": "neon dancer"}, {"prompt": "rainy street"}],
                   music={"enabled": True, "cut": {"every": 1}})  # fmt: skip
    write_job(tmp_path / "jobs", job, name="song")
    sweep = tmp_path / "sweep"
    argv = [
        sys.executable, "-m", "orchestrator", "-m", "--config-dir", str(tmp_path / "jobs"),
        "job=song", "preset=draft", "video.frames=17",
        f"job.soundtrack={songs[0]},{songs[1]},{missing}",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        f"cache_dir={tmp_path / 'cache'}", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr
    assert "1 failed" in result.stderr
    summary = json.loads((sweep / "batch.json").read_text())
    assert summary == summarise(sweep)
    assert (summary["ok"], summary["failed"], summary["unfinished"]) == (2, 1, 0)
    by_song = {Path(j["dir"]).name.split("job.soundtrack=")[1].split(",")[0]: j
               for j in summary["jobs"]}  # fmt: skip
    assert set(by_song) == {"a.wav", "b.wav", "missing.wav"}
    assert "file not found" in by_song["missing.wav"]["error"]
    ran = 0
    for name in ("a.wav", "b.wav"):
        record = by_song[name]
        assert Path(record["output"]).is_file() and record["seconds"] > 0
        run = json.loads((sweep / record["dir"] / "run.json").read_text())
        assert run["complete"] and run["frames"] == 6 * 16
        ran += sum(n["status"] == "ran" for n in run["nodes"] if n["stage"] == "keyframe")
    # Same prompts, seed and shot count on both songs: each keyframe is rendered once.
    assert ran == len(run["shots"])
