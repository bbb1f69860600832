"""renga's own command-line face: `--help`, `--version`, each command's `--help`, and one Hydra
composition per run. All through the real CLI."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, tiny_job, write_job

from orchestrator import __version__


def renga(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_help_is_rengas_own_page(tmp_path: Path):
    page = renga("--help").stdout
    assert page.startswith(f"renga {__version__}: one config in, one finished long video out.")
    for command in ("renga plan", "renga inspect FILE", "renga reproduce FILE", "renga store"):
        assert command in page
    # Every group a user picks from, with its options and the composed choice marked.
    assert "  keyframes    draft, images, zit*\n" in page
    assert "  video        draft, ltx2, skyreels_v2_df, wan22_i2v_a14b*, wan22_ti2v_5b\n" in page
    presets = (
        "draft, lightning, low_vram, ltx2_distilled, ltx2_two_stage, quality, skyreels_async, svi"
    )
    assert f"  preset       {presets}\n" in page
    for group in ("job", "audio", "lipsync", "upscale", "interpolate", "mux", "executor"):
        assert f"\n  {group} " in page
    assert "schema_" not in page and "== Config ==" not in page
    assert "preset=draft" in page and "--cfg job" in page and "--hydra-help" in page
    assert "outputs/<date>/<time>/" in page
    assert f"store     {os.environ['RENGA_CACHE_DIR']}\n" in page
    assert "$RENGA_CACHE_DIR" in page
    assert renga("-h").stdout == page
    # Overrides show in the page: the choice they compose, a user's own job, the store.
    jobs = tmp_path / "jobs"
    write_job(jobs, tiny_job(), name="mine")
    page = renga(
        "--config-dir", str(jobs), "job=mine", "preset=draft", f"cache_dir={tmp_path}", "-h"
    ).stdout
    assert "  job          cast_example, example, loop, mine*, music_video\n" in page
    assert "  keyframes    draft*, images, zit\n" in page
    assert f"store     {tmp_path}\n" in page


def test_hydra_help_is_still_there():
    assert "Hydra (" in renga("--hydra-help").stdout


def test_version_names_renga_its_libraries_and_the_device():
    lines = renga("--version").stdout.splitlines()
    assert lines[0] == f"renga {__version__}"
    for name, dist in (("torch", "torch"), ("diffusers", "diffusers"), ("PyAV", "av"),
                       ("Hydra", "hydra-core")):  # fmt: skip
        assert f"{name} {importlib.metadata.version(dist)}" in lines
    assert lines[-1].startswith("device: ")
    device = lines[-1].removeprefix("device: ")
    assert device.split(" ")[0] in ("cpu", "cuda", "mps")


@pytest.mark.parametrize(
    ("command", "first", "mentions"),
    [
        ("plan", "usage: renga plan", ["--json", "cached", "to run", "estimate"]),
        ("inspect", "usage: renga inspect FILE [--json]", ["final.mp4", "keyframe PNG"]),
        ("reproduce", "usage: renga reproduce FILE", ["new run directory", "mux=prores"]),
    ],
)
def test_every_command_has_help(tmp_path: Path, command: str, first: str, mentions: list[str]):
    for flag in ("--help", "-h"):
        result = renga(command, flag, cwd=tmp_path)
        assert result.stdout.startswith(first)
        for text in mentions:
            assert text in result.stdout
        assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []  # help writes nothing, not even outputs/


def test_a_run_composes_the_config_once(tmp_path: Path):
    jobs = tmp_path / "jobs"
    write_job(jobs, tiny_job())
    run_dir = tmp_path / "run"
    script = (
        "import sys\n"
        "from orchestrator import __main__ as cli\n"
        "from orchestrator.cli import compose\n"
        "sys.argv = ['renga', *sys.argv[1:]]\n"
        "try:\n"
        "    cli.main()\n"
        "finally:\n"
        "    print('compositions', compose.count)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "--config-dir", str(jobs), "job=tiny", "preset=draft",
         "mode=stills", f"cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "compositions 1"
    assert (run_dir / "contact_sheet.png").is_file()
    # What Hydra records is what its two compositions recorded.
    hydra = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]
    assert hydra["mode"] == "RUN"
    assert hydra["overrides"]["hydra"][-1] == "hydra.mode=RUN"
    assert hydra["overrides"]["task"] == [
        "job=tiny", "preset=draft", "mode=stills", f"cache_dir={tmp_path / 'cache'}"
    ]  # fmt: skip
    assert hydra["runtime"]["choices"]["keyframes"] == "draft"


def test_a_sweep_still_composes_per_job(tmp_path: Path):
    jobs = tmp_path / "jobs"
    write_job(jobs, tiny_job())
    renga(
        "-m", "--config-dir", str(jobs), "job=tiny", "preset=draft", "mode=stills", "seed=1,2",
        f"cache_dir={tmp_path / 'cache'}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )  # fmt: skip
    sheets = sorted(p.parent.name for p in (tmp_path / "sweep").glob("*/contact_sheet.png"))
    assert sheets == [f"job=tiny,mode=stills,preset=draft,seed={s}" for s in (1, 2)]
