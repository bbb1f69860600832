# ruff: noqa: E501  (a table of cases reads best one per line)
"""Malformed configs as a user who makes mistakes types them, through the real CLI: non-finite
and absurd numbers, degenerate backend settings, and config syntax. Each is one line naming the
key (or file) with exit code 2 and no traceback. `renga plan` fails the same way a render does
and loads nothing, so most cases run it; a few run a render to check the run directory."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from conftest import ROOT, Cli, tiny_job

from orchestrator.schema import RengaConfig, group_schemas
from orchestrator.schema.bounds import RANGE, numeric

# Dozens of CLI runs, each rejected at plan time: the full suite's, not the quick subset's.
pytestmark = pytest.mark.slow


def one_line_error(result: subprocess.CompletedProcess[str], key: str, *expect: str) -> str:
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert key in lines[0], lines[0]
    for text in expect:
        assert text in lines[0], lines[0]
    run_dir = getattr(result, "run_dir", None)
    assert run_dir is None or not (run_dir / "final.mp4").exists()
    return lines[0]


def _shot(**values: object) -> dict:
    job = tiny_job()
    job["shots"][0].update(values)
    return job


# (job, overrides, key, text the line must also hold)
NUMBERS = {
    "seconds_nan": (tiny_job(), ("job.shots.0.seconds=nan",), "job.shots[0].seconds", "finite"),
    "seconds_inf": (tiny_job(), ("job.shots.0.seconds=inf",), "job.shots[0].seconds", "finite"),
    "seconds_nan_in_file": (_shot(seconds=float("nan")), (), "job.shots[0].seconds", "finite"),
    "seconds_1e9": (
        tiny_job(),
        ("job.shots.0.seconds=1e9",),
        "job.shots[0].seconds",
        "at most 3600",
    ),
    "frames_ten_million": (
        _shot(seconds=None, frames=10_000_000),
        (),
        "job.shots[0].frames",
        "at most",
    ),
    "fps_nan": (tiny_job(), ("job.fps=nan",), "job.fps", "finite"),
    "fps_inf_in_file": (tiny_job(fps=float("inf")), (), "job.fps", "finite"),
    "fps_zero": (tiny_job(), ("job.fps=0",), "job.fps", "more than 0"),
    "lufs_nan": (tiny_job(), ("audio.lufs=nan",), "audio.lufs", "finite"),
    "fade_out_minus_inf": (tiny_job(), ("audio.fade_out=-inf",), "audio.fade_out", "finite"),
    "max_seconds_inf": (
        tiny_job(),
        ("job.music.max_seconds=inf",),
        "job.music.max_seconds",
        "finite",
    ),
    "bpm_absurd": (tiny_job(), ("job.music.bpm=100000",), "job.music.bpm", "at most 400"),
    "ray_gpus_nan": (
        tiny_job(),
        ("executor=ray", "executor.gpus_per_worker=nan"),
        "executor.gpus_per_worker",
        "finite",
    ),
    "job_over_four_hours": (
        tiny_job(shots=[{"prompt": "p", "seconds": 3600}] * 5),
        (),
        "job.shots",
        "18000 s in all",
    ),
    "clips_too_many": (
        tiny_job(shots=[{"prompt": "p", "seconds": 3600}] * 3),
        ("video.frames=5",),
        "video.frames",
        "segments",
    ),
    "mag_ratio_inf": (
        tiny_job(),
        ("keyframes=zit", "keyframes.mag_ratios=[1.0,inf]"),
        "keyframes.mag_ratios[1]",
        "finite",
    ),
}

DEGENERATE = {
    "size_multiple_zero": ("video.size_multiple=0", "video.size_multiple"),
    "zoom_negative": ("video.zoom=-5", "video.zoom"),
    "font_size_huge": ("keyframes.font_size=100000", "keyframes.font_size"),
    "shot_seed_negative": ("job.shots.0.seed=-1", "job.shots[0].seed"),
    "global_seed_negative": ("seed=-5", "seed"),
    "width_huge": ("job.width=100000", "job.width"),
    "height_zero": ("job.height=0", "job.height"),
    "video_fps_zero": ("video.fps=0", "video.fps"),
    "clip_frames_huge": ("video.frames=100001", "video.frames"),
    "colour_strength_two": ("assemble.color_strength=2", "assemble.color_strength"),
    "contact_sheet_no_columns": ("contact_sheet.columns=0", "contact_sheet.columns"),
    "crf_negative": ("mux.crf=-1", "mux.crf"),
    "pick_negative": ("job.shots.0.pick=-1", "job.shots[0].pick"),
}

SYNTAX = {
    "shots_mapping_override": ("job.shots={a:1}", "job.shots", ""),
    "unknown_job_key": ("+job.sots=3", "job.sots", "did you mean shots?"),
    "unknown_shot_key": ("+job.shots.0.foo=1", "job.shots[0].foo", "valid keys: prompt"),
    "unknown_video_key": ("+video.zom=1", "video.zom", "did you mean zoom?"),
    "unknown_music_key": ("+job.music.cut.evry=2", "job.music.cut.evry", "did you mean every?"),
    "preset_typo": ("preset=drafft", "preset", "did you mean draft?"),
    "video_option_typo": ("video=wan22", "video", "wan22_i2v_a14b, wan22_ti2v_5b"),
}

FILES = {
    "duplicate_key": ("name: a\nwidth: 64\nheight: 48\nwidth: 32\nshots:\n  - {prompt: x, seconds: 1}\n", "raw.yaml", "line 4, column 1: found duplicate key width"),
    "tab": ("name: a\nshots:\n\t- {prompt: x, seconds: 1}\n", "raw.yaml", "found character '\\t' that cannot start any token"),
    "unclosed_bracket": ("name: a\nshots: [\n  - prompt: x\n", "raw.yaml", "expected the node content"),
    "shots_mapping": ("name: a\nshots:\n  first: {prompt: x, seconds: 1}\n", "job.shots", "a mapping in"),
    "music_list": ("name: a\nmusic: [1]\nshots:\n  - {prompt: x, seconds: 1}\n", "job.music", "must be a mapping"),
    "unknown_key_in_shot": ("name: a\nshots:\n  - {prompt: x, secnds: 1}\n", "job.shots[0].secnds", "did you mean seconds?"),
    "unknown_key_in_music": ("name: a\nmusic: {enabeld: true}\nshots:\n  - {prompt: x, seconds: 1}\n", "job.music.enabeld", "did you mean enabled?"),
    "wrong_type_in_shot": ("name: a\nshots:\n  - {prompt: x, seconds: long}\n", "job.shots[0].seconds", "could not be converted to Float"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(NUMBERS))
def test_non_finite_and_absurd_numbers(cli: Cli, case: str):
    job, overrides, key, text = NUMBERS[case]
    one_line_error(cli("preset=draft", *overrides, job=job, command="plan"), key, text)


@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_degenerate_backend_settings(cli: Cli, case: str):
    override, key = DEGENERATE[case]
    one_line_error(cli("preset=draft", override, job=tiny_job(), command="plan"), key, "must be")


@pytest.mark.parametrize("case", sorted(SYNTAX))
def test_config_syntax_on_the_command_line(cli: Cli, case: str):
    override, key, text = SYNTAX[case]
    one_line_error(cli("preset=draft", override, job=tiny_job(), command="plan"), key, text)


@pytest.mark.parametrize("case", sorted(FILES))
def test_config_syntax_in_a_job_file(tmp_path: Path, case: str):
    text, key, expect = FILES[case]
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "raw.yaml").write_text(text)
    argv = [sys.executable, "-m", "orchestrator", "plan", "--config-dir", str(tmp_path),
            "job=raw", "preset=draft", f"cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    result = subprocess.run(argv, cwd=ROOT, env=os.environ, capture_output=True, text=True)
    one_line_error(result, key, expect)


def test_a_render_rejected_at_plan_time_leaves_only_the_log_that_explains_it(
    cli: Cli, tmp_path: Path
):
    """Hydra made outputs/<date>/<time>/ and .hydra/ before renga ran; a rejected run keeps
    nothing but renga.log, which says why it was rejected."""
    outputs = tmp_path / "outputs"
    for n, override in enumerate(("job.shots.0.seconds=nan", "+job.sots=3", "video.zoom=-5")):
        run_dir = outputs / "2030-01-01" / f"00-00-0{n}"
        result = cli("preset=draft", override, job=tiny_job(), run_dir=run_dir)
        one_line_error(result, "")
        assert [p for p in run_dir.rglob("*")] == [run_dir / "renga.log"]
        assert result.stderr.strip() in (run_dir / "renga.log").read_text()


def test_every_number_in_every_config_group_has_a_documented_range():
    """The schema-level check covers a key only if its field declares a range."""
    schemas = {RengaConfig, *(s for group in group_schemas().values() for s in group.values())}
    seen: set[type] = set()
    missing = []
    while schemas:
        schema = schemas.pop()
        seen.add(schema)
        hints = typing.get_type_hints(schema)
        for spec in dataclasses.fields(schema):
            hint = hints[spec.name]
            if numeric(hint) and RANGE not in spec.metadata:
                missing.append(f"{schema.__name__}.{spec.name}")
            for inner in (hint, *typing.get_args(hint)):
                if dataclasses.is_dataclass(inner) and inner not in seen:
                    schemas.add(inner)  # type: ignore[arg-type]
    assert len(seen) > 20
    assert not missing, missing
