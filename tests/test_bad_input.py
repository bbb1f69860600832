# ruff: noqa: E501  (a table of cases reads best one per line)
"""More malformed jobs through the real CLI: each one line, exit code 2, nothing rendered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import Cli, tiny_job
from PIL import Image

from orchestrator.media.audio import write_audio


def _files(tmp: Path) -> dict[str, Path]:
    files = {
        "wav": tmp / "tone.wav",
        "png": tmp / "picture.png",
        "empty_png": tmp / "empty.png",
        "folder": tmp / "a_folder",
    }
    write_audio(files["wav"], np.zeros((1, 800), np.float32), 8000)
    Image.new("RGB", (8, 8)).save(files["png"])
    files["empty_png"].write_bytes(b"")
    files["folder"].mkdir()
    return files


def _shot(job: dict, index: int, **values) -> dict:
    job["shots"][index].update(values)
    return job


CASES = {
    "image_is_audio": (lambda f: _shot(tiny_job(), 0, image=str(f["wav"])), (), "job.shots[0].image"),
    "image_empty": (lambda f: _shot(tiny_job(), 0, image=str(f["empty_png"])), (), "job.shots[0].image"),
    "image_is_folder": (lambda f: _shot(tiny_job(), 0, image=str(f["folder"])), (), "job.shots[0].image"),
    "soundtrack_is_image": (lambda f: tiny_job(soundtrack=str(f["png"])), (), "job.soundtrack"),
    "soundtrack_is_folder": (lambda f: tiny_job(soundtrack=str(f["folder"])), (), "job.soundtrack"),
    "vocals_missing": (lambda f: tiny_job(vocals="/no/vocals.wav"), (), "job.vocals"),
    "speech_missing": (lambda f: _shot(tiny_job(), 1, speech="/no/line.wav"), (), "job.shots[1].speech"),
    "seconds_and_frames": (lambda f: _shot(tiny_job(), 0, frames=10), (), "job.shots[0]"),
    "less_than_a_frame": (lambda f: _shot(tiny_job(), 0, seconds=0.01), (), "job.shots[0].seconds"),
    "width_negative": (lambda f: tiny_job(width=-64), (), "job.width"),
    "height_off_grid": (lambda f: tiny_job(height=50), (), "job.height"),
    "prompt_and_image_missing": (lambda f: _shot(tiny_job(), 1, prompt=" "), (), "job.shots[1].prompt"),
    "continue_with_unused_image": (
        lambda f: _shot(tiny_job(transition="continue"), 1, image=str(f["png"])), (),
        "job.shots[1].image",
    ),
    "images_backend_without_image": (lambda f: tiny_job(), ("keyframes=images",), "job.shots[0].image"),
    "overlap_too_long": (lambda f: tiny_job(), ("assemble.overlap_frames=40",), "assemble.overlap_frames"),
    "overlap_negative": (lambda f: tiny_job(), ("assemble.overlap_frames=-1",), "assemble.overlap_frames"),
    "crossfade_unknown": (lambda f: tiny_job(), ("assemble.crossfade=zigzag",), "assemble.crossfade"),
    "clip_not_4k_plus_1": (lambda f: tiny_job(), ("video.frames=20",), "video.frames"),
    "crf_out_of_range": (lambda f: tiny_job(), ("mux.crf=80",), "mux.crf"),
    "codec_unknown": (lambda f: tiny_job(), ("mux.codec=vp9",), "mux.codec"),
    "audio_channels": (lambda f: tiny_job(), ("audio.channels=6",), "audio.channels"),
    "seconds_wrong_type": (lambda f: tiny_job(), ("job.shots.0.seconds=long",), "job.shots[0].seconds"),
    "seed_wrong_type": (lambda f: tiny_job(), ("seed=lucky",), "seed"),
    "unknown_top_level_key": (lambda f: tiny_job(), ("colour=red",), "colour"),
    "unknown_group_option": (lambda f: tiny_job(), ("video=sora",), "video"),
    "unknown_job_file": (lambda f: tiny_job(), ("job=no_such_job",), "job"),
}  # fmt: skip


# One of each kind runs in the quick subset (an override, a group, a file); all run in the
# full suite.
QUICK = ("seed_wrong_type", "unknown_group_option", "image_is_audio")


@pytest.mark.parametrize(
    "case",
    [c if c in QUICK else pytest.param(c, marks=pytest.mark.slow) for c in sorted(CASES)],
)
def test_malformed_job_is_one_line_exit_2(cli: Cli, case: str):
    make_job, overrides, key = CASES[case]
    result = cli("preset=draft", "video.frames=17", *overrides, job=make_job(_files(cli.tmp)))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert key in lines[0], lines[0]
    assert not (result.run_dir / "final.mp4").exists()  # type: ignore[attr-defined]
    assert not list(cli.cache.glob("*/*/manifest.json"))
