"""Metadata in every output, `renga inspect` and `renga reproduce` through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Cli, ok, tiny_job

from orchestrator.config import ASSETS_DIR
from orchestrator.media.images import load_image
from orchestrator.media.metadata import read_embedded
from orchestrator.media.video import read_frames
from orchestrator.render.stages import portable
from stages.mux import embedded_config

FAST = ("preset=draft", "video.frames=17")


def renga(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), **_env()},
    )


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _manifest(run: dict, node_id: str) -> dict:
    node = next(n for n in run["nodes"] if n["id"] == node_id)
    path = Path(run["store"]) / node["stage"] / node["key"] / "manifest.json"
    return json.loads(path.read_text())


def test_keyframe_png_carries_its_node_params_and_inspect_prints_them(cli: Cli):
    result = ok(cli(*FAST, job=tiny_job()))
    run = cli.run_json(result)
    png = result.run_dir / "keyframes" / "shot_001.png"
    embedded = read_embedded(png)
    manifest = _manifest(run, "keyframe/1")
    assert embedded["node"] == "keyframe/1"
    extra = ("node", "files", "notes")
    assert {k: v for k, v in embedded.items() if k not in extra} == manifest["params"]
    assert embedded["request"]["seed"] == run["shots"][1]["seed"]

    shown = ok(renga("inspect", str(png)))
    assert "node: keyframe/1" in shown.stdout
    assert f"seed: {run['shots'][1]['seed']}" in shown.stdout
    assert json.loads(ok(renga("inspect", str(png), "--json")).stdout) == embedded


def test_video_carries_the_resolved_config_and_inspect_prints_it(cli: Cli):
    job = tiny_job(soundtrack="${asset:music/loop_120bpm.flac}")
    result = ok(cli(*FAST, job=job))
    final = result.run_dir / "final.mp4"
    embedded = read_embedded(final)
    assert embedded == embedded_config(final)
    assert embedded == _manifest(cli.run_json(result), "mux")["params"]["metadata"]
    # Sample assets stay portable: no path of this install is baked into the file.
    assert embedded["job"]["soundtrack"] == "${asset:music/loop_120bpm.flac}"
    assert str(ASSETS_DIR) not in json.dumps(embedded)
    assert "cache_dir" not in embedded and "executor" not in embedded
    shown = ok(renga("inspect", str(final))).stdout
    assert "renga reproduce" in shown.splitlines()[0]
    assert "a red kite over a field" in shown and "video:" in shown


@pytest.mark.slow
def test_reproduce_of_an_unchanged_video_runs_no_node_and_gives_the_same_file(cli: Cli):
    job = tiny_job(soundtrack="${asset:music/loop_120bpm.flac}", transition="continue")
    job["shots"][0]["seconds"] = 1.5
    first = ok(cli(*FAST, "seed=7", "assemble.overlap_frames=2", job=job))
    final = first.run_dir / "final.mp4"
    again = ok(cli(str(final), command="reproduce"))
    run = cli.run_json(again)
    assert {n["status"] for n in run["nodes"]} == {"cached"}
    assert [n["key"] for n in run["nodes"]] == [n["key"] for n in cli.run_json(first)["nodes"]]
    assert (again.run_dir / "final.mp4").read_bytes() == final.read_bytes()
    assert (again.run_dir / "report.html").is_file()
    assert (again.run_dir / ".hydra" / "config.yaml").is_file()


@pytest.mark.slow
def test_reproduce_renders_from_an_empty_store_and_takes_overrides(cli: Cli, tmp_path: Path):
    first = ok(cli(*FAST, job=tiny_job()))
    final = first.run_dir / "final.mp4"
    fresh = ok(cli(str(final), f"cache_dir={tmp_path / 'empty'}", command="reproduce"))
    assert {n["status"] for n in cli.run_json(fresh)["nodes"]} == {"ran"}
    for got, want in zip(read_frames(fresh.run_dir / "final.mp4"), read_frames(final), strict=True):
        assert (got == want).all()
    changed = ok(cli(str(final), "mux=prores", "job.shots.1.prompt=a storm", command="reproduce"))
    ran = {n["id"] for n in cli.run_json(changed)["nodes"] if n["status"] == "ran"}
    assert ran == {"keyframe/1", "segment/1.0", "assemble", "mux"}
    mov = changed.run_dir / "final.mov"
    embedded = read_embedded(mov)
    assert embedded["mux"]["codec"] == "prores_ks"
    assert embedded["job"]["shots"][1]["prompt"] == "a storm"


def test_reproduce_a_stills_run_from_its_contact_sheet(cli: Cli):
    first = ok(cli(*FAST, "mode=stills", job=tiny_job()))
    again = ok(cli(str(first.run_dir / "contact_sheet.png"), command="reproduce"))
    run = cli.run_json(again)
    assert run["mode"] == "stills"
    assert {n["status"] for n in run["nodes"]} == {"cached"}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mp4", "file not found"),
        (lambda d: _write(d / "notes.txt", "hello"), "expected a .png or a video"),
        (lambda d: _plain_png(d / "plain.png"), "no renga metadata"),
    ],
)
def test_inspect_and_reproduce_reject_files_without_metadata(tmp_path: Path, make, message):
    path = make(tmp_path)
    for command in ("inspect", "reproduce"):
        result = renga(command, str(path))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.stderr
        assert message in lines[0]


@pytest.mark.slow
def test_reproduce_a_keyframe_png_from_its_node_params(cli: Cli, tmp_path: Path):
    from PIL import Image

    picture = tmp_path / "mine.png"
    Image.new("RGB", (80, 60), (20, 160, 90)).save(picture)
    job = tiny_job()
    job["shots"][0]["image"] = str(picture)
    first = ok(cli(*FAST, job=job))
    for shot in (0, 1):
        png = first.run_dir / "keyframes" / f"shot_{shot:03d}.png"
        again = ok(cli(str(png), command="reproduce"))
        run = cli.run_json(again)
        assert [(n["id"], n["status"]) for n in run["nodes"]] == [(f"keyframe/{shot}", "cached")]
        assert (again.run_dir / "keyframes" / png.name).read_bytes() == png.read_bytes()
        fresh = ok(cli(str(png), f"cache_dir={tmp_path / f'empty{shot}'}", command="reproduce"))
        assert cli.run_json(fresh)["nodes"][0]["status"] == "ran"
        assert cli.run_json(fresh)["nodes"][0]["key"] == run["nodes"][0]["key"]
        remade = load_image(fresh.run_dir / "keyframes" / png.name)
        assert remade.tobytes() == load_image(png).tobytes()
    bigger = ok(cli(str(png), "keyframes.font_size=20", command="reproduce"))
    assert cli.run_json(bigger)["nodes"][0]["status"] == "ran"


def test_portable_maps_only_asset_paths():
    asset = str(ASSETS_DIR / "music" / "loop_120bpm.flac")
    value = {"a": [asset, "/elsewhere/x.flac"], "b": 3}
    assert portable(value) == {
        "a": ["${asset:music/loop_120bpm.flac}", "/elsewhere/x.flac"],
        "b": 3,
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _plain_png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(path)
    return path
